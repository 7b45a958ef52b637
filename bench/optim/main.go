// Command optim is the full-batch teacher–student benchmark of the
// second-order optimizers: on each shape a student net of the teacher's
// architecture, from its own random start, fits the teacher's outputs
// (half squared error, mean over the batch; the optimum is 0), and each
// method runs until the relative loss L/L₀ reaches the target, or its cap
// of time or gradient-equivalents. It reports, per shape and method, the
// gradient-equivalents (wall time divided by the time of one gradient at
// that shape, measured first), the data processed (solver.Step.Cost over
// the batch: gradients, losses and curvature products in
// gradient-equivalents, the same units for every method) and seconds to
// reach 1e-8 and 1e-12:
//
//	go run ./bench/optim -out docs/optim        # table on stdout, optim.csv, optim.png
//
// Methods, built by solver.New from the registry: newton
// (solver.DampedNewton: damped exact block steps, the best of each block
// alone and their sum, LM damping), newton-cyclic and newton-subspace
// (solver.BlockNewton), hf-ggn and hf-kron (solver.HF: CG on the exact
// Gauss–Newton products, unpreconditioned or Kronecker-preconditioned),
// gonum's lbfgs and bfgs (one step: one major iteration), and Gorgonia's
// adam.
package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// shape is one teacher–student problem.
type shape struct {
	name   string
	batch  int
	in     int
	layers []nets.Layer
}

func layer(out int, act ops.ScalarFunc, bias bool) nets.Layer {
	return nets.Layer{Out: out, Act: act, Bias: bias}
}

var (
	leaky = ops.LeakyReLUFunc{Alpha: 0.5}
	tanh  = ops.TanhFunc{}
	id    = ops.IdentityFunc{}
)

var shapes = []shape{
	{"square leaky 16, B 16", 16, 16, []nets.Layer{layer(16, leaky, false), layer(16, leaky, false), layer(16, id, false)}},
	{"square tanh 16, B 16", 16, 16, []nets.Layer{layer(16, tanh, false), layer(16, tanh, false), layer(16, id, false)}},
	{"tanh 16 + biases, B 17", 17, 16, []nets.Layer{layer(16, tanh, true), layer(16, tanh, true), layer(16, id, true)}},
	{"leaky 16 + biases, B 17", 17, 16, []nets.Layer{layer(16, leaky, true), layer(16, leaky, true), layer(16, id, true)}},
	{"shrinking tanh 16-12-8-4, B 13", 13, 16, []nets.Layer{layer(12, tanh, true), layer(8, tanh, true), layer(4, id, true)}},
	{"tanh 8-32-32-1 + biases, B 1024", 1024, 8, []nets.Layer{layer(32, tanh, true), layer(32, tanh, true), layer(1, id, true)}},
	{"leaky 16 + biases, B 256", 256, 16, []nets.Layer{layer(16, leaky, true), layer(16, leaky, true), layer(16, id, true)}},
}

var methods = []string{"newton", "newton-cyclic", "newton-subspace", "hf-ggn", "hf-kron", "lbfgs", "bfgs", "adam"}

// targets are the relative losses timed.
var targets = []float64{1e-8, 1e-12}

func main() {
	out := flag.String("out", "", "write <out>.csv and <out>.png (the loss curves)")
	only := flag.String("shapes", "", "comma-separated indices of the shapes to run (default all)")
	which := flag.String("methods", strings.Join(methods, ","), "comma-separated methods")
	maxTime := flag.Duration("max-time", 20*time.Second, "cap per run")
	maxGrads := flag.Float64("max-grads", 20000, "cap per run, in gradient-equivalents")
	seed := flag.Uint64("seed", 1, "random seed")
	force := flag.Bool("force", false, "replace existing output files")
	flag.BoolVar(&verbose, "v", false, "log every Newton step")
	replot := flag.String("replot", "", "redraw <out>.png from this CSV of an earlier run instead of running")
	flag.Parse()
	if *replot != "" {
		runs, err := readCSV(*replot)
		if err == nil && *out == "" {
			err = fmt.Errorf("-replot needs -out")
		}
		if err == nil {
			var png []byte
			if png, err = plotRuns(runs); err == nil {
				err = nets.WriteFile(*out+".png", png, *force)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "optim:", err)
			os.Exit(1)
		}
		return
	}
	log := newProgress(os.Stderr)
	sel := shapes
	if *only != "" {
		sel = nil
		for _, f := range strings.Split(*only, ",") {
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= len(shapes) {
				fmt.Fprintf(os.Stderr, "optim: -shapes %q: want indices 0…%d\n", *only, len(shapes)-1)
				os.Exit(2)
			}
			sel = append(sel, shapes[i])
		}
	}
	ms := strings.Split(*which, ",")
	for _, m := range ms {
		if !slices.Contains(methods, m) {
			fmt.Fprintf(os.Stderr, "optim: -methods: unknown %q (have %s)\n", m, strings.Join(methods, ", "))
			os.Exit(2)
		}
	}
	if !(*maxTime > 0) || !(*maxGrads > 0) {
		fmt.Fprintln(os.Stderr, "optim: -max-time and -max-grads must be > 0")
		os.Exit(2)
	}
	var runs []*run
	for _, sh := range sel {
		for _, m := range ms {
			r, err := runOne(sh, m, *seed, *maxTime, *maxGrads, log)
			if err != nil { // recorded, and the benchmark goes on
				fmt.Fprintf(os.Stderr, "optim: %s, %s: %v\n", sh.name, m, err)
				if r == nil {
					r = &run{shape: sh.name, method: m, reached: map[float64]point{}, curve: []point{{rel: math.NaN()}}}
				}
				r.stop = "error: " + err.Error()
			}
			runs = append(runs, r)
		}
	}
	table(os.Stdout, runs)
	if *out != "" {
		if err := write(*out, runs, *force); err != nil {
			fmt.Fprintln(os.Stderr, "optim:", err)
			os.Exit(1)
		}
	}
}

