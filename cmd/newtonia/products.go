package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/internal/compare"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gorgonia.org/tensor"
)

// settings of the products command: the engine's and the command's own.
type settings struct {
	compare.Settings
	out    string
	mem    int64
	asJSON bool
	force  bool
}

// Report and Entry are the engine's, written as report.json.
type (
	Report = compare.Report
	Entry  = compare.Entry
)

// flagOf names the flag of each field of compare.Settings, for its
// validation errors.
var flagOf = map[string]string{"Settings.CGTol": "-cg-tol", "Settings.CGMaxIter": "-cg-maxiter",
	"Settings.CGMaxTime": "-cg-time", "Settings.CGDamping": "-damping", "Settings.ExactDamping": "-exact-damping",
	"Settings.DenseMax": "-dense-max", "Settings.DenseMem": "-dense-mem", "Settings.DenseTime": "-dense-time"}

func products(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("products", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := settings{Settings: compare.Defaults()}
	s.Progress = stderr
	fs.StringVar(&s.out, "out", "newtonia-products", "folder for the .npy results and report.json (written whole, atomically)")
	stepList := fs.String("r", "1e-6,1e-4", "finite-difference steps, comma-separated: the perturbation r·v/‖v‖ has norm r")
	fs.Float64Var(&s.CGTol, "cg-tol", s.CGTol, "conjugate-gradient target residual (> 0)")
	fs.IntVar(&s.CGMaxIter, "cg-maxiter", 0, fmt.Sprintf("conjugate-gradient iteration cap (0: min(2n, %d))", solver.DefaultCGMaxIter))
	fs.DurationVar(&s.CGMaxTime, "cg-time", s.CGMaxTime, "conjugate-gradient time cap per solve")
	fs.Float64Var(&s.CGDamping, "damping", 0, "conjugate-gradient damping λ ≥ 0, solving (H + λI) u = v")
	fs.Float64Var(&s.ExactDamping, "exact-damping", 0, "exact damping λ ≥ 0 of the B-pass and the dense references: (H_ll + λ·h̃ᵀh̃ ⊗ I) u = v (per-sample route)")
	fs.IntVar(&s.DenseMax, "dense-max", s.DenseMax, "largest parameter count for a dense Hessian reference (block or full)")
	fs.Int64Var(&s.DenseMem, "dense-mem", s.DenseMem, "memory cap of one dense reference, bytes; estimated before building")
	fs.DurationVar(&s.DenseTime, "dense-time", s.DenseTime, "time cap of building one dense reference and of solving it, each estimated before it starts")
	fs.Int64Var(&s.mem, "mem", 0, "memory cap of the run (the net, the results kept until written, the products' working memory), bytes; estimated before anything is allocated (0: "+budget.Describe()+")")
	fs.BoolVar(&s.asJSON, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&s.force, "force", false, "replace -out if it holds an earlier result set of newtonia products (its report.json lists every file) and no input of this run")
	random := fs.String("random", "", "generate a random leaky-ReLU net with widths n0,n1,...,nL instead of reading NET.json")
	batch := fs.Int("batch", 0, "batch of the random net (0: n0)")
	seed := fs.Uint64("seed", 1, "seed of the random net")
	slope := fs.Float64("slope", 0.5, "leaky-ReLU slope of the random net (finite, ≥ 0)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "newtonia products: "+format+"\n", a...)
		return exitUsage
	}
	s.Steps = nil
	for _, f := range strings.Split(*stepList, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return usageErr("-r: bad step %q (want finite steps > 0)", f)
		}
		s.Steps = append(s.Steps, r)
	}
	var bad *errs.ArgumentError
	if err := s.Validate(); errors.As(err, &bad) {
		if bad.What == "Settings.Steps" {
			return usageErr("-r: bad step %q (want finite steps > 0)", fmt.Sprint(bad.Value))
		}
		return usageErr("%s %v: %s", flagOf[bad.What], bad.Value, bad.Reason)
	}
	switch {
	case s.mem < 0:
		return usageErr("-mem %d: want ≥ 0 (0: the default)", s.mem)
	case *random == "" && (*batch != 0 || isSet(fs, "seed") || isSet(fs, "slope")):
		return usageErr("-batch, -seed and -slope apply to -random only")
	case *random != "" && (!(*slope >= 0) || math.IsInf(*slope, 0)):
		return usageErr("-slope %v: want a finite slope ≥ 0", *slope)
	case *random != "" && *batch < 0:
		return usageErr("-batch %d: want ≥ 1 (0: n0)", *batch)
	case *random != "" && fs.NArg() != 0, *random == "" && fs.NArg() != 1:
		return usageErr("want one NET.json, or -random without one")
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	// Everything is checked and estimated before the output folder is
	// made: the net (read, or its size for -random), the run's memory,
	// whether -out may be replaced.
	path := fs.Arg(0)
	var net *nets.Loaded
	var inputs []string
	var spec nets.Spec
	if *random != "" {
		var err error
		if spec, err = randomSpec(*random, *batch, *slope); err != nil {
			return fail(err)
		}
		if err := memoryCheck("-random "+*random, spec, s); err != nil {
			return fail(err)
		}
	} else {
		var err error
		if net, err = nets.Load(path); err != nil {
			return fail(err)
		}
		if err := memoryCheck(path, net.Spec, s); err != nil {
			return fail(err)
		}
		if inputs, err = netInputs(path); err != nil {
			return fail(err)
		}
	}
	out, err := newOutput(s.out, s.force, inputs, stderr)
	if err != nil {
		return fail(err)
	}
	defer out.abort()
	if *random != "" {
		err := out.locked(func() (err error) {
			path, err = generate(spec, *seed, filepath.Join(out.tmp, "net"))
			return err
		})
		if err != nil {
			return fail(err)
		}
		if net, err = nets.Load(path); err != nil {
			return fail(err)
		}
	}
	p, err := newProducts(net)
	if err != nil {
		return fail(err)
	}
	rep, err := compute(net, p, s)
	if err != nil {
		return fail(err)
	}
	rep.Net = path
	if *random != "" {
		rep.Net = filepath.Join(s.out, "net", "net.json")
	}
	if err := out.write(rep); err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	if err := out.commit(); err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	if *random != "" {
		fmt.Fprintf(stderr, "newtonia: random net saved as %s\n", rep.Net)
	}
	if s.asJSON {
		if err := printJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "newtonia:", err)
			return exitError
		}
	} else {
		printTable(stdout, rep, s)
	}
	if e := rep.Failed(); e != nil {
		fmt.Fprintf(stderr, "newtonia: %s %s exact failed: %s\n", e.Block, e.Product, e.Error)
		return exitError
	}
	for _, line := range rep.Outcomes() {
		fmt.Fprintf(stderr, "newtonia: %s\n", line)
	}
	if len(rep.ExactRefused) > 0 {
		return exitRefused
	}
	return exitOK
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// randomSpec is the shape of the -random net: leaky-ReLU layers of the
// given widths, half squared error, batch n0 unless given.
func randomSpec(widthList string, batch int, slope float64) (nets.Spec, error) {
	var widths []int
	for _, f := range strings.Split(widthList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<16 {
			return nets.Spec{}, fmt.Errorf("-random: bad width %q (want n0,n1,...,nL, each 1 to 65536)", f)
		}
		widths = append(widths, n)
	}
	if len(widths) < 2 {
		return nets.Spec{}, errors.New("-random needs at least two widths: n0,n1")
	}
	if batch == 0 {
		batch = widths[0]
	}
	spec := nets.Spec{Batch: batch, In: widths[0]}
	for _, w := range widths[1:] {
		spec.Layers = append(spec.Layers, nets.Layer{Out: w, Act: ops.LeakyReLUFunc{Alpha: slope}})
	}
	return spec, nil
}

