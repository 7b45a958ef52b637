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
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// settings of the products command.
type settings struct {
	out       string
	steps     []float64
	cgTol     float64
	cgIter    int
	cgTime    time.Duration
	damping   float64
	exactDamp float64
	denseMax  int
	denseMem  int64
	denseTime time.Duration
	mem       int64
	asJSON    bool
	force     bool
}

// Entry is one product by one method in the report.
type Entry struct {
	Block   string `json:"block"`   // a block's weights (e.g. "W1+b1"), or "full" for the whole Hessian
	Product string `json:"product"` // "Hv" or "InvHv"
	// Method names how the value was computed, and is the file name's
	// middle part: "exact" (an exact result; for InvHv only a certified
	// exact or pseudo-inverse one), "newton-only" (a certified solution of
	// H u = v that is not H⁺v), "uncertified" (a B-pass refused before
	// running or that failed its checks, computed anyway for comparison;
	// the note says which, and where the dense solve is the block's
	// result), "fd r=…", "cg", "dense" (from a dense matrix of exact R-pass
	// columns), "dense-fd" (from a dense matrix of finite differences).
	Method       string   `json:"method"`
	Files        []string `json:"files,omitempty"`
	RelToDense   *float64 `json:"rel_to_dense,omitempty"`
	RelToExact   *float64 `json:"rel_to_exact,omitempty"`
	Residual     *float64 `json:"residual,omitempty"` // InvHv: ‖H_ll u − v‖/‖v‖ with the exact Hv
	Kind         string   `json:"kind,omitempty"`
	Certified    *bool    `json:"certified,omitempty"`
	Seconds      float64  `json:"seconds"`
	CGIterations *int     `json:"cg_iterations,omitempty"`
	Capped       string   `json:"capped,omitempty"` // the cap that stopped the method: "iterations", "time"
	Note         string   `json:"note,omitempty"`
	Error        string   `json:"error,omitempty"` // why this product has no value

	value   *params.Vector      // of the block's layout, or the whole problem's for "full"
	fatal   bool                // an exact Hv failed
	sol     *reference.Solution // of a dense InvHv
	outcome string              // of an uncertified B-pass, for stderr
}

// Report is what products prints and writes as report.json.
type Report struct {
	Format     string         `json:"format"` // resultFormat: what -force may replace
	Net        string         `json:"net"`
	Directions string         `json:"directions"`
	Params     []string       `json:"params"` // the weights, in the order of the full Hessian's files
	Conditions hvp.Conditions `json:"conditions"`
	Entries    []*Entry       `json:"entries"`
	// ExactRefused lists the blocks whose exact inverse product was
	// refused or is uncertified (the reason is in the entry): exit code 3.
	ExactRefused []string `json:"exact_refused,omitempty"`
	// DenseResults lists, for those blocks, the dense solve that is the
	// block's result where one was computed (its B-pass was refused or
	// failed its checks; the block itself may well be invertible).
	DenseResults []string `json:"dense_results,omitempty"`
	Files        []string `json:"files"` // every file of the result folder but report.json
}