// point is one observation of a run.
type point struct {
	grads, seconds, rel float64
	passes              float64 // data processed, in gradients over the batch (solver.Step.Cost / B); not in the CSV
}

type run struct {
	shape, method string
	gradTime      time.Duration
	curve         []point
	reached       map[float64]point // by target
	stop          string
}

// problem builds the teacher's targets and the student at its start.
func problem(sh shape, seed uint64) (*nets.MLP, *hvp.Problem, error) {
	rng := rand.New(rand.NewPCG(seed, 0x7ea))
	spec := nets.Spec{Batch: sh.batch, In: sh.in, Layers: sh.layers, Reduction: nets.ReductionMean}
	teacher, err := nets.Build(spec)
	if err != nil {
		return nil, nil, err
	}
	if err := teacher.Randomize(rng, 1/math.Sqrt(float64(sh.in)), 0); err != nil {
		return nil, nil, err
	}
	student, err := nets.Build(spec)
	if err != nil {
		return nil, nil, err
	}
	if err := student.Randomize(rng, 1/math.Sqrt(float64(sh.in)), 0); err != nil {
		return nil, nil, err
	}
	// The teacher's outputs at the student's inputs are the targets.
	x := student.X.Value().(*tensor.Dense)
	if err := G.Let(teacher.X, x); err != nil {
		return nil, nil, err
	}
	vals, err := graph.Compile("teacher", []*G.Node{teacher.Out}).Run(nil)
	if err != nil {
		return nil, nil, err
	}
	if err := G.Let(student.Y, vals[teacher.Out]); err != nil {
		return nil, nil, err
	}
	p, err := hvp.New(student.Loss, student.Params()...)
	return student, p, err
}

// gradientTime measures one gradient of p (median of 15).
func gradientTime(p *hvp.Problem) (time.Duration, error) {
	var ts []time.Duration
	for range 15 {
		t0 := time.Now()
		if _, _, err := p.Gradient(); err != nil {
			return 0, err
		}
		ts = append(ts, time.Since(t0))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2], nil
}

