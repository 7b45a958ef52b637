// Command classifier shows the per-sample route (method.md §9) on the kind
// of net people train: two tanh layers and a linear output, each with a
// bias, softmax cross-entropy averaged over the batch. It prints the
// conditions report, then for every block (a weight and its bias) the
// exact H_ll⁻¹v by the B-pass beside conjugate gradients and finite
// differences, each against the dense block built from exact R-pass
// columns, all computed by the comparison engine of newtonia products
// (internal/compare):
//
//	go run ./examples/classifier
//
// The output block ends in softmax cross-entropy, whose per-sample
// Hessians M_i = diag(p) − ppᵀ are singular (softmax ignores a shift of
// its logits): undamped it is Newton-only (H u = v only for v in the
// range, e.g. the gradient), damped by λ (method.md §9) it is exact.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/compare"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
)

func main() {
	width := flag.Int("width", 16, "hidden width n: the net is n-n-n-4 with biases, batch n + 1")
	seed := flag.Uint64("seed", 1, "random seed")
	lambda := flag.Float64("damping", 1e-3, "exact damping λ for the damped rows")
	flag.Parse()
	if *width < 2 || *width > 64 || !(*lambda > 0) {
		fmt.Fprintln(os.Stderr, "classifier: -width from 2 to 64 (the dense references grow as n⁴), -damping > 0")
		os.Exit(2)
	}
	if err := run(os.Stdout, *width, *seed, *lambda); err != nil {
		fmt.Fprintln(os.Stderr, "classifier:", err)
		os.Exit(1)
	}
}

// line prints x's row, compared with the dense solve ref.
func line(w io.Writer, label string, x, ref *compare.Entry) error {
	rel, res, certified, note := "—", "—", false, ""
	var ce *errs.ConditionError
	switch {
	case errors.As(x.Err(), &ce):
		note = "refused: " + ce.Reason
	case x.Err() != nil:
		return x.Err()
	case ref.Err() != nil:
		return ref.Err()
	default:
		rel, certified = fmt.Sprintf("%.2e", params.RelDiff(x.Value(), ref.Value())), x.Certified != nil && *x.Certified
		switch r := x.Result(); {
		case r == nil: // the dense finite differences
			note = "dense block of Richardson central differences, minimum-norm solve"
		case x.CGIterations != nil:
			res, note = fmt.Sprintf("%.2e", r.Residual), fmt.Sprintf("%d iterations, %s", *x.CGIterations, x.Stopped())
		default:
			res, note = fmt.Sprintf("%.2e", r.Residual), r.Label()
		}
	}
	_, err := fmt.Fprintf(w, "%-7s %-24s %11s %11s %9v %8.2gs  %s\n", x.Block, label, rel, res, certified, x.Seconds, note)
	return err
}

func run(w io.Writer, n int, seed uint64, lambda float64) error {
	m, err := nets.Build(nets.Spec{Batch: n + 1, In: n, Loss: nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean,
		Layers: []nets.Layer{{Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: 4, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	if err := m.Randomize(rng, 1/math.Sqrt(float64(n)), 0); err != nil {
		return err
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tanh %d-%d-%d-4 with biases, softmax cross-entropy (mean), batch %d = fan-in + 1\n\n%v\n", n, n, n, n+1, p.Conditions())
	_, g, err := p.Gradient()
	if err != nil {
		return err
	}
	// One engine: every block's dense matrices are built once, the damped
	// engine shares them. Strict: a refused B-pass is a row, not a result.
	s := compare.Defaults()
	s.Strict, s.CGMaxIter, s.DenseMax = true, 500, math.MaxInt // the dense caps still bound memory and time
	eng, err := compare.New(p, s)
	if err != nil {
		return err
	}
	damped, err := eng.Damped(lambda)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-7s %-24s %11s %11s %9s %9s  %s\n", "block", "method", "rel. dense", "residual", "certified", "time", "")
	for l := range p.Blocks() {
		b := p.Block(l)
		v := params.New(b.Layout())
		for i := range b.Layout().Weights() {
			s := b.Layout().Shape(i)
			copy(v.Weight(i), nets.Randn(rng, s[0], s[1], 0).Float64s())
		}
		dense := eng.InvHvDense(l, v, false)
		for _, c := range []struct {
			label  string
			x, ref *compare.Entry
		}{
			{"B-pass, v random", eng.InvHvExact(l, v), dense},
			{"B-pass, v = g", eng.InvHvExact(l, g.Block(l)), eng.InvHvDense(l, g.Block(l), false)},
			{fmt.Sprintf("B-pass damped λ=%g", lambda), damped.InvHvExact(l, v), damped.InvHvDense(l, v, false)},
			{"CG to 1e-10, ≤ 500 Hv", eng.InvHvCG(l, v), dense},
			{"finite differences", eng.InvHvDense(l, v, true), dense},
		} {
			if err := line(w, c.label, c.x, c.ref); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(w, "\nrel. dense: ‖u − u_dense‖/‖u_dense‖, u_dense the minimum-norm solve of the dense block of exact R-pass columns (damped rows: of H + λ·h̃ᵀh̃ ⊗ I)")
	return nil
}