// generate draws a random net of spec (weights randn/√fan-in + I, data
// and targets randn, no directions: the gradient is used) and saves it
// into dir.
func generate(spec nets.Spec, seed uint64, dir string) (string, error) {
	m, err := nets.Build(spec)
	if err != nil {
		return "", err
	}
	if err := m.Randomize(rand.New(rand.NewPCG(seed, 0x6e6574)), 1/math.Sqrt(float64(spec.In)), 1); err != nil {
		return "", err
	}
	return nets.Save(dir, m, nil, false)
}

// runBytes estimates the memory of a products run on a net of spec with
// the given number of finite-difference steps, in bytes: the process
// itself (processBytes); the net's arrays (parameters, x and y); the
// results kept until written, one value the size of the block per method
// and product (8 + 3·steps per parameter); and the products' working
// memory, about 24 values per parameter and 16 per activation (the
// forward, R-, gradient and B-passes each keep the batch's activations),
// the arrays' part taken 1.25 times for the collector's overshoot: with
// GOGC = 100 the heap may grow past its live data before a cycle ends,
// and more so while other work slows the cycle (a full test run measured
// peaks 4% above the live-data estimate at width 512). Measured peaks on
// -random nets (square, widths 8 to 1024, batch = width; one 1024-256-1024)
// are 51–73% of it with the machine idle (the process alone: 17 MB).
// Dense references are bounded apart (-dense-max, -dense-mem).
func runBytes(spec nets.Spec, steps int) float64 {
	batch := float64(spec.Batch)
	params, acts := 0.0, batch*float64(spec.In)
	in := spec.In
	for _, l := range spec.Layers {
		k := in
		if l.Bias {
			k++
		}
		params += float64(k) * float64(l.Out)
		acts += batch * float64(l.Out)
		in = l.Out
	}
	return processBytes + 1.25*8*(params+acts+float64(8+3*steps)*params+24*params+16*acts)
}

