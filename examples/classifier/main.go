// Command classifier shows the per-sample route (method.md §9) on the kind
// of net people train: two tanh layers and a linear output, each with a
// bias, softmax cross-entropy averaged over the batch. It prints the
// conditions report, then for every block (a weight and its bias) the
// exact H_ll⁻¹v by the B-pass beside conjugate gradients and finite
// differences, each against the dense block built from exact R-pass
// columns:
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
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
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

// row is one method's result for one block.
type row struct {
	block, method string
	rel, residual float64 // against the dense reference; ‖H u − v‖/‖v‖
	certified     bool
	seconds       float64
	note          string
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
	var rows []row
	for l := range p.Blocks() {
		b := p.Block(l)
		name := b.Name()
		v := params.New(b.Layout())
		for i := range b.Layout().Weights() {
			s := b.Layout().Shape(i)
			copy(v.Weight(i), nets.Randn(rng, s[0], s[1], 0).Float64s())
		}
		rel := func(x []float64, ref []float64) float64 {
			return params.RelDiff(params.FromFlat(b.Layout(), x), params.FromFlat(b.Layout(), ref))
		}
		h, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			return err
		}
		hd, err := reference.Damp(p, l, h, lambda)
		if err != nil {
			return err
		}
		for _, c := range []struct {
			label string
			dir   *params.Vector
			h     *mat.Dense
			opt   *hvp.Options
		}{
			{"B-pass, v random", v, h, nil},
			{"B-pass, v = g", g.Block(l), h, nil},
			{fmt.Sprintf("B-pass damped λ=%g", lambda), v, hd, &hvp.Options{Damping: lambda}},
		} {
			ref, err := reference.MinNormSolve(c.h, c.dir.Flat())
			if err != nil {
				return err
			}
			t0 := time.Now()
			res, err := b.InvHv(c.dir, c.opt)
			r := row{block: name, method: c.label, seconds: time.Since(t0).Seconds()}
			var ce *errs.ConditionError
			switch {
			case errors.As(err, &ce):
				r.note = "refused: " + ce.Reason
				r.rel, r.residual = -1, -1
			case err != nil:
				return err
			default:
				r.rel = rel(res.U.Flat(), ref.U)
				r.residual, r.certified, r.note = res.Residual, res.Certified, res.Label()
			}
			rows = append(rows, r)
		}
		t0 := time.Now()
		cg, err := solver.InvHvCG(p, l, v, &solver.CGOptions{Tol: 1e-10, MaxIter: 500})
		if cg == nil {
			return err
		}
		sol, _ := reference.MinNormSolve(h, v.Flat())
		rows = append(rows, row{block: name, method: "CG to 1e-10, ≤ 500 Hv", rel: rel(cg.U.Flat(), sol.U),
			residual: cg.Residual, certified: cg.Certified, seconds: time.Since(t0).Seconds(), note: fmt.Sprintf("%d iterations, %s", cg.CG.Iterations, cg.CG.Reason)})
		t0 = time.Now()
		fd, err := reference.DenseBlockFD(p, l, 0, nil)
		if err != nil {
			return err
		}
		fsol, err := reference.MinNormSolve(fd, v.Flat())
		if err != nil {
			return err
		}
		rows = append(rows, row{block: name, method: "finite differences", rel: rel(fsol.U, sol.U), residual: -1,
			seconds: time.Since(t0).Seconds(), note: "dense block of Richardson central differences, minimum-norm solve"})
	}
	fmt.Fprintf(w, "%-7s %-24s %11s %11s %9s %9s  %s\n", "block", "method", "rel. dense", "residual", "certified", "time", "")
	num := func(x float64) string {
		if x < 0 {
			return "—"
		}
		return fmt.Sprintf("%.2e", x)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-7s %-24s %11s %11s %9v %8.2gs  %s\n", r.block, r.method, num(r.rel), num(r.residual), r.certified, r.seconds, r.note)
	}
	fmt.Fprintln(w, "\nrel. dense: ‖u − u_dense‖/‖u_dense‖, u_dense the minimum-norm solve of the dense block of exact R-pass columns (damped rows: of H + λ·h̃ᵀh̃ ⊗ I)")
	return nil
}
