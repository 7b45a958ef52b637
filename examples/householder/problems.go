package main

import (
	"math/rand/v2"
	"slices"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The problems: the writeup's two functions and small nets, each built fresh for every method.

type problem struct {
	name string
	make func() (*hvp.Problem, int) // a fresh problem and its block, the same for every method
}

// cubic is f(x) − ⟨c, x⟩ for a 3×1 weight x at x0.
func cubic(f func(*G.Node) (*G.Node, error), x0, c []float64) func() (*hvp.Problem, int) {
	return func() (*hvp.Problem, int) {
		g := G.NewGraph()
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(slices.Clone(x0)))))
		cn := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("c"), G.WithValue(tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(slices.Clone(c)))))
		loss, err := ops.Sub(G.Must(f(x)), G.Must(ops.Inner(cn, x)))
		check("f", err)
		p, err := hvp.New(loss, x)
		check("hvp.New", err)
		return p, 0
	}
}

// net is block l of a net 3 → h → 2 of act with biases, batch = fan-in + 1, h = 2 for W1+b1 and 4 for W2+b2 (an
// isolated solution), targets the outputs at random weights (by Gorgonia's machine), started there perturbed by scale.
func net(act ops.ScalarFunc, l int, scale float64, seed uint64) func() (*hvp.Problem, int) {
	return func() (*hvp.Problem, int) {
		rng := rand.New(rand.NewPCG(23, seed))
		batch, h := []int{4, 5}[l], []int{2, 4}[l]
		m, err := nets.Build(nets.Spec{Batch: batch, In: 3, Layers: []nets.Layer{{Out: h, Act: act, Bias: true}, {Out: 2, Act: act, Bias: true}}})
		check("net", err)
		check("net", m.Randomize(rng, 0.7, 0))
		check("targets", G.Let(m.Y, tensor.New(tensor.WithShape(batch, 2), tensor.WithBacking(make([]float64, 2*batch)))))
		vm := G.NewTapeMachine(m.Graph)
		check("teacher", vm.RunAll())
		vm.Close()
		check("targets", G.Let(m.Y, m.Out.Value().(*tensor.Dense).Clone().(*tensor.Dense)))
		p, err := hvp.New(m.Loss, m.Params()...)
		check("hvp.New", err)
		w, err := p.Current()
		check("weights", err)
		for j, b := 0, w.Block(l).Flat(); j < len(b); j++ { // the block's own memory (its weights are contiguous)
			b[j] += scale * rng.NormFloat64()
		}
		check("weights", p.SetWeights(w))
		return p, l
	}
}
