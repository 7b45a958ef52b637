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
	"gorgonia.org/tensor"
)

// File is the JSON description of an MLP whose arrays are .npy files
// (float64, 2-D, C order), paths relative to the JSON file:
//
//	{
//	  "x": "x.npy",                         batch × n0
//	  "y": "y.npy",                         batch × nL
//	  "layers": [
//	    {"weights": "W1.npy", "activation": "leaky_relu", "slope": 0.5},
//	    {"weights": "W2.npy", "activation": "identity"}
//	  ],
//	  "loss": "half_squared_error",
//	  "directions": ["v1.npy", "v2.npy"]    optional, one per layer
//	}
//
// Activations: "leaky_relu" (with "slope"), "relu", "identity", "tanh".
// Losses: "half_squared_error" (½‖h_L − y‖²).
type File struct {
	X          string      `json:"x"`
	Y          string      `json:"y"`
	Layers     []LayerFile `json:"layers"`
	Loss       string      `json:"loss"`
	Directions []string    `json:"directions,omitempty"`
}

// LayerFile is one layer of a File.
type LayerFile struct {
	Weights    string   `json:"weights"`
	Activation string   `json:"activation"`
	Slope      *float64 `json:"slope,omitempty"`
}

// Loaded is a net read from a File: the MLP with its values bound, and the
// directions (nil when the file gives none).
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
	}
	return nil, fmt.Errorf("unknown activation %q (want leaky_relu, relu, identity or tanh)", l.Activation)
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
	if f.Loss != "half_squared_error" {
		return nil, fmt.Errorf("%s: unknown loss %q (want half_squared_error)", path, f.Loss)
	}
	if len(f.Layers) == 0 {
		return nil, fmt.Errorf("%s: no layers", path)
	}
	if f.Directions != nil && len(f.Directions) != len(f.Layers) {
		return nil, fmt.Errorf("%s: %d directions for %d layers", path, len(f.Directions), len(f.Layers))
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
	var layers []Layer
	var ws []*tensor.Dense
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
		layers = append(layers, Layer{Out: width, Act: act})
		ws = append(ws, w.Dense)
	}
	if s := y.Shape(); s[0] != batch || s[1] != width {
		return nil, fmt.Errorf("%s: y has shape %v, want (%d, %d) (batch of x, width of the last layer)", y.Path, s, batch, width)
	}
	m, err := NewMLP(batch, x.Shape()[1], layers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.Set(x.Dense, y.Dense, ws); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := &Loaded{MLP: m}
	for k, name := range f.Directions {
		v, err := read(name, fmt.Sprintf("direction %d", k+1))
		if err != nil {
			return nil, err
		}
		if !v.Shape().Eq(ws[k].Shape()) {
			return nil, fmt.Errorf("%s: direction %d has shape %v, want %v (layer %d's weights)", v.Path, k+1, v.Shape(), ws[k].Shape(), k+1)
		}
		out.Directions = append(out.Directions, v)
	}
	return out, nil
}

// Save writes m's current values (and directions, if any) as .npy files
// and a net.json describing them into dir, which it creates. It refuses to
// replace existing files unless force is set. It returns net.json's path.
func Save(dir string, m *MLP, dirs []*tensor.Dense, force bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f := File{X: "x.npy", Y: "y.npy", Loss: "half_squared_error"}
	files := map[string]*tensor.Dense{}
	x, ok1 := m.X.Value().(*tensor.Dense)
	y, ok2 := m.Y.Value().(*tensor.Dense)
	if !ok1 || !ok2 {
		return "", errors.New("nets: x or y has no value")
	}
	files["x.npy"], files["y.npy"] = x, y
	for k, w := range m.Weights {
		l, err := activationName(m.Acts[k])
		if err != nil {
			return "", err
		}
		t, ok := w.Value().(*tensor.Dense)
		if !ok {
			return "", fmt.Errorf("nets: %s has no value", w.Name())
		}
		l.Weights = fmt.Sprintf("W%d.npy", k+1)
		files[l.Weights] = t
		f.Layers = append(f.Layers, l)
	}
	for k, d := range dirs {
		name := fmt.Sprintf("v%d.npy", k+1)
		f.Directions = append(f.Directions, name)
		files[name] = d
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
