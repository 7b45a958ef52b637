// Package nets builds common networks from newtonia's ops, so that
// examples, tests and tools share one definition. Nothing in graph or hvp
// depends on it: any graph of ops with rules works.
package nets

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Layer is one fully connected layer: h_k = Act(h_{k-1} W_k [+ 1 b_k]),
// W_k of shape (fan-in × Out), b_k a 1 × Out row when Bias is set.
type Layer struct {
	Out  int
	Act  ops.ScalarFunc
	Bias bool
}

// The losses an MLP can end with, and its reductions, by their file names.
const (
	HalfSquaredError    = "half_squared_error"    // ½‖h_L − y‖²
	SoftmaxCrossEntropy = "softmax_cross_entropy" // −Σ y ⊙ log softmax(h_L), rows of y one-hot or probabilities
	SigmoidCrossEntropy = "sigmoid_cross_entropy" // Σ softplus(h_L) − y ⊙ h_L, y in [0, 1]
	ReductionSum        = "sum"                   // the loss summed over the samples (the default)
	ReductionMean       = "mean"                  // the loss averaged over the samples
)

const lossNames = HalfSquaredError + ", " + SoftmaxCrossEntropy + " or " + SigmoidCrossEntropy

// Spec describes an MLP: its batch, input width, layers, loss and
// reduction (empty: half squared error, summed).
type Spec struct {
	Batch, In int
	Layers    []Layer
	Loss      string
	Reduction string
}

// MLP is a multilayer perceptron, rows being samples (method.md §1).
type MLP struct {
	Spec
	Graph   *G.ExprGraph
	X, Y    *G.Node   // inputs: batch × n_0, batch × n_L
	Weights []*G.Node // W_1 … W_L
	Biases  []*G.Node // b_1 … b_L, nil for a layer without
	Acts    []ops.ScalarFunc
	Out     *G.Node // h_L
	Loss    *G.Node
}

// NewMLP builds the net with the half squared-error loss
// J = ½‖h_L − Y‖² in a new graph.
func NewMLP(batch, in int, layers []Layer) (*MLP, error) {
	return Build(Spec{Batch: batch, In: in, Layers: layers})
}

// Build builds the net of spec in a new graph. Every input is named (x,
// y, W1, b1, …) so that Gorgonia's hash-consing cannot merge them.
func Build(spec Spec) (*MLP, error) {
	if spec.Batch < 1 || spec.In < 1 || len(spec.Layers) == 0 {
		return nil, fmt.Errorf("nets: batch %d, input width %d, %d layers: want all ≥ 1", spec.Batch, spec.In, len(spec.Layers))
	}
	if spec.Loss == "" {
		spec.Loss = HalfSquaredError
	}
	if spec.Reduction == "" {
		spec.Reduction = ReductionSum
	}
	g := G.NewGraph()
	m := &MLP{Spec: spec, Graph: g}
	m.X = G.NewMatrix(g, tensor.Float64, G.WithShape(spec.Batch, spec.In), G.WithName("x"))
	h, width := m.X, spec.In
	var err error
	for k, l := range spec.Layers {
		if l.Out < 1 || l.Act == nil {
			return nil, fmt.Errorf("nets: layer %d: width %d, activation %v", k+1, l.Out, l.Act)
		}
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(width, l.Out), G.WithName(fmt.Sprintf("W%d", k+1)))
		m.Weights = append(m.Weights, w)
		m.Acts = append(m.Acts, l.Act)
		if h, err = ops.MatMul(h, w); err != nil {
			return nil, err
		}
		var b *G.Node
		if l.Bias {
			b = G.NewMatrix(g, tensor.Float64, G.WithShape(1, l.Out), G.WithName(fmt.Sprintf("b%d", k+1)))
			if h, err = ops.BiasAdd(h, b); err != nil {
				return nil, err
			}
		}
		m.Biases = append(m.Biases, b)
		if h, err = ops.Map(l.Act, h); err != nil {
			return nil, err
		}
		width = l.Out
	}
	m.Out = h
	m.Y = G.NewMatrix(g, tensor.Float64, G.WithShape(spec.Batch, width), G.WithName("y"))
	switch spec.Loss {
	case HalfSquaredError:
		m.Loss, err = ops.HalfSSE(m.Out, m.Y)
	case SoftmaxCrossEntropy:
		m.Loss, err = ops.SoftmaxCE(m.Out, m.Y)
	case SigmoidCrossEntropy:
		m.Loss, err = ops.SigmoidBCE(m.Out, m.Y)
	default:
		return nil, fmt.Errorf("nets: unknown loss %q (want %s)", spec.Loss, lossNames)
	}
	if err != nil {
		return nil, err
	}
	switch spec.Reduction {
	case ReductionSum:
	case ReductionMean:
		if m.Loss, err = ops.Scale(1/float64(spec.Batch), m.Loss); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("nets: unknown reduction %q (want sum or mean)", spec.Reduction)
	}
	return m, nil
}

