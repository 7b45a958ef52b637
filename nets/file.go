package nets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// File is the JSON description of an MLP whose arrays are .npy files
// (float64, 2-D, C order), paths relative to the JSON file:
//
//	{
//	  "x": "x.npy",                         batch × n0
//	  "y": "y.npy",                         batch × nL
//	  "layers": [
//	    {"weights": "W1.npy", "bias": "b1.npy", "activation": "tanh"},
//	    {"weights": "W2.npy", "activation": "leaky_relu", "slope": 0.5},
//	    {"weights": "W3.npy", "bias": "b3.npy", "activation": "identity"}
//	  ],
//	  "loss": "softmax_cross_entropy",
//	  "reduction": "mean",                  optional: "sum" (the default) or "mean"
//	  "directions": ["v1.npy", "v2.npy", "v3.npy"],   optional, one per layer
//	  "bias_directions": ["c1.npy", "c3.npy"]         with directions: one per biased layer
//	}
//
// A bias is a 1 × n_l row. Activations: "leaky_relu" (with "slope"),
// "relu", "identity", "tanh", "sigmoid", "softplus". Losses:
// "half_squared_error" (½‖h_L − y‖²), "softmax_cross_entropy" (rows of y
// one-hot or probabilities), "sigmoid_cross_entropy" (y in [0, 1]).
type File struct {
	X              string      `json:"x"`
	Y              string      `json:"y"`
	Layers         []LayerFile `json:"layers"`
	Loss           string      `json:"loss"`
	Reduction      string      `json:"reduction,omitempty"`
	Directions     []string    `json:"directions,omitempty"`
	BiasDirections []string    `json:"bias_directions,omitempty"`
}

// LayerFile is one layer of a File.
type LayerFile struct {
	Weights    string   `json:"weights"`
	Bias       string   `json:"bias,omitempty"`
	Activation string   `json:"activation"`
	Slope      *float64 `json:"slope,omitempty"`
}

// Loaded is a net read from a File: the MLP with its values bound, and the
// directions in the order of MLP.Params (nil when the file gives none).
type Loaded struct {
	*MLP
	Directions []*Named
}

// Named is a matrix with the file it came from.
type Named struct {
	Path string
	*tensor.Dense
}

func activation(l LayerFile) (ops.ScalarFunc, error) {
	if l.Slope != nil && l.Activation != "leaky_relu" {
		return nil, fmt.Errorf(`"slope" is given for activation %q, which has none (only "leaky_relu" does)`, l.Activation)
	}
	switch l.Activation {
	case "leaky_relu":
		if l.Slope == nil {
			return nil, errors.New(`activation "leaky_relu" needs a "slope"`)
		}
		if s := *l.Slope; math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
			return nil, fmt.Errorf("slope %v, want a finite slope ≥ 0", s)
		}
		return ops.LeakyReLUFunc{Alpha: *l.Slope}, nil
	case "relu":
		return ops.ReLUFunc{}, nil
	case "identity":
		return ops.IdentityFunc{}, nil
	case "tanh":
		return ops.TanhFunc{}, nil
	case "sigmoid":
		return ops.SigmoidFunc{}, nil
	case "softplus":
		return ops.SoftplusFunc{}, nil
	}
	return nil, fmt.Errorf("unknown activation %q (want leaky_relu, relu, identity, tanh, sigmoid or softplus)", l.Activation)
}

func activationName(f ops.ScalarFunc) (LayerFile, error) {
	switch f := f.(type) {
	case ops.LeakyReLUFunc:
		s := f.Alpha
		return LayerFile{Activation: "leaky_relu", Slope: &s}, nil
	case ops.ReLUFunc:
		return LayerFile{Activation: "relu"}, nil
	case ops.IdentityFunc:
		return LayerFile{Activation: "identity"}, nil
	case ops.TanhFunc:
		return LayerFile{Activation: "tanh"}, nil
	case ops.SigmoidFunc:
		return LayerFile{Activation: "sigmoid"}, nil
	case ops.SoftplusFunc:
		return LayerFile{Activation: "softplus"}, nil
	}
	return LayerFile{}, fmt.Errorf("activation %v has no file name", f)
}

