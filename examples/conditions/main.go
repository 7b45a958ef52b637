// Command conditions prints newtonia's conditions report for nets that meet
// and that violate the exactness conditions of method.md §4 and §9 — which
// route each block takes (the op-by-op chain, or the per-sample solve) and
// why — and what InvHv then returns for each block: a certified result or
// the typed error naming the cause.
//
//	go run ./examples/conditions
package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
)

type netCase struct {
	name      string
	batch, in int
	widths    []int
	act       ops.ScalarFunc
}

func main() {
	if err := run(os.Stdout, cases); err != nil {
		fmt.Fprintln(os.Stderr, "conditions:", err)
		os.Exit(1)
	}
}

var leaky = ops.LeakyReLUFunc{Alpha: 0.5}

var cases = []netCase{
	{"equal widths, batch = fan-in", 6, 6, []int{6, 6, 6}, leaky},
	{"batch 5 < fan-in 8", 5, 8, []int{8, 8, 8}, leaky},
	{"widths shrinking 12-10-8-6", 6, 12, []int{10, 8, 6}, leaky},
	{"batch 12 > fan-in 8", 12, 8, []int{8, 8, 8}, leaky},
	{"widths growing 6-8-10-12", 6, 6, []int{8, 10, 12}, leaky},
	{"plain ReLU", 4, 4, []int{4, 4}, ops.ReLUFunc{}},
	{"tanh", 4, 4, []int{4, 4}, ops.TanhFunc{}},
}

func run(w io.Writer, cases []netCase) error {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range cases {
		if err := report(w, rng, c); err != nil {
			return err
		}
	}
	return nil
}

func report(w io.Writer, rng *rand.Rand, c netCase) error {
	var layers []nets.Layer
	for _, width := range c.widths {
		layers = append(layers, nets.Layer{Out: width, Act: c.act})
	}
	m, err := nets.NewMLP(c.batch, c.in, layers)
	if err != nil {
		return err
	}
	if err := m.Randomize(rng, 0.5, 1); err != nil {
		return err
	}
	p, err := hvp.New(m.Loss, m.Weights...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "== %s (batch %d, widths %d-%v)\n%v", c.name, c.batch, c.in, c.widths, p.Conditions())
	_, g, err := p.Gradient()
	if err != nil {
		return err
	}
	for l, wt := range m.Weights {
		s := wt.Shape()
		dirs := []*params.Vector{g.Block(l), params.FromFlat(p.Layout().Block(l), nets.Randn(rng, s[0], s[1], 0).Float64s())}
		for i, name := range []string{"v = g", "v random"} {
			res, err := p.Block(l).InvHv(dirs[i], nil)
			if err != nil {
				fmt.Fprintf(w, "  InvHv(%s, %s): error [%v]: %v\n", wt.Name(), name, errs.Sentinel(err), err)
				continue
			}
			fmt.Fprintf(w, "  InvHv(%s, %s): %s, certified, residual %.1e", wt.Name(), name, res.Kind, res.Residual)
			if res.Kind == hvp.KindPseudoInverse && res.Residual > hvp.DefaultTol {
				fmt.Fprintf(w, " (v outside the range; normal residual %.1e)", res.NormalResidual)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
	return nil
}
