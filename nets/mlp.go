// Package nets builds common networks from newtonia's ops, so that
// examples, tests and tools share one definition. Nothing in graph or hvp
// depends on it: any graph of ops with rules works.
package nets

import (
	"fmt"
	"math/rand/v2"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Layer is one fully connected layer without bias: h_k = Act(h_{k-1} W_k),
// W_k of shape (fan-in × Out).
type Layer struct {
	Out int
	Act ops.ScalarFunc
}

// MLP is a multilayer perceptron with the half squared-error loss
// J = ½‖h_L − Y‖², rows being samples (method.md §1).
type MLP struct {
	Graph   *G.ExprGraph
	X, Y    *G.Node   // inputs: batch × n_0, batch × n_L
	Weights []*G.Node // W_1 … W_L
	Acts    []ops.ScalarFunc
	Out     *G.Node // h_L
	Loss    *G.Node
}

// NewMLP builds the net in a new graph. Every input is named (x, y, W1, …)
// so that Gorgonia's hash-consing cannot merge them.
func NewMLP(batch, in int, layers []Layer) (*MLP, error) {
	if batch < 1 || in < 1 || len(layers) == 0 {
		return nil, fmt.Errorf("nets: batch %d, input width %d, %d layers: want all ≥ 1", batch, in, len(layers))
	}
	g := G.NewGraph()
	m := &MLP{Graph: g}
	m.X = G.NewMatrix(g, tensor.Float64, G.WithShape(batch, in), G.WithName("x"))
	h, width := m.X, in
	var err error
	for k, l := range layers {
		if l.Out < 1 || l.Act == nil {
			return nil, fmt.Errorf("nets: layer %d: width %d, activation %v", k+1, l.Out, l.Act)
		}
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(width, l.Out), G.WithName(fmt.Sprintf("W%d", k+1)))
		m.Weights = append(m.Weights, w)
		m.Acts = append(m.Acts, l.Act)
		if h, err = ops.MatMul(h, w); err != nil {
			return nil, err
		}
		if h, err = ops.Map(l.Act, h); err != nil {
			return nil, err
		}
		width = l.Out
	}
	m.Out = h
	m.Y = G.NewMatrix(g, tensor.Float64, G.WithShape(batch, width), G.WithName("y"))
	if m.Loss, err = ops.HalfSSE(m.Out, m.Y); err != nil {
		return nil, err
	}
	return m, nil
}

// Set binds x, y and the weights (not copied).
func (m *MLP) Set(x, y *tensor.Dense, ws []*tensor.Dense) error {
	if len(ws) != len(m.Weights) {
		return fmt.Errorf("nets: %d weight matrices for %d layers", len(ws), len(m.Weights))
	}
	if err := G.Let(m.X, x); err != nil {
		return fmt.Errorf("nets: x: %w", err)
	}
	if err := G.Let(m.Y, y); err != nil {
		return fmt.Errorf("nets: y: %w", err)
	}
	for k, w := range ws {
		if err := G.Let(m.Weights[k], w); err != nil {
			return fmt.Errorf("nets: W%d: %w", k+1, err)
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

// Randomize draws x, y ~ N(0, 1) and W_k ~ scale·N(0, 1) + diag·I, and
// binds them.
func (m *MLP) Randomize(rng *rand.Rand, scale, diag float64) error {
	xs, ys := m.X.Shape(), m.Y.Shape()
	ws := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		s := w.Shape()
		ws[k] = Randn(rng, s[0], s[1], 0)
		d := ws[k].Float64s()
		for i := range d {
			d[i] *= scale
		}
		for i := 0; i < min(s[0], s[1]); i++ {
			d[i*s[1]+i] += diag
		}
	}
	return m.Set(Randn(rng, xs[0], xs[1], 0), Randn(rng, ys[0], ys[1], 0), ws)
}
