package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gorgonia.org/tensor"
)

// problem is one influence benchmark: a net (Gorgonia graph) whose block l
// is studied, its weights at the training optimum of that block, the rows,
// and the oracle (the same model written by hand, in the block's
// parameters).
type problem struct {
	name         string
	spec         nets.Spec // Batch set per use
	x, y, xt, yt []float64 // training and test rows (row-major)
	w            []float64 // all the net's weights, flat, the block at its optimum
	train, test  *glm      // the oracle on the training and test rows
	fitSteps     int       // Newton steps of the oracle's fit
	fitGrad      float64   // its final ‖g‖
}

// in and out are the net's input and output widths.
func (p *problem) in() int  { return p.spec.In }
func (p *problem) out() int { return p.spec.Layers[len(p.spec.Layers)-1].Out }

// logistic is a logistic regression on d standard normal inputs, labels
// drawn from a true model with margins of order 1: the whole net is the
// block (W+b, d+1 parameters).
func logistic(rng *rand.Rand, n, nt, d int) *problem {
	wTrue := randn(rng, d+1, 2/math.Sqrt(float64(d)))
	sample := func(rows int) (x, y, z []float64) {
		for range rows {
			t := wTrue[d]
			for j := range d {
				v := rng.NormFloat64()
				x, z = append(x, v), append(z, v)
				t += wTrue[j] * v
			}
			z = append(z, 1)
			lab := 0.0
			if rng.Float64() < 1/(1+math.Exp(-t)) {
				lab = 1
			}
			y = append(y, lab)
		}
		return x, y, z
	}
	p := &problem{name: "logistic", spec: nets.Spec{In: d, Layers: []nets.Layer{{Out: 1, Act: ops.IdentityFunc{}, Bias: true}}, Loss: nets.SigmoidCrossEntropy}}
	var z, zt []float64
	p.x, p.y, z = sample(n)
	p.xt, p.yt, zt = sample(nt)
	p.train = &glm{z: z, y: p.y, k: d + 1, m: 1, logistic: true}
	p.test = &glm{z: zt, y: p.yt, k: d + 1, m: 1, logistic: true}
	p.w = make([]float64, d+1)
	return p
}

// lastLayer is an MLP in → hidden (tanh, bias) → out (identity, bias) with
// half squared error, its first layer random and fixed, the last layer
// (hidden+1)·out parameters, Koh & Liang's setting: the block studied is
// the last layer, its oracle least squares in the hidden features.
func lastLayer(rng *rand.Rand, n, nt, in, hidden, out int) *problem {
	w1 := randn(rng, in*hidden, 1/math.Sqrt(float64(in)))
	b1 := randn(rng, hidden, 0.1)
	features := func(x []float64) []float64 {
		var z []float64
		for i := range len(x) / in {
			for h := range hidden {
				t := b1[h]
				for j := range in {
					t += x[i*in+j] * w1[j*hidden+h]
				}
				z = append(z, math.Tanh(t))
			}
			z = append(z, 1)
		}
		return z
	}
	sample := func(rows int) (x, y []float64) {
		x = randn(rng, rows*in, 1)
		for i := range rows { // targets with structure, and noise
			for o := range out {
				a, b := x[i*in+o%in], x[i*in+(o+1)%in]
				y = append(y, math.Sin(a)+a*b/2+0.3*rng.NormFloat64())
			}
		}
		return x, y
	}
	p := &problem{name: "mlp-last-layer", spec: nets.Spec{In: in, Layers: []nets.Layer{{Out: hidden, Act: ops.TanhFunc{}, Bias: true}, {Out: out, Act: ops.IdentityFunc{}, Bias: true}}}}
	p.x, p.y = sample(n)
	p.xt, p.yt = sample(nt)
	p.train = &glm{z: features(p.x), y: p.y, k: hidden + 1, m: out}
	p.test = &glm{z: features(p.xt), y: p.yt, k: hidden + 1, m: out}
	p.w = append(append(w1, b1...), make([]float64, (hidden+1)*out)...)
	return p
}

func randn(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

// block returns the block's weights within p.w (the last len = k·m).
func (p *problem) block() []float64 { return p.w[len(p.w)-p.train.k*p.train.m:] }

// fit puts the block at its training optimum by the oracle.
func (p *problem) fit(tol float64) error {
	wb, g, steps, err := p.train.fit(p.block(), -1, tol)
	if err != nil {
		return fmt.Errorf("%s: training: %w", p.name, err)
	}
	copy(p.block(), wb)
	p.fitSteps, p.fitGrad = steps, g
	return nil
}

// graph is the net of p's spec on some rows, bound to p's weights, and its
// products.
type graph struct {
	m  *nets.MLP
	hp *hvp.Problem
	w  *params.Vector
}

// newGraph builds the net for rows × in inputs and binds x, y.
func (p *problem) newGraph(rows int, x, y []float64) (*graph, error) {
	spec := p.spec
	spec.Batch = rows
	m, err := nets.Build(spec)
	if err != nil {
		return nil, err
	}
	g := &graph{m: m}
	if g.hp, err = hvp.New(m.Loss, m.Params()...); err != nil {
		return nil, err
	}
	g.w = params.FromFlat(g.hp.Layout(), append([]float64(nil), p.w...))
	return g, g.bind(p, x, y)
}

// bind sets the rows x, y (as many as the net's batch) and p's weights.
func (g *graph) bind(p *problem, x, y []float64) error {
	rows := len(x) / p.in()
	return g.m.Set(tensor.New(tensor.WithShape(rows, p.in()), tensor.WithBacking(append([]float64(nil), x...))),
		tensor.New(tensor.WithShape(rows, p.out()), tensor.WithBacking(append([]float64(nil), y...))), g.w.Tensors())
}

// last is the block studied: the last layer.
func (g *graph) last() int { return g.hp.Blocks() - 1 }