// Params returns the trainable inputs in order: W1, b1 (if any), W2, …
// (what hvp.New takes; it pairs each weight with its bias as one block).
func (m *MLP) Params() []*G.Node {
	var out []*G.Node
	for k, w := range m.Weights {
		out = append(out, w)
		if m.Biases[k] != nil {
			out = append(out, m.Biases[k])
		}
	}
	return out
}

// Set binds x, y and the parameters in the order of Params (not copied).
func (m *MLP) Set(x, y *tensor.Dense, params []*tensor.Dense) error {
	ps := m.Params()
	if len(params) != len(ps) {
		return fmt.Errorf("nets: %d matrices for %d parameters", len(params), len(ps))
	}
	if err := G.Let(m.X, x); err != nil {
		return fmt.Errorf("nets: x: %w", err)
	}
	if err := G.Let(m.Y, y); err != nil {
		return fmt.Errorf("nets: y: %w", err)
	}
	for k, p := range params {
		if err := G.Let(ps[k], p); err != nil {
			return fmt.Errorf("nets: %s: %w", ps[k].Name(), err)
		}
	}
	return nil
}

// Randn returns an r×c matrix of standard normal draws plus diag·I on the
// leading diagonal.
func Randn(rng *rand.Rand, r, c int, diag float64) *tensor.Dense {
	data := make([]float64, r*c)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	for i := 0; i < min(r, c); i++ {
		data[i*c+i] += diag
	}
	return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(data))
}

// Randomize draws x ~ N(0, 1), W_k ~ scale·N(0, 1) + diag·I, b_k ~
// 0.1·N(0, 1), and targets fitting the loss: y ~ N(0, 1) for squared
// error, rows of probabilities (a softmax of N(0, 1) draws) for softmax
// cross-entropy, uniform in (0, 1) for sigmoid cross-entropy; and binds
// them.
func (m *MLP) Randomize(rng *rand.Rand, scale, diag float64) error {
	xs, ys := m.X.Shape(), m.Y.Shape()
	var params []*tensor.Dense
	for k, w := range m.Weights {
		s := w.Shape()
		t := Randn(rng, s[0], s[1], 0)
		d := t.Float64s()
		for i := range d {
			d[i] *= scale
		}
		for i := 0; i < min(s[0], s[1]); i++ {
			d[i*s[1]+i] += diag
		}
		params = append(params, t)
		if m.Biases[k] != nil {
			b := Randn(rng, 1, s[1], 0)
			for i := range b.Float64s() {
				b.Float64s()[i] *= 0.1
			}
			params = append(params, b)
		}
	}
	x := Randn(rng, xs[0], xs[1], 0)
	y := Randn(rng, ys[0], ys[1], 0)
	switch m.Spec.Loss {
	case SoftmaxCrossEntropy:
		d := y.Float64s()
		for i := 0; i < ys[0]; i++ {
			row := d[i*ys[1] : (i+1)*ys[1]]
			var sum float64
			for j := range row {
				row[j] = math.Exp(row[j])
				sum += row[j]
			}
			for j := range row {
				row[j] /= sum
			}
		}
	case SigmoidCrossEntropy:
		for i := range y.Float64s() {
			y.Float64s()[i] = rng.Float64()
		}
	}
	return m.Set(x, y, params)
}
