package main

import (
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/internal/mnistdata"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// model is the convnet, written as a Gorgonia user writes one (the
// constructs of Gorgonia's examples/convnet, not its code): images
// (B, 1, 28, 28) → G.Conv2d(3×3, pad 1) to c1 channels → G.Rectify →
// G.MaxPool2D(2×2, stride 2) → 14×14 → G.Conv2d(3×3, pad 1) to c2
// channels → G.Rectify → G.MaxPool2D(2×2, stride 2) → 7×7 → G.Reshape to
// (B, 49·c2) → G.Mul by the dense (49·c2) × 10 matrix W → logits →
// G.SoftMax → the mean cross-entropy −mean_i Σ_j y_ij log p_ij, with
// G.Dropout(drop) after each max-pool as in Gorgonia's example (drop = 0
// leaves it out: the evaluation model). newtonia holds the dropout masks at
// one draw for every product of a step (Martens' fixed masks) and the
// training loop redraws them before each step (Problem.Redraw). No biases
// (Gorgonia's example has none).
type model struct {
	g             *G.ExprGraph
	x, y          *G.Node
	k1, k2, w     *G.Node
	logits, loss  *G.Node
	batch, c1, c2 int
	params        []*G.Node // k1, k2, W
}

func buildModel(batch, c1, c2 int, drop float64) *model {
	g := G.NewGraph()
	m := &model{g: g, batch: batch, c1: c1, c2: c2}
	m.x = G.NewTensor(g, tensor.Float64, 4, G.WithShape(batch, 1, mnistdata.Side, mnistdata.Side), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(batch, 1, mnistdata.Side, mnistdata.Side), tensor.Of(tensor.Float64))))
	m.y = G.NewMatrix(g, tensor.Float64, G.WithShape(batch, mnistdata.Classes), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(batch, mnistdata.Classes), tensor.Of(tensor.Float64))))
	m.k1 = G.NewTensor(g, tensor.Float64, 4, G.WithShape(c1, 1, 3, 3), G.WithName("k1"), G.WithInit(G.Zeroes()))
	m.k2 = G.NewTensor(g, tensor.Float64, 4, G.WithShape(c2, c1, 3, 3), G.WithName("k2"), G.WithInit(G.Zeroes()))
	m.w = G.NewMatrix(g, tensor.Float64, G.WithShape(49*c2, mnistdata.Classes), G.WithName("W"), G.WithInit(G.Zeroes()))
	m.params = []*G.Node{m.k1, m.k2, m.w}
	layer := func(in, k *G.Node) *G.Node {
		c := G.Must(G.Conv2d(in, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
		pooled := G.Must(G.MaxPool2D(G.Must(G.Rectify(c)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
		if drop > 0 {
			pooled = G.Must(G.Dropout(pooled, drop))
		}
		return pooled
	}
	h := layer(layer(m.x, m.k1), m.k2)
	m.logits = G.Must(G.Mul(G.Must(G.Reshape(h, tensor.Shape{batch, 49 * c2})), m.w))
	logp := G.Must(G.Log(G.Must(G.SoftMax(m.logits))))
	m.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(m.y, logp)), 1))))))
	return m
}

// initialWeights draws seed's weights: He, N(0, 2/fan-in), for the two
// kernels (fan-in: channels × 3 × 3) and the dense matrix.
func initialWeights(seed uint64, c1, c2 int) []*tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 0x636e6e))
	draw := func(fanIn int, shape ...int) *tensor.Dense {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = math.Sqrt(2/float64(fanIn)) * rng.NormFloat64()
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
	}
	return []*tensor.Dense{draw(9, c1, 1, 3, 3), draw(9*c1, c2, c1, 3, 3), draw(49*c2, 49*c2, mnistdata.Classes)}
}

// setWeights binds ws to m's weights (copies).
func (m *model) setWeights(ws []*tensor.Dense) error {
	for i, n := range m.params {
		if err := G.Let(n, ws[i].Clone().(*tensor.Dense)); err != nil {
			return err
		}
	}
	return nil
}

// weights returns the current values of m's weights.
func (m *model) weights() []*tensor.Dense {
	out := make([]*tensor.Dense, len(m.params))
	for i, n := range m.params {
		out[i] = n.Value().(*tensor.Dense)
	}
	return out
}

// evaluator runs the model forward on evaluation batches by Gorgonia's own
// TapeMachine: the accuracy and loss reported are Gorgonia's arithmetic on
// the trained weights, not newtonia's.
type evaluator struct {
	m  *model
	vm G.VM
}

func newEvaluator(batch, c1, c2 int) *evaluator {
	m := buildModel(batch, c1, c2, 0) // no dropout at evaluation
	return &evaluator{m: m, vm: G.NewTapeMachine(m.g)}
}

// evaluate returns the mean loss and the accuracy on the first n images of
// d (rounded down to whole evaluation batches) with weights ws.
func (e *evaluator) evaluate(d *mnistdata.Set, n int, ws []*tensor.Dense) (loss, acc float64, err error) {
	b := e.m.batch
	n = min(n, d.N()) / b * b
	if err := e.m.setWeights(ws); err != nil {
		return 0, 0, err
	}
	correct := 0
	idx := make([]int, b)
	for start := 0; start < n; start += b {
		for i := range idx {
			idx[i] = start + i
		}
		x, y := d.Batch(idx, 1, mnistdata.Side, mnistdata.Side)
		if err := G.Let(e.m.x, x); err != nil {
			return 0, 0, err
		}
		if err := G.Let(e.m.y, y); err != nil {
			return 0, 0, err
		}
		e.vm.Reset()
		if err := e.vm.RunAll(); err != nil {
			return 0, 0, err
		}
		loss += float64(b) * e.m.loss.Value().Data().(float64)
		z := e.m.logits.Value().Data().([]float64)
		for r := range b {
			row := z[r*mnistdata.Classes : (r+1)*mnistdata.Classes]
			best := 0
			for j := range row {
				if row[j] > row[best] {
					best = j
				}
			}
			if best == d.Labels[start+r] {
				correct++
			}
		}
	}
	return loss / float64(n), float64(correct) / float64(n), nil
}
