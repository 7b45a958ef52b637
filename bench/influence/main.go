// Command influence benchmarks influence functions (Koh & Liang 2017,
// package influence) against what they approximate, leave-one-out
// retraining, on a logistic regression (convex) and on an MLP's last layer
// (Koh & Liang's setting, the other weights fixed):
//
//	go run ./bench/influence                    # both problems, about a minute
//	go run ./bench/influence -n 4000 -d 200 -hidden 80 -out-dim 5 -minibatch 500
//	go run ./bench/influence -spectral 16     # issue 22's spectral targets instead (spectral.go)
//
// For every training row the oracle retrains the block without it, to
// convergence: Newton's method with the exact Hessian from the optimum,
// certified by ‖g‖ ≤ -tol, written by hand (oracle.go, independent of the
// graph, hvp and package influence). Each method's scores −I_i are compared
// with the retrained changes of the test loss by Pearson's r, with wall
// time: the exact inverse (influence.Scores), CG and LiSSA on the exact Hv
// at their converged settings and with the exact method's time budget
// (iterations fitted to it from the measured time of one Hv), and both on
// stochastic products as the Python tools use them (LiSSA: a fresh
// minibatch of -minibatch rows at every step; CG: one fixed minibatch).
// Results go to OUT/influence.csv and OUT/influence.png (atomically,
// nets.WriteFile), and a table to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/influence"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
)

type config struct {
	problems           []string
	n, nt, d           int // training and test rows, logistic inputs
	in, hidden, outDim int // the MLP
	minibatch          int
	lissaTol           float64 // LiSSA's converged setting: steps doubled until its residual is below this
	lissaMax           int     // and at most this many
	tol                float64 // the oracle's ‖g‖
	seed               uint64
	out                string
}

// record is one method on one problem.
type record struct {
	problem, method, setting string
	products                 int // Hv products of the solve (CG: iterations; LiSSA: steps)
	seconds                  float64
	residual                 float64 // ‖Hu − v‖/‖v‖ on the exact full-batch H_ll
	pearsonLOO, pearsonExact float64
	scores                   []float64 `json:"-"`
}