// processBytes is a products run's memory besides its arrays: the binary,
// the Go runtime and Gorgonia's initialisation (measured: a run on -random
// 8,8,8 peaks at 17 MB).
const processBytes = 32 << 20

// memoryCheck refuses a run whose estimated memory (runBytes) exceeds
// -mem, naming what (the -random flag or the net's file), before anything
// is allocated (issue 19 item 5: -random 65536,65536 died of out of
// memory, exit 2, leaving its temporary folder).
func memoryCheck(what string, spec nets.Spec, s settings) error {
	params := 0
	in := spec.In
	for _, l := range spec.Layers {
		params += (in + map[bool]int{true: 1}[l.Bias]) * l.Out
		in = l.Out
	}
	return budget.Check(fmt.Sprintf("%s: a run with batch %d and %d parameters", what, spec.Batch, params), runBytes(spec, len(s.Steps)), s.mem,
		"the net, the results kept until written and the products' working memory; raise -mem, or take smaller widths or batch")
}

// netInputs returns the files the net description at path reads: itself
// and every array it names (relative paths from its folder).
func netInputs(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f nets.File
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names := append([]string{f.X, f.Y}, f.Directions...)
	names = append(names, f.BiasDirections...)
	for _, l := range f.Layers {
		names = append(names, l.Weights, l.Bias)
	}
	out := []string{path}
	for _, n := range names {
		if n == "" {
			continue
		}
		if !filepath.IsAbs(n) {
			n = filepath.Join(filepath.Dir(path), n)
		}
		out = append(out, n)
	}
	return out, nil
}

// newProducts is the one place where check and products make the
// products of a net: every parameter, weights and biases, in the order of
// nets.MLP.Params, each weight with its bias as one block (issue 19 item
// 11: check passed the weights alone and judged another net).
func newProducts(net *nets.Loaded) (*hvp.Problem, error) {
	return hvp.New(net.Loss, net.Params()...)
}

// compute runs every product by every method of the engine, along the
// net file's directions or, without them, the gradient.
func compute(net *nets.Loaded, p *hvp.Problem, s settings) (*Report, error) {
	eng, err := compare.New(p, s.Settings)
	if err != nil {
		return nil, err
	}
	if net.Directions == nil {
		_, g, err := p.Gradient()
		if err != nil {
			return nil, err
		}
		return eng.Run(g, "gradient (Newton directions)"), nil
	}
	var ds []*tensor.Dense
	for _, d := range net.Directions {
		ds = append(ds, d.Dense)
	}
	v, err := params.FromTensors(p.Layout(), ds, "direction")
	if err != nil {
		return nil, err
	}
	return eng.Run(v, "from the net file"), nil
}

func printTable(w io.Writer, rep *Report, s settings) {
	fmt.Fprintf(w, "net %s; directions: %s\n%v\n", rep.Net, rep.Directions, rep.Conditions)
	fmt.Fprintf(w, "%-6s %-6s %-12s %11s %11s %11s %-34s %9s  %s\n", "block", "prod.", "method", "rel. dense", "rel. exact", "residual", "kind", "time", "CG it")
	num := func(x *float64) string {
		if x == nil {
			return "—"
		}
		return fmt.Sprintf("%.2e", *x)
	}
	for _, e := range rep.Entries {
		kind := e.Kind
		if e.Certified != nil && !*e.Certified && kind != "" {
			kind += ", uncertified"
		}
		it := ""
		if e.CGIterations != nil {
			it = strconv.Itoa(*e.CGIterations)
			if e.Capped != "" {
				it += " (capped)"
			}
		}
		fmt.Fprintf(w, "%-6s %-6s %-12s %11s %11s %11s %-34s %8.2gs  %s\n", e.Block, e.Product, e.Method,
			num(e.RelToDense), num(e.RelToExact), num(e.Residual), kind, e.Seconds, it)
		switch {
		case e.Error != "":
			fmt.Fprintf(w, "       no result: %s\n", e.Error)
		case e.Capped != "":
			fmt.Fprintf(w, "       stopped at its %s cap: %s\n", e.Capped, e.Note)
		case e.Product == "InvHv" && e.Method == compare.Uncertified, e.BlockResult():
			fmt.Fprintf(w, "       %s\n", e.Note)
		}
	}
	fmt.Fprintf(w, "\n.npy results and report.json in %s; \"dense\" is built from exact R-pass columns, \"dense-fd\" from finite differences, each only up to %d parameters (-dense-max)\n", s.out, s.DenseMax)
}