// Load reads a net description and its arrays, checks that the shapes
// chain and the values are finite, and builds the MLP with the values
// bound. Every error names the file (and layer) at fault.
func Load(path string) (*Loaded, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the net's JSON object (one object per file)", path)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the net's JSON object (one object per file)", path)
	}
	switch f.Loss {
	case HalfSquaredError, SoftmaxCrossEntropy, SigmoidCrossEntropy:
	default:
		return nil, fmt.Errorf("%s: unknown loss %q (want %s)", path, f.Loss, lossNames)
	}
	switch f.Reduction {
	case "", ReductionSum, ReductionMean:
	default:
		return nil, fmt.Errorf("%s: unknown reduction %q (want sum or mean)", path, f.Reduction)
	}
	if len(f.Layers) == 0 {
		return nil, fmt.Errorf("%s: no layers", path)
	}
	biased := 0
	for _, l := range f.Layers {
		if l.Bias != "" {
			biased++
		}
	}
	if f.Directions != nil && len(f.Directions) != len(f.Layers) {
		return nil, fmt.Errorf("%s: %d directions for %d layers", path, len(f.Directions), len(f.Layers))
	}
	if f.Directions != nil && len(f.BiasDirections) != biased {
		return nil, fmt.Errorf("%s: %d bias_directions for %d layers with a bias", path, len(f.BiasDirections), biased)
	}
	if f.Directions == nil && f.BiasDirections != nil {
		return nil, fmt.Errorf("%s: bias_directions without directions", path)
	}
	dir := filepath.Dir(path)
	read := func(name, what string) (*Named, error) {
		if name == "" {
			return nil, fmt.Errorf("%s: no file given for %s", path, what)
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		t, err := ReadNpy(p)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", what, path, err)
		}
		for i, x := range t.Float64s() {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				s := t.Shape()
				return nil, fmt.Errorf("%s: %s: element [%d, %d] is %v", p, what, i/s[1], i%s[1], x)
			}
		}
		return &Named{Path: p, Dense: t}, nil
	}
	x, err := read(f.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := read(f.Y, "y")
	if err != nil {
		return nil, err
	}
	batch, width := x.Shape()[0], x.Shape()[1]
	spec := Spec{Batch: batch, In: width, Loss: f.Loss, Reduction: f.Reduction}
	var params []*tensor.Dense
	var shapes [][]int // of the parameters, for the directions
	for k, l := range f.Layers {
		what := fmt.Sprintf("layer %d weights", k+1)
		w, err := read(l.Weights, what)
		if err != nil {
			return nil, err
		}
		if s := w.Shape(); s[0] != width {
			return nil, fmt.Errorf("%s: %s have shape %v, but the layer's input has width %d: shapes do not chain", w.Path, what, s, width)
		}
		act, err := activation(l)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", path, k+1, err)
		}
		width = w.Shape()[1]
		spec.Layers = append(spec.Layers, Layer{Out: width, Act: act, Bias: l.Bias != ""})
		params, shapes = append(params, w.Dense), append(shapes, w.Shape())
		if l.Bias != "" {
			b, err := read(l.Bias, fmt.Sprintf("layer %d bias", k+1))
			if err != nil {
				return nil, err
			}
			if s := b.Shape(); s[0] != 1 || s[1] != width {
				return nil, fmt.Errorf("%s: layer %d bias has shape %v, want (1, %d)", b.Path, k+1, s, width)
			}
			params, shapes = append(params, b.Dense), append(shapes, b.Shape())
		}
	}
	if s := y.Shape(); s[0] != batch || s[1] != width {
		return nil, fmt.Errorf("%s: y has shape %v, want (%d, %d) (batch of x, width of the last layer)", y.Path, s, batch, width)
	}
	m, err := Build(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.Set(x.Dense, y.Dense, params); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := &Loaded{MLP: m}
	if f.Directions == nil {
		return out, nil
	}
	bi := 0
	for k, l := range f.Layers {
		names := []string{f.Directions[k]}
		whats := []string{fmt.Sprintf("direction %d", k+1)}
		if l.Bias != "" {
			names = append(names, f.BiasDirections[bi])
			whats = append(whats, fmt.Sprintf("bias direction %d", bi+1))
			bi++
		}
		for i, name := range names {
			v, err := read(name, whats[i])
			if err != nil {
				return nil, err
			}
			want := shapes[len(out.Directions)]
			if !v.Shape().Eq(want) {
				return nil, fmt.Errorf("%s: %s has shape %v, want %v (layer %d's parameter)", v.Path, whats[i], v.Shape(), want, k+1)
			}
			out.Directions = append(out.Directions, v)
		}
	}
	return out, nil
}

// Save writes m's current values (and directions, if any, in the order
// of m.Params) as .npy files and a net.json describing them into dir, which
// it creates. It refuses to replace existing files unless force is set.
// It returns net.json's path.
func Save(dir string, m *MLP, dirs []*tensor.Dense, force bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f := File{X: "x.npy", Y: "y.npy", Loss: m.Spec.Loss}
	if m.Spec.Reduction != ReductionSum {
		f.Reduction = m.Spec.Reduction
	}
	files := map[string]*tensor.Dense{}
	x, ok1 := m.X.Value().(*tensor.Dense)
	y, ok2 := m.Y.Value().(*tensor.Dense)
	if !ok1 || !ok2 {
		return "", errors.New("nets: x or y has no value")
	}
	files["x.npy"], files["y.npy"] = x, y
	value := func(n *G.Node) (*tensor.Dense, error) {
		t, ok := n.Value().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("nets: %s has no value", n.Name())
		}
		return t, nil
	}
	for k, w := range m.Weights {
		l, err := activationName(m.Acts[k])
		if err != nil {
			return "", err
		}
		l.Weights = fmt.Sprintf("W%d.npy", k+1)
		if files[l.Weights], err = value(w); err != nil {
			return "", err
		}
		if b := m.Biases[k]; b != nil {
			l.Bias = fmt.Sprintf("b%d.npy", k+1)
			if files[l.Bias], err = value(b); err != nil {
				return "", err
			}
		}
		f.Layers = append(f.Layers, l)
	}
	if dirs != nil {
		if len(dirs) != len(m.Params()) {
			return "", fmt.Errorf("nets: %d directions for %d parameters", len(dirs), len(m.Params()))
		}
		i := 0
		for k := range m.Weights {
			name := fmt.Sprintf("v%d.npy", k+1)
			f.Directions = append(f.Directions, name)
			files[name] = dirs[i]
			i++
			if m.Biases[k] != nil {
				name := fmt.Sprintf("c%d.npy", k+1)
				f.BiasDirections = append(f.BiasDirections, name)
				files[name] = dirs[i]
				i++
			}
		}
	}
	if !force { // check everything first: write nothing if anything exists
		for name := range files {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return "", fmt.Errorf("%s exists (use --force to replace it)", filepath.Join(dir, name))
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "net.json")); err == nil {
			return "", fmt.Errorf("%s exists (use --force to replace it)", filepath.Join(dir, "net.json"))
		}
	}
	for name, t := range files {
		if err := WriteNpy(filepath.Join(dir, name), t, force); err != nil {
			return "", err
		}
	}
	js, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "net.json")
	return path, WriteFile(path, append(js, '\n'), force)
}