func main() {
	var c config
	var problems string
	flag.StringVar(&problems, "problems", "logistic,mlp", "comma-separated: logistic, mlp")
	flag.IntVar(&c.n, "n", 1000, "training rows")
	flag.IntVar(&c.nt, "test", 200, "test rows (the test loss is summed over them)")
	flag.IntVar(&c.d, "d", 100, "logistic regression: inputs (the block has d+1 parameters)")
	flag.IntVar(&c.in, "in", 10, "mlp: inputs")
	flag.IntVar(&c.hidden, "hidden", 40, "mlp: hidden tanh units (the last layer has (hidden+1)·out-dim parameters)")
	flag.IntVar(&c.outDim, "out-dim", 5, "mlp: outputs")
	flag.IntVar(&c.minibatch, "minibatch", 250, "rows of a stochastic Hv (above the block's rank, else a minibatch H_B is singular)")
	flag.Float64Var(&c.lissaTol, "lissa-tol", 1e-6, "LiSSA's converged setting: the steps after which (1 − λ_min/s)^steps is below this")
	flag.IntVar(&c.lissaMax, "lissa-max", 4000, "LiSSA: at most this many steps (the cap of the default run's time)")
	flag.Float64Var(&c.tol, "tol", 1e-9, "the oracle's convergence: ‖g‖ ≤ tol")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the data and the minibatches")
	spec := flag.Int("spectral", 0, "if > 0: instead, issue 22's spectral targets on a tanh net of this width (16: 816 parameters)")
	flag.StringVar(&c.out, "out", "influence-out", "folder for influence.csv and influence.png")
	flag.Parse()
	c.problems = strings.Split(problems, ",")
	if *spec > 0 {
		if err := spectralTargets(os.Stdout, *spec); err != nil {
			fmt.Fprintln(os.Stderr, "influence -spectral:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "influence:", err)
		os.Exit(1)
	}
}

func run(c config, w io.Writer) error {
	if c.n < 10 || c.nt < 1 || c.minibatch < 1 || c.minibatch > c.n {
		return &errs.ArgumentError{What: "-n, -test, -minibatch", Value: []int{c.n, c.nt, c.minibatch}, Reason: "want n ≥ 10, test ≥ 1, 1 ≤ minibatch ≤ n"}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	var all []record
	loo := map[string][]float64{}
	for _, name := range c.problems {
		rng := rand.New(rand.NewPCG(c.seed, 22))
		var p *problem
		switch name {
		case "logistic":
			p = logistic(rng, c.n, c.nt, c.d)
		case "mlp":
			p = lastLayer(rng, c.n, c.nt, c.in, c.hidden, c.outDim)
		default:
			return &errs.ArgumentError{What: "-problems", Value: name, Reason: "want logistic or mlp"}
		}
		recs, actual, err := bench(c, p, rng, w)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		all, loo[p.name] = append(all, recs...), actual
	}
	fmt.Fprintln(w, "\n| problem | method | setting | Hv | time | residual | Pearson with LOO | Pearson with exact |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.3g s | %.2g | %.4f | %.6f |\n", r.problem, r.method, r.setting, r.products, r.seconds, r.residual, r.pearsonLOO, r.pearsonExact)
	}
	if err := writeCSV(filepath.Join(c.out, "influence.csv"), all); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(c.out, "influence.png"), all, loo); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s and %s\n", filepath.Join(c.out, "influence.csv"), filepath.Join(c.out, "influence.png"))
	return nil
}

// bench runs every method and the oracle on p.
func bench(c config, p *problem, rng *rand.Rand, w io.Writer) ([]record, []float64, error) {
	if err := p.fit(c.tol); err != nil {
		return nil, nil, err
	}
	full, err := p.newGraph(c.n, p.x, p.y)
	if err != nil {
		return nil, nil, err
	}
	l := full.last()
	b := full.hp.Block(l)
	// The graph agrees with the oracle: its block gradient vanishes at the
	// oracle's optimum.
	_, g, err := full.hp.Gradient()
	if err != nil {
		return nil, nil, err
	}
	if gl := g.Block(l).Norm(); gl > 100*c.tol {
		return nil, nil, fmt.Errorf("the graph's gradient of block %s at the oracle's optimum is %.3g (oracle ‖g‖ %.3g): the two models disagree", b.Name(), gl, p.fitGrad)
	}
	testNet, err := p.newGraph(c.nt, p.xt, p.yt)
	if err != nil {
		return nil, nil, err
	}
	_, gt, err := testNet.hp.Gradient()
	if err != nil {
		return nil, nil, err
	}
	test := gt.Block(l).Clone()
	one, err := p.newGraph(1, p.x[:p.in()], p.y[:p.out()])
	if err != nil {
		return nil, nil, err
	}
	grads := make([]*params.Vector, c.n)
	for i := range c.n {
		if err := one.bind(p, p.x[i*p.in():(i+1)*p.in()], p.y[i*p.out():(i+1)*p.out()]); err != nil {
			return nil, nil, err
		}
		_, gi, err := one.hp.Gradient()
		if err != nil {
			return nil, nil, fmt.Errorf("gradient of training row %d: %w", i, err)
		}
		grads[i] = gi.Block(l).Clone()
	}
	fmt.Fprintf(w, "%s: %d training rows, %d test rows, block %s of %d parameters; oracle fit in %d Newton steps, ‖g‖ %.2g\n",
		p.name, c.n, c.nt, b.Name(), len(test.Flat()), p.fitSteps, p.fitGrad)

	// The oracle: leave-one-out retraining of the block.
	start := time.Now()
	base := p.test.loss(p.block())
	actual := make([]float64, c.n)
	worst, steps := 0.0, 0
	for i := range c.n {
		wi, gn, s, err := p.train.fit(p.block(), i, c.tol)
		if err != nil {
			return nil, nil, err
		}
		actual[i] = p.test.loss(wi) - base
		worst, steps = math.Max(worst, gn), steps+s
	}
	fmt.Fprintf(w, "  leave-one-out oracle: %d retrainings, %d Newton steps, largest final ‖g‖ %.2g, %.3g s\n", c.n, steps, worst, time.Since(start).Seconds())

	// One exact Hv's time (the median of 21), to fit budgets.
	var hvTimes []float64
	for range 21 {
		t0 := time.Now()
		if _, err := b.Hv(test); err != nil {
			return nil, nil, err
		}
		hvTimes = append(hvTimes, time.Since(t0).Seconds())
	}
	slices.Sort(hvTimes)
	tHv := hvTimes[10]
	top, err := spectral.Lanczos(spectral.BlockHessian(b), 1, spectral.LargestAlgebraic, nil)
	if err != nil {
		return nil, nil, err
	}
	bottom, err := spectral.Lanczos(spectral.BlockHessian(b), 1, spectral.SmallestAlgebraic, nil)
	if err != nil {
		return nil, nil, err
	}
	lmax, lmin := top.Values[0], bottom.Values[0]
	// LiSSA's error contracts by 1 − λ_min/s per step: its converged
	// setting is the steps that take that below -lissa-tol.
	iters := c.lissaMax
	if lmin > 0 {
		iters = min(c.lissaMax, int(math.Ceil(math.Log(c.lissaTol)/math.Log1p(-lmin/(1.1*lmax)))))
	}
	fmt.Fprintf(w, "  one Hv %.3g ms; λ_max(H_ll) = %.4g, λ_min = %.4g by Lanczos (%d + %d Hv); LiSSA's scale 1.1·λ_max, %d steps for (1 − λ_min/s)^steps < %g (cap %d)\n",
		1e3*tHv, lmax, lmin, top.Products, bottom.Products, iters, c.lissaTol, c.lissaMax)

	var recs []record
	var exactScores []float64
	add := func(method, setting string, products int, t0 time.Time, r *influence.Result) {
		rec := record{problem: p.name, method: method, setting: setting, products: products, seconds: time.Since(t0).Seconds(),
			residual: r.Inverse.Residual, scores: r.Scores}
		neg := make([]float64, len(r.Scores))
		for i, s := range r.Scores {
			neg[i] = -s
		}
		if exactScores == nil {
			exactScores = r.Scores
		}
		rec.pearsonLOO = stat.Correlation(neg, actual, nil)
		rec.pearsonExact = stat.Correlation(r.Scores, exactScores, nil)
		recs = append(recs, rec)
		fmt.Fprintf(w, "  %-6s %-34s %6d Hv %9.3g s  residual %8.2g  Pearson(LOO) %.4f  %s\n", method, setting, products, rec.seconds, rec.residual, rec.pearsonLOO, r.Label())
	}
	// exact: warmed up once (its first call builds the per-sample
	// machinery), then the median of three timed runs (its dense block
	// allocates B·n² values, whose time varies by 10× on this machine).
	if _, err := influence.Scores(full.hp, l, test, grads, nil); err != nil {
		return nil, nil, err
	}
	var ex *influence.Result
	var exTimes []float64
	for range 3 {
		t0 := time.Now()
		if ex, err = influence.Scores(full.hp, l, test, grads, nil); err != nil {
			return nil, nil, err
		}
		exTimes = append(exTimes, time.Since(t0).Seconds())
	}
	slices.Sort(exTimes)
	add("exact", ex.Inverse.Method.String()+", median of 3", 0, time.Now().Add(-time.Duration(exTimes[1]*1e9)), ex)
	tExact := recs[0].seconds
	budget := max(1, int(tExact/tHv))

	cgRun := func(setting string, o *solver.CGOptions) error {
		t0 := time.Now()
		r, err := influence.ScoresCG(full.hp, l, test, grads, o)
		if err != nil && !errors.Is(err, errs.ErrLimit) {
			return err
		}
		add("cg", setting, r.Iterations, t0, r)
		return nil
	}
	if err := cgRun("tolerance 1e-10", &solver.CGOptions{Tol: 1e-10}); err != nil {
		return nil, nil, err
	}
	if err := cgRun(fmt.Sprintf("exact's time: cap %d iterations", budget), &solver.CGOptions{Tol: 1e-14, MaxIter: budget}); err != nil {
		return nil, nil, err
	}
	lissa := func(setting string, iters int, o influence.LiSSAOptions) (*influence.Result, error) {
		o.Iters = iters
		t0 := time.Now()
		r, err := influence.ScoresLiSSA(full.hp, l, test, grads, o)
		if err != nil {
			return nil, err
		}
		add("lissa", setting, iters, t0, r)
		return r, nil
	}
	if _, err := lissa(fmt.Sprintf("(1 − λ_min/s)^steps < %g, cap %d", c.lissaTol, c.lissaMax), iters, influence.LiSSAOptions{Scale: 1.1 * lmax}); err != nil {
		return nil, nil, err
	}
	if _, err := lissa(fmt.Sprintf("exact's time: %d steps", budget), budget, influence.LiSSAOptions{Scale: 1.1 * lmax}); err != nil {
		return nil, nil, err
	}
	// Stochastic products.
	mbNet, err := p.newGraph(c.minibatch, p.x[:c.minibatch*p.in()], p.y[:c.minibatch*p.out()])
	if err != nil {
		return nil, nil, err
	}
	mb := &minibatch{p: p, g: mbNet, l: l, rows: c.n, rng: rng, size: len(test.Flat())}
	// The minibatch estimate's spread of curvature needs a larger scale
	// (twice λ_max), which halves LiSSA's rate: twice the steps.
	if _, err := lissa(fmt.Sprintf("minibatch %d per step, scale 2·λ_max", c.minibatch), 2*iters,
		influence.LiSSAOptions{Scale: 2 * lmax, Products: mb}); err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	if err := mb.sample(); err != nil {
		return nil, nil, err
	}
	cgB, err := influence.ScoresCG(mbNet.hp, l, test, grads, &solver.CGOptions{Tol: 1e-10})
	if err != nil && !errors.Is(err, errs.ErrLimit) {
		return nil, nil, err
	}
	// H ≈ (n/B)·H_B, so H⁻¹v ≈ (B/n)·H_B⁻¹v; residual on the full H_ll.
	f := float64(c.minibatch) / float64(c.n)
	floats.Scale(f, cgB.Inverse.U.Flat())
	floats.Scale(f, cgB.Scores)
	hu, err := b.Hv(cgB.Inverse.U)
	if err != nil {
		return nil, nil, err
	}
	floats.Sub(hu.Flat(), test.Flat())
	cgB.Inverse.Residual = hu.Norm() / test.Norm()
	cgB.Inverse.Note = fmt.Sprintf("one fixed minibatch of %d rows (scaled by B/n): %s", c.minibatch, cgB.Inverse.Note)
	add("cg", fmt.Sprintf("one minibatch of %d, tolerance 1e-10", c.minibatch), cgB.Iterations, t0, cgB)
	return recs, actual, nil
}

// minibatch is the stochastic estimate (n/B)·H_B of the block's H_ll from
// B random training rows, resampled at every Apply (LiSSA's use; CG's
// fixed minibatch is one sample and the net's own products).
type minibatch struct {
	p    *problem
	g    *graph
	l    int
	rows int
	rng  *rand.Rand
	size int
}

func (m *minibatch) Size() int       { return m.size }
func (m *minibatch) Symmetric() bool { return true }

// sample binds B rows drawn without replacement.
func (m *minibatch) sample() error {
	in, out := m.p.in(), m.p.out()
	bsz := m.g.m.X.Shape()[0]
	var x, y []float64
	for _, i := range m.rng.Perm(m.rows)[:bsz] {
		x = append(x, m.p.x[i*in:(i+1)*in]...)
		y = append(y, m.p.y[i*out:(i+1)*out]...)
	}
	return m.g.bind(m.p, x, y)
}

func (m *minibatch) Apply(dst, x []float64) error {
	if err := m.sample(); err != nil {
		return err
	}
	hv, err := m.g.hp.Block(m.l).Hv(params.FromFlat(m.g.hp.Block(m.l).Layout(), x))
	if err != nil {
		return err
	}
	bsz := m.g.m.X.Shape()[0]
	for i, v := range hv.Flat() {
		dst[i] = v * float64(m.rows) / float64(bsz)
	}
	return nil
}