func products(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("products", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.out, "out", "newtonia-products", "folder for the .npy results and report.json (written whole, atomically)")
	stepList := fs.String("r", "1e-6,1e-4", "finite-difference steps, comma-separated: the perturbation r·v/‖v‖ has norm r")
	fs.Float64Var(&s.cgTol, "cg-tol", 1e-10, "conjugate-gradient target residual (> 0)")
	fs.IntVar(&s.cgIter, "cg-maxiter", 0, fmt.Sprintf("conjugate-gradient iteration cap (0: min(2n, %d))", solver.DefaultCGMaxIter))
	fs.DurationVar(&s.cgTime, "cg-time", solver.DefaultCGMaxTime, "conjugate-gradient time cap per solve")
	fs.Float64Var(&s.damping, "damping", 0, "conjugate-gradient damping λ ≥ 0, solving (H + λI) u = v")
	fs.Float64Var(&s.exactDamp, "exact-damping", 0, "exact damping λ ≥ 0 of the B-pass and the dense references: (H_ll + λ·h̃ᵀh̃ ⊗ I) u = v (per-sample route)")
	fs.IntVar(&s.denseMax, "dense-max", 1024, "largest parameter count for a dense Hessian reference (block or full)")
	fs.Int64Var(&s.denseMem, "dense-mem", reference.DefaultMaxBytes, "memory cap of one dense reference, bytes; estimated before building")
	fs.DurationVar(&s.denseTime, "dense-time", reference.DefaultMaxTime, "time cap of building one dense reference and of solving it, each estimated before it starts")
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
	for _, f := range strings.Split(*stepList, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return usageErr("-r: bad step %q (want finite steps > 0)", f)
		}
		s.steps = append(s.steps, r)
	}
	switch {
	case !(s.cgTol > 0) || math.IsInf(s.cgTol, 0):
		return usageErr("-cg-tol %v: want a finite tolerance > 0", s.cgTol)
	case s.cgIter < 0:
		return usageErr("-cg-maxiter %d: want ≥ 0 (0: the default)", s.cgIter)
	case s.cgTime <= 0:
		return usageErr("-cg-time %v: want > 0", s.cgTime)
	case !(s.damping >= 0) || math.IsInf(s.damping, 0):
		return usageErr("-damping %v: want a finite λ ≥ 0", s.damping)
	case !(s.exactDamp >= 0) || math.IsInf(s.exactDamp, 0):
		return usageErr("-exact-damping %v: want a finite λ ≥ 0", s.exactDamp)
	case s.denseMax < 0:
		return usageErr("-dense-max %d: want ≥ 0", s.denseMax)
	case s.denseMem <= 0:
		return usageErr("-dense-mem %d: want > 0", s.denseMem)
	case s.denseTime <= 0:
		return usageErr("-dense-time %v: want > 0", s.denseTime)
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
	rep, err := compute(net, p, path, s, stderr)
	if err != nil {
		return fail(err)
	}
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
	for _, e := range rep.Entries {
		if e.fatal {
			fmt.Fprintf(stderr, "newtonia: %s %s exact failed: %s\n", e.Block, e.Product, e.Error)
			return exitError
		}
	}
	for _, e := range rep.Entries {
		if e.outcome != "" {
			fmt.Fprintf(stderr, "newtonia: %s\n", e.outcome)
		}
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
// the given number of finite-difference steps, in bytes: the net's arrays
// (parameters, x and y); the results kept until written, one value the
// size of the block per method and product (8 + 3·steps per parameter);
// and the products' working memory, about 24 values per parameter and 16
// per activation (the forward, R-, gradient and B-passes each keep the
// batch's activations). Measured peaks on -random nets of widths 256 to
// 1024 are 60–90% of it. Dense references are bounded apart (-dense-max,
// -dense-mem).
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
	return 8 * (params + acts + float64(8+3*steps)*params + 24*params + 16*acts)
}

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
	return budget.Check(fmt.Sprintf("%s: a run with batch %d and %d parameters", what, spec.Batch, params), runBytes(spec, len(s.steps)), s.mem,
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

// run is what one method computes for one entry: its value, or an error
// that becomes the entry's Error. Every method of a product runs, whatever
// another one did.
type method struct {
	block, product, name string
	run                  func(e *Entry) error
}

// compute runs every product by every method that applies.
func compute(net *nets.Loaded, p *hvp.Problem, path string, s settings, stderr io.Writer) (*Report, error) {
	var err error
	rep := &Report{Net: path, Conditions: p.Conditions(), Directions: "gradient (Newton directions)"}
	for _, w := range p.Weights() {
		rep.Params = append(rep.Params, w.Name())
	}
	var v *params.Vector
	if net.Directions != nil {
		rep.Directions = "from the net file"
		var ds []*tensor.Dense
		for _, d := range net.Directions {
			ds = append(ds, d.Dense)
		}
		if v, err = params.FromTensors(p.Layout(), ds, "direction"); err != nil {
			return nil, err
		}
	} else if _, v, err = p.Gradient(); err != nil {
		return nil, err
	}
	var methods []method
	for l := range p.Blocks() {
		methods = append(methods, blockMethods(p, l, v.Block(l), s, stderr)...)
	}
	methods = append(methods, fullMethods(p, v, s, stderr)...)
	for i, m := range methods {
		e := &Entry{Block: m.block, Product: m.product, Method: m.name}
		t0 := time.Now()
		if err := runMethod(m, e); err != nil {
			e.value, e.Error = nil, err.Error()
			var le *errs.LimitError
			if errors.As(err, &le) && le.Reached {
				e.Capped = le.Resource
			}
		}
		e.Seconds = time.Since(t0).Seconds()
		fmt.Fprintf(stderr, "[%d/%d] %s %s %s (%.3gs)%s\n", i+1, len(methods), e.Block, e.Product, e.Method, e.Seconds,
			map[bool]string{true: ": " + e.Error}[e.Error != ""])
		rep.Entries = append(rep.Entries, e)
	}
	outcomes(rep, p, s.exactDamp)
	compare(rep)
	return rep, nil
}

// outcomes lists the blocks whose B-pass gave no certified result, and
// says for each what is true: the B-pass was refused before running (the
// conditions report's reasons) or failed its checks, which says nothing of
// whether H_ll is invertible; the dense solve, where computed, is the
// block's result (issue 19 item 12: a refused B-pass was written as "a
// B-pass that failed its checks", of blocks that are invertible).
func outcomes(rep *Report, p *hvp.Problem, damping float64) {
	for l := range p.Blocks() {
		name := p.Block(l).Name()
		x := entryOf(rep, name, "InvHv", "uncertified")
		if x == nil {
			continue
		}
		block := fmt.Sprintf("block %d (%s)", l, name)
		rep.ExactRefused = append(rep.ExactRefused, block)
		line := block + ": exact inverse uncertified: its B-pass failed its checks"
		what := "its B-pass failed its checks"
		// Refused: the B-pass's own kind, or the conditions report's
		// where the B-pass returned nothing.
		if x.Kind == hvp.KindRefused.String() || x.Kind == "" && rep.Conditions[l].Kind == hvp.KindRefused {
			line = block + ": exact inverse refused: its " + refusedBPass + "; " + saysNothing
			what = "its B-pass was refused"
		}
		if d := entryOf(rep, name, "InvHv", "dense"); d != nil && d.value != nil && d.sol != nil {
			h, of := "H", "H_ll"
			if damping > 0 {
				h, of = fmt.Sprintf("(H + %g·h̃ᵀh̃ ⊗ I)", damping), "the damped block"
			}
			inv := fmt.Sprintf("%s⁺v, the minimum-norm least-squares solution (rank %d of %d)", h, d.sol.Rank, d.sol.N)
			if d.sol.Rank == d.sol.N {
				inv = fmt.Sprintf("%s⁻¹v (rank %d of %d: %s is invertible)", h, d.sol.Rank, d.sol.N, of)
			}
			d.Note = fmt.Sprintf("this block's result (%s): %s", what, d.Note)
			res := "the dense solve is this block's result: " + inv
			x.Note += "; " + res
			line += "; " + res + ", in " + strings.Join(fileNames(p, l, "dense"), ", ")
			rep.DenseResults = append(rep.DenseResults, block)
		} else {
			why := "not built"
			if d != nil && d.Error != "" {
				why = d.Error
			}
			x.Note += fmt.Sprintf("; no dense solve (%s): see InvHv cg, or hvp.Block.Curvature", why)
			line += "; no dense solve (" + why + ")"
		}
		x.outcome = line
	}
}

// What a refusal before running means, and only that.
const (
	refusedBPass = "B-pass was refused before running (the conditions report says why: no op-by-op inverse on its route, " +
		"or a per-sample route that needs batch ≤ fan-in)"
	saysNothing = "the refusal says nothing of H_ll, which may be invertible"
)

// fileNames are the files of block l's InvHv by method.
func fileNames(p *hvp.Problem, l int, method string) []string {
	var out []string
	for _, w := range strings.Split(p.Block(l).Name(), "+") {
		out = append(out, fmt.Sprintf("%s.InvHv.%s.npy", w, method))
	}
	return out
}

func entryOf(rep *Report, block, product, method string) *Entry {
	for _, e := range rep.Entries {
		if e.Block == block && e.Product == product && e.Method == method {
			return e
		}
	}
	return nil
}

// runMethod runs m, turning a panic into an error of the entry.
func runMethod(m method, e *Entry) (err error) {
	defer errs.Recover(e.Block+" "+e.Product+" "+e.Method, &err)
	return m.run(e)
}

// every reports progress lines for long methods, at most one every two
// seconds.
func every(stderr io.Writer, what string) func(done, total int, extra string) {
	last := time.Now()
	return func(done, total int, extra string) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(stderr, "    %s: %d/%d%s\n", what, done, total, extra)
	}
}

func blockMethods(p *hvp.Problem, l int, v *params.Vector, s settings, stderr io.Writer) []method {
	b := p.Block(l)
	name := b.Name()
	n := v.Len()
	var dense, denseFD *mat.Dense
	lim := func(what string) *reference.Limits {
		tick := every(stderr, name+" "+what)
		return &reference.Limits{MaxBytes: s.denseMem, MaxTime: s.denseTime, Progress: func(d, t int) { tick(d, t, " columns") }}
	}
	tooBig := fmt.Errorf("skipped: %d parameters > -dense-max %d", n, s.denseMax)
	m := func(product, how string, run func(e *Entry) error) method {
		return method{block: name, product: product, name: how, run: run}
	}
	ms := []method{m("Hv", "exact", func(e *Entry) error {
		hv, err := b.Hv(v)
		e.value, e.fatal = hv, err != nil
		return err
	})}
	for _, r := range s.steps {
		ms = append(ms, m("Hv", fmt.Sprintf("fd r=%g", r), func(e *Entry) error {
			full := params.New(p.Layout())
			full.Block(l).CopyFrom(v)
			hv, err := reference.HvFD(p, full, r)
			if err == nil {
				e.value = hv.Block(l).Clone()
			}
			e.Note = "central differences of the gradient, perturbation of norm r"
			return err
		}))
	}
	denseHv := func(h **mat.Dense, build func() (*mat.Dense, error), note string) func(e *Entry) error {
		return func(e *Entry) error {
			if n > s.denseMax {
				return tooBig
			}
			var err error
			if *h, err = build(); err != nil {
				return err
			}
			e.value, e.Note = matVec(*h, v), note
			return nil
		}
	}
	ms = append(ms,
		m("Hv", "dense", denseHv(&dense, func() (*mat.Dense, error) { return reference.DenseBlock(p, l, lim("dense")) },
			"dense block of exact R-pass columns")),
		m("Hv", "dense-fd", denseHv(&denseFD, func() (*mat.Dense, error) { return reference.DenseBlockFD(p, l, 0, lim("dense-fd")) },
			"dense block of Richardson-extrapolated central differences of the gradient")),
		m("InvHv", "exact", func(e *Entry) error {
			res, err := b.InvHv(v, &hvp.Options{BestEffort: true, Damping: s.exactDamp})
			if err != nil {
				e.Method = "uncertified"
				return err
			}
			fillResult(e, res)
			e.Note = fmt.Sprintf("%s route", res.Method)
			if res.Damping > 0 {
				e.Note += fmt.Sprintf(", damped: (H + %g·h̃ᵀh̃ ⊗ I)⁻¹v", res.Damping)
			}
			switch {
			case res.Kind == hvp.KindRefused:
				e.Method = "uncertified"
				e.Note += "; " + refusedBPass + " and computed anyway for comparison: not an inverse product; " + saysNothing
			case !res.Certified:
				e.Method = "uncertified"
				e.Note += "; a B-pass that failed its checks (best effort): not an inverse product"
			case res.Kind == hvp.KindNewtonOnly:
				e.Method = "newton-only"
				e.Note += "; a solution of H u = v, not H⁺v (Newton-only block)"
			case res.Kind != hvp.KindExact && res.Kind != hvp.KindPseudoInverse:
				e.Method = "uncertified"
			}
			return nil
		}))
	for _, r := range s.steps {
		ms = append(ms, m("InvHv", fmt.Sprintf("fd r=%g", r), func(e *Entry) error {
			if s.exactDamp > 0 {
				return errors.New("skipped: finite differences of the functional inverse are undamped (-exact-damping)")
			}
			res, err := reference.InvHvFD(p, l, v, r, &hvp.Options{BestEffort: true})
			if err == nil {
				fillResult(e, res)
			}
			return err
		}))
	}
	ms = append(ms, m("InvHv", "cg", func(e *Entry) error {
		tick := every(stderr, name+" InvHv cg")
		res, err := solver.InvHvCG(p, l, v, &solver.CGOptions{Tol: s.cgTol, MaxIter: s.cgIter, MaxTime: s.cgTime, Tikhonov: s.damping,
			Progress: func(i int, r float64) { tick(i, 0, fmt.Sprintf(" iterations, residual %.2g", r)) }})
		if res == nil {
			return err
		}
		fillResult(e, res.Result)
		it := res.CG.Iterations
		e.CGIterations, e.Capped = &it, res.CG.Capped
		if !res.CG.Converged {
			e.Note = "not converged: " + res.CG.Reason
		}
		return nil
	}))
	solveWith := func(h **mat.Dense, label string) func(e *Entry) error {
		return func(e *Entry) error {
			if *h == nil {
				return fmt.Errorf("no %s block (see its Hv entry)", label)
			}
			a := *h
			if s.exactDamp > 0 {
				var err error
				if a, err = reference.Damp(p, l, *h, s.exactDamp); err != nil {
					return err
				}
			}
			n, _ := a.Dims()
			sol, err := reference.MinNormSolveWithin(a, append([]float64(nil), v.Flat()...), fmt.Sprintf("%s solve of block %s (-dense-time, -dense-mem)", label, name),
				&reference.Limits{MaxBytes: s.denseMem, MaxTime: s.denseTime, Busy: func(el, est time.Duration) {
					fmt.Fprintf(stderr, "    %s InvHv %s: factorising the %d×%d matrix, %.0f s of about %.0f s\n", name, label, n, n, el.Seconds(), est.Seconds())
				}})
			if err != nil {
				return err
			}
			e.sol = &sol
			u := params.FromFlat(b.Layout(), sol.U)
			e.value, e.Note = u, sol.String()
			hu, err := b.Hv(u)
			if err == nil && s.exactDamp == 0 {
				r := params.RelDiff(hu, v)
				e.Residual = &r
			}
			return nil
		}
	}
	return append(ms, m("InvHv", "dense", solveWith(&dense, "dense")), m("InvHv", "dense-fd", solveWith(&denseFD, "dense-fd")))
}

func fullMethods(p *hvp.Problem, v *params.Vector, s settings, stderr io.Writer) []method {
	n := v.Len()
	ms := []method{{"full", "Hv", "exact", func(e *Entry) error {
		var err error
		e.value, err = p.Hv(v)
		e.fatal = err != nil
		return err
	}}}
	for _, r := range s.steps {
		ms = append(ms, method{"full", "Hv", fmt.Sprintf("fd r=%g", r), func(e *Entry) error {
			var err error
			e.value, err = reference.HvFD(p, v, r)
			return err
		}})
	}
	dense := func(build func(*reference.Limits) (*mat.Dense, error), what, note string) func(e *Entry) error {
		return func(e *Entry) error {
			if n > s.denseMax {
				return fmt.Errorf("skipped: %d parameters > -dense-max %d", n, s.denseMax)
			}
			tick := every(stderr, "full "+what)
			h, err := build(&reference.Limits{MaxBytes: s.denseMem, MaxTime: s.denseTime, Progress: func(d, t int) { tick(d, t, " columns") }})
			if err != nil {
				return err
			}
			e.value, e.Note = matVec(h, v), note
			return nil
		}
	}
	return append(ms,
		method{"full", "Hv", "dense", dense(func(l *reference.Limits) (*mat.Dense, error) { return reference.DenseHessian(p, l) },
			"dense", "dense Hessian of exact R-pass columns")},
		method{"full", "Hv", "dense-fd", dense(func(l *reference.Limits) (*mat.Dense, error) { return reference.DenseHessianFD(p, 0, l) },
			"dense-fd", "central differences of the gradient, Richardson-extrapolated: O(r⁴) truncation")})
}

func fillResult(e *Entry, res *hvp.Result) {
	e.value = res.U
	r, c := res.Residual, res.Certified
	e.Residual, e.Certified, e.Kind = &r, &c, res.Kind.String()
	if res.Note != "" {
		e.Note = res.Note
	}
}

// compare fills each entry's relative differences to the exact and the
// dense results of the same block and product.
func compare(rep *Report) {
	find := func(block, product, method string) *Entry {
		for _, e := range rep.Entries {
			if e.Block == block && e.Product == product && e.Method == method && e.value != nil {
				return e
			}
		}
		return nil
	}
	rel := func(a, b *params.Vector) *float64 {
		d := params.RelDiff(a, b)
		return &d
	}
	for _, e := range rep.Entries {
		if e.value == nil {
			continue
		}
		if x := find(e.Block, e.Product, "exact"); x != nil && x != e {
			e.RelToExact = rel(e.value, x.value)
		}
		// A Newton-only or uncertified B-pass result is not H⁺v: it differs
		// from the dense minimum-norm solution by a null-space component.
		if d := find(e.Block, e.Product, "dense"); d != nil && d != e && e.Method != "newton-only" && e.Method != "uncertified" {
			e.RelToDense = rel(e.value, d.value)
		}
	}
}

// matVec returns h v, of v's layout (h is n×n for v's n values).
func matVec(h *mat.Dense, v *params.Vector) *params.Vector {
	n, _ := h.Dims()
	var y mat.VecDense
	y.MulVec(h, mat.NewVecDense(n, append([]float64(nil), v.Flat()...)))
	return params.FromFlat(v.Layout(), y.RawVector().Data)
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
		case e.Product == "InvHv" && e.Method == "uncertified", strings.HasPrefix(e.Note, "this block's result"):
			fmt.Fprintf(w, "       %s\n", e.Note)
		}
	}
	fmt.Fprintf(w, "\n.npy results and report.json in %s; \"dense\" is built from exact R-pass columns, \"dense-fd\" from finite differences, each only up to %d parameters (-dense-max)\n", s.out, s.denseMax)
}