func runOne(sh shape, method string, seed uint64, maxTime time.Duration, maxGrads float64, log *progress) (*run, error) {
	_, p, err := problem(sh, seed)
	if err != nil {
		return nil, err
	}
	gt, err := gradientTime(p)
	if err != nil {
		return nil, err
	}
	l0, err := p.LossAt(nil)
	if err != nil {
		return nil, err
	}
	r := &run{shape: sh.name, method: method, gradTime: gt, reached: map[float64]point{}}
	t0 := time.Now()
	var cost int64 // solver.Step.Cost, summed
	// observe records the loss l; it reports whether to stop.
	observe := func(l float64) bool {
		el := time.Since(t0)
		pt := point{grads: float64(el) / float64(gt), seconds: el.Seconds(), rel: l / l0, passes: float64(cost) / float64(sh.batch)}
		r.curve = append(r.curve, pt)
		for _, tg := range targets {
			if _, ok := r.reached[tg]; !ok && pt.rel <= tg {
				r.reached[tg] = pt
			}
		}
		log.update(fmt.Sprintf("%-34s %-15s %8.0f grads %6.1fs  L/L₀ %.3g", sh.name, method, pt.grads, pt.seconds, pt.rel))
		switch {
		case pt.rel <= targets[len(targets)-1]:
			r.stop = "target"
		case el > maxTime:
			r.stop = "time cap"
		case pt.grads > maxGrads:
			r.stop = "gradient cap"
		case math.IsNaN(pt.rel) || math.IsInf(pt.rel, 0):
			r.stop = "diverged"
		}
		return r.stop != ""
	}
	observe(l0)
	o, err := solver.New(method, p, settings[method])
	if err != nil {
		return r, err
	}
	stall := 0
	for {
		rec, err := o.Step()
		var ce *errs.ConditionError
		if strings.Contains(method, "bfgs") && errors.As(err, &ce) { // gonum's line search gave up: the run ends there
			r.stop = err.Error()
			break
		}
		if err != nil {
			return r, err
		}
		cost += rec.Cost
		if rec.LossAfter >= rec.LossBefore {
			stall++
		} else {
			stall = 0
		}
		if d, ok := rec.Detail.(*solver.NewtonDetail); ok && verbose {
			fmt.Fprintf(os.Stderr, "  step %d: %s λ %.2g ρ %.3g loss %.3g → %.3g, fallbacks %d %v\n", rec.Iter, d.Combined, d.Damping, d.Rho, rec.LossBefore, rec.LossAfter, len(rec.Fallbacks), kinds(d.Blocks))
		}
		loss := rec.LossAfter
		if math.IsNaN(loss) { // Gorgonia's solvers measure the loss before their step only
			if rec.Iter == 0 {
				continue
			}
			loss = rec.LossBefore
		}
		if observe(loss) {
			break
		}
		if strings.HasPrefix(method, "newton") && stall > 50 {
			r.stop = "stalled"
			break
		}
	}
	log.done()
	return r, nil
}

// settings are the methods' settings other than the registry's defaults.
var settings = map[string]any{"adam": &solver.GorgoniaSettings{LearnRate: 3e-3}}

var verbose bool

func kinds(bs []solver.BlockStep) []string {
	var out []string
	for _, b := range bs {
		k := b.Kind.String()
		if b.Replaced != "" {
			k += "*"
		}
		out = append(out, k)
	}
	return out
}

func table(w io.Writer, runs []*run) {
	fmt.Fprintf(w, "%-34s %-15s %12s %9s %11s %12s %9s %11s %10s  %s\n", "shape", "method",
		"grads→1e-8", "s→1e-8", "data→1e-8", "grads→1e-12", "s→1e-12", "data→1e-12", "final L/L₀", "stop")
	for _, r := range runs {
		cell := func(tg float64) (string, string, string) {
			pt, ok := r.reached[tg]
			if !ok {
				return "—", "—", "—"
			}
			return fmt.Sprintf("%.0f", pt.grads), fmt.Sprintf("%.2f", pt.seconds), fmt.Sprintf("%.0f", pt.passes)
		}
		g8, s8, d8 := cell(1e-8)
		g12, s12, d12 := cell(1e-12)
		last := r.curve[len(r.curve)-1]
		fmt.Fprintf(w, "%-34s %-15s %12s %9s %11s %12s %9s %11s %10.2g  %s\n", r.shape, r.method, g8, s8, d8, g12, s12, d12, last.rel, r.stop)
	}
}

func write(out string, runs []*run, force bool) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write([]string{"shape", "method", "gradient_seconds", "gradient_equivalents", "seconds", "relative_loss"})
	for _, r := range runs {
		for _, pt := range r.curve {
			cw.Write([]string{r.shape, r.method, strconv.FormatFloat(r.gradTime.Seconds(), 'g', 4, 64),
				strconv.FormatFloat(pt.grads, 'f', 1, 64), strconv.FormatFloat(pt.seconds, 'f', 4, 64), strconv.FormatFloat(pt.rel, 'g', 5, 64)})
		}
	}
	cw.Flush()
	if err := nets.WriteFile(out+".csv", b.Bytes(), force); err != nil {
		return err
	}
	png, err := plotRuns(runs)
	if err != nil {
		return err
	}
	return nets.WriteFile(out+".png", png, force)
}

// readCSV reads the curves of an earlier run (the CSV write writes).
func readCSV(path string) ([]*run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var runs []*run
	by := map[string]*run{}
	for i, r := range recs {
		if i == 0 {
			continue
		}
		if len(r) != 6 {
			return nil, fmt.Errorf("%s: line %d: %d fields, want 6", path, i+1, len(r))
		}
		var v [3]float64
		for j, f := range []string{r[3], r[4], r[5]} {
			if v[j], err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
			}
		}
		key := r[0] + "\x00" + r[1]
		if by[key] == nil {
			by[key] = &run{shape: r[0], method: r[1], reached: map[float64]point{}}
			runs = append(runs, by[key])
		}
		by[key].curve = append(by[key].curve, point{grads: v[0], seconds: v[1], rel: v[2]})
	}
	return runs, nil
}
