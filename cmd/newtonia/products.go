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

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// settings of the products command.
type settings struct {
	out      string
	steps    []float64
	cgTol    float64
	cgIter   int
	damping  float64
	denseMax int
	asJSON   bool
	force    bool
}

// Entry is one product by one method in the report.
type Entry struct {
	Block        string   `json:"block"`   // a weight's name, or "full" for the whole Hessian
	Product      string   `json:"product"` // "Hv" or "InvHv"
	Method       string   `json:"method"`  // "exact", "fd r=…", "cg", "dense"
	Files        []string `json:"files,omitempty"`
	RelToDense   *float64 `json:"rel_to_dense,omitempty"`
	RelToExact   *float64 `json:"rel_to_exact,omitempty"`
	Residual     *float64 `json:"residual,omitempty"` // InvHv: ‖H_ll u − v‖/‖v‖ with the exact Hv
	Kind         string   `json:"kind,omitempty"`
	Certified    *bool    `json:"certified,omitempty"`
	Seconds      float64  `json:"seconds"`
	CGIterations *int     `json:"cg_iterations,omitempty"`
	Note         string   `json:"note,omitempty"`

	value []*tensor.Dense
}

// Report is what products prints.
type Report struct {
	Net        string         `json:"net"`
	Directions string         `json:"directions"`
	Conditions hvp.Conditions `json:"conditions"`
	Entries    []*Entry       `json:"entries"`
}

func products(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("products", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.out, "out", "newtonia-products", "folder for the .npy results and report.json")
	stepList := fs.String("r", "1e-6,1e-4", "finite-difference steps, comma-separated: the perturbation r·v/‖v‖ has norm r")
	fs.Float64Var(&s.cgTol, "cg-tol", 1e-10, "conjugate-gradient target residual")
	fs.IntVar(&s.cgIter, "cg-maxiter", 0, "conjugate-gradient iteration cap (0: twice the unknowns)")
	fs.Float64Var(&s.damping, "damping", 0, "conjugate-gradient damping λ, solving (H + λI) u = v")
	fs.IntVar(&s.denseMax, "dense-max", 1024, "largest parameter count for a dense Hessian reference (block or full); its finite differences cost 4 gradients per parameter and n² memory")
	fs.BoolVar(&s.asJSON, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&s.force, "force", false, "replace existing files")
	random := fs.String("random", "", "generate a random leaky-ReLU net with widths n0,n1,...,nL instead of reading NET.json")
	batch := fs.Int("batch", 0, "batch of the random net (0: n0)")
	seed := fs.Uint64("seed", 1, "seed of the random net")
	slope := fs.Float64("slope", 0.5, "leaky-ReLU slope of the random net")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	for _, f := range strings.Split(*stepList, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			fmt.Fprintf(stderr, "newtonia products: bad step %q in -r\n", f)
			return exitUsage
		}
		s.steps = append(s.steps, r)
	}
	var path string
	switch {
	case *random != "" && fs.NArg() == 0:
		var err error
		if path, err = generate(*random, *batch, *seed, *slope, filepath.Join(s.out, "net"), s.force); err != nil {
			fmt.Fprintln(stderr, "newtonia:", err)
			return exitError
		}
		fmt.Fprintf(stderr, "newtonia: random net saved as %s\n", path)
	case *random == "" && fs.NArg() == 1:
		path = fs.Arg(0)
	default:
		fmt.Fprintln(stderr, "newtonia products: want one NET.json, or -random without one")
		return exitUsage
	}
	rep, err := compute(path, s, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	if err := write(rep, s); err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	if s.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "newtonia:", err)
			return exitError
		}
	} else {
		printTable(stdout, rep, s)
	}
	return refusedExit(rep.Conditions, stderr)
}

// generate draws a random leaky-ReLU net (weights randn/√fan-in + I, data
// and targets randn, no directions: the gradient is used) and saves it.
func generate(widthList string, batch int, seed uint64, slope float64, dir string, force bool) (string, error) {
	var widths []int
	for _, f := range strings.Split(widthList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return "", fmt.Errorf("bad width %q in -random (want n0,n1,...,nL, each ≥ 1)", f)
		}
		widths = append(widths, n)
	}
	if len(widths) < 2 {
		return "", errors.New("-random needs at least two widths: n0,n1")
	}
	if batch == 0 {
		batch = widths[0]
	}
	var layers []nets.Layer
	for _, w := range widths[1:] {
		layers = append(layers, nets.Layer{Out: w, Act: ops.LeakyReLUFunc{Alpha: slope}})
	}
	m, err := nets.NewMLP(batch, widths[0], layers)
	if err != nil {
		return "", err
	}
	if err := m.Randomize(rand.New(rand.NewPCG(seed, 0x6e6574)), 1/math.Sqrt(float64(widths[0])), 1); err != nil {
		return "", err
	}
	return nets.Save(dir, m, nil, force)
}

// compute runs every product by every method that applies.
func compute(path string, s settings, stderr io.Writer) (*Report, error) {
	net, err := nets.Load(path)
	if err != nil {
		return nil, err
	}
	p, err := hvp.New(net.Loss, net.Weights...)
	if err != nil {
		return nil, err
	}
	rep := &Report{Net: path, Conditions: p.Conditions(), Directions: "gradient (Newton directions)"}
	var v []*tensor.Dense
	if net.Directions != nil {
		rep.Directions = "from the net file"
		for _, d := range net.Directions {
			v = append(v, d.Dense)
		}
	} else if _, v, err = p.Gradient(); err != nil {
		return nil, err
	}
	// Progress: one line on stderr per product computed.
	step, steps := 0, 1+len(s.steps) // the full Hessian's Hv
	if len(hvp.Flatten(v)) <= s.denseMax {
		steps++
	}
	for _, w := range net.Weights {
		steps += 2*len(s.steps) + 3 // Hv: exact, FD; InvHv: exact, FD, CG
		if w.Shape().TotalSize() <= s.denseMax {
			steps += 2
		}
	}
	progress := func(what string, start time.Time) {
		step++
		fmt.Fprintf(stderr, "[%d/%d] %s (%.3gs)\n", step, steps, what, time.Since(start).Seconds())
	}
	timed := func(e *Entry, f func() error) error {
		t0 := time.Now()
		err := f()
		e.Seconds = time.Since(t0).Seconds()
		progress(fmt.Sprintf("%s %s %s", e.Block, e.Product, e.Method), t0)
		return err
	}
	add := func(e *Entry) { rep.Entries = append(rep.Entries, e) }
	for l, w := range net.Weights {
		name := w.Name()
		n := w.Shape().TotalSize()
		// Hv of the block: H_ll v_l.
		exact := &Entry{Block: name, Product: "Hv", Method: "exact"}
		if err := timed(exact, func() error {
			hv, err := p.BlockHv(l, v[l])
			exact.value = []*tensor.Dense{hv}
			return err
		}); err != nil {
			return nil, err
		}
		add(exact)
		for _, r := range s.steps {
			e := &Entry{Block: name, Product: "Hv", Method: fmt.Sprintf("fd r=%g", r)}
			if err := timed(e, func() error {
				hv, err := p.HvFD(p.BlockDirection(l, v[l]), r/hvp.Norm(v[l]))
				if err == nil {
					e.value = []*tensor.Dense{hv[l]}
				}
				return err
			}); err != nil {
				return nil, err
			}
			add(e)
		}
		var dense *mat.Dense
		if n <= s.denseMax {
			e := &Entry{Block: name, Product: "Hv", Method: "dense"}
			if err := timed(e, func() error {
				var err error
				if dense, err = p.DenseBlockHessian(l, 0); err != nil {
					return err
				}
				e.value = []*tensor.Dense{matVec(dense, v[l])}
				return nil
			}); err != nil {
				return nil, err
			}
			add(e)
		}
		// H_ll⁻¹ v_l.
		inv := &Entry{Block: name, Product: "InvHv", Method: "exact"}
		_ = timed(inv, func() error {
			res, err := p.InvHvWith(l, v[l], &hvp.Options{BestEffort: true})
			if err != nil {
				inv.Note = err.Error()
				return nil
			}
			fillInverse(inv, res)
			return nil
		})
		add(inv)
		for _, r := range s.steps {
			e := &Entry{Block: name, Product: "InvHv", Method: fmt.Sprintf("fd r=%g", r)}
			_ = timed(e, func() error {
				res, err := p.InvHvFDWith(l, v[l], r/hvp.Norm(v[l]), &hvp.Options{BestEffort: true})
				if err != nil {
					e.Note = err.Error()
					return nil
				}
				fillInverse(e, res)
				return nil
			})
			add(e)
		}
		cg := &Entry{Block: name, Product: "InvHv", Method: "cg"}
		_ = timed(cg, func() error {
			res, err := p.InvHvCG(l, v[l], &hvp.CGOptions{Tol: s.cgTol, MaxIter: s.cgIter, Damping: s.damping})
			var ce *hvp.ConditionError
			if errors.As(err, &ce) && ce.Result != nil {
				res, err = ce.Result, nil
				cg.Note = "not converged: " + res.CG.Reason
			}
			if err != nil {
				cg.Note = err.Error()
				return nil
			}
			fillInverse(cg, res)
			it := res.CG.Iterations
			cg.CGIterations = &it
			return nil
		})
		add(cg)
		if dense != nil {
			e := &Entry{Block: name, Product: "InvHv", Method: "dense"}
			_ = timed(e, func() error {
				u, err := denseSolve(dense, v[l])
				if err != nil {
					e.Note = err.Error()
					return nil
				}
				e.value = []*tensor.Dense{u}
				hu, err := p.BlockHv(l, u)
				if err == nil {
					r := hvp.RelDiff(hu, v[l])
					e.Residual = &r
				}
				e.Note = "minimum-norm least squares (SVD) of the dense block"
				return nil
			})
			add(e)
		}
	}
	// Hv of the full Hessian.
	full := &Entry{Block: "full", Product: "Hv", Method: "exact"}
	if err := timed(full, func() error {
		var err error
		full.value, err = p.Hv(v)
		return err
	}); err != nil {
		return nil, err
	}
	add(full)
	for _, r := range s.steps {
		e := &Entry{Block: "full", Product: "Hv", Method: fmt.Sprintf("fd r=%g", r)}
		if err := timed(e, func() error {
			var err error
			e.value, err = p.HvFD(v, r/norm(v))
			return err
		}); err != nil {
			return nil, err
		}
		add(e)
	}
	if N := len(hvp.Flatten(v)); N <= s.denseMax {
		e := &Entry{Block: "full", Product: "Hv", Method: "dense"}
		if err := timed(e, func() error {
			h, err := p.DenseHessian(0)
			if err != nil {
				return err
			}
			var hv mat.VecDense
			hv.MulVec(h, mat.NewVecDense(N, hvp.Flatten(v)))
			e.value, err = hvp.Unflatten(hv.RawVector().Data, net.Weights)
			e.Note = "central differences of the gradient, Richardson-extrapolated: O(r⁴) truncation"
			return err
		}); err != nil {
			return nil, err
		}
		add(e)
	}
	compare(rep)
	return rep, nil
}

func fillInverse(e *Entry, res *hvp.Inverse) {
	e.value = []*tensor.Dense{res.U}
	r, c := res.Residual, res.Certified
	e.Residual, e.Certified, e.Kind = &r, &c, res.Kind.String()
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
	rel := func(a, b []*tensor.Dense) *float64 {
		d := hvp.FlatRelDiff(hvp.Flatten(a), hvp.Flatten(b))
		return &d
	}
	for _, e := range rep.Entries {
		if e.value == nil {
			continue
		}
		if x := find(e.Block, e.Product, "exact"); x != nil && x != e {
			e.RelToExact = rel(e.value, x.value)
		}
		if d := find(e.Block, e.Product, "dense"); d != nil && d != e {
			e.RelToDense = rel(e.value, d.value)
		}
	}
}

func norm(v []*tensor.Dense) float64 {
	var s float64
	for _, x := range hvp.Flatten(v) {
		s += x * x
	}
	return math.Sqrt(s)
}

func matVec(h *mat.Dense, v *tensor.Dense) *tensor.Dense {
	n, _ := h.Dims()
	var y mat.VecDense
	y.MulVec(h, mat.NewVecDense(n, append([]float64(nil), v.Float64s()...)))
	return tensor.New(tensor.WithShape(v.Shape()...), tensor.WithBacking(y.RawVector().Data))
}

// denseSolve returns the minimum-norm least-squares solution of H u = v by
// the SVD (singular values below n·ε·σ_max dropped): H⁻¹v when H is
// nonsingular, H⁺v otherwise.
func denseSolve(h *mat.Dense, v *tensor.Dense) (*tensor.Dense, error) {
	n, _ := h.Dims()
	var svd mat.SVD
	if !svd.Factorize(h, mat.SVDThin) {
		return nil, errors.New("SVD of the dense block did not converge")
	}
	rank := svd.Rank(float64(n) * 0x1p-52)
	var u mat.Dense
	svd.SolveTo(&u, mat.NewDense(n, 1, append([]float64(nil), v.Float64s()...)), rank)
	return tensor.New(tensor.WithShape(v.Shape()...), tensor.WithBacking(u.RawMatrix().Data)), nil
}

// write saves every computed value as .npy (refusing to replace files
// unless forced, checking all names before writing any) and report.json.
func write(rep *Report, s settings) error {
	if err := os.MkdirAll(s.out, 0o755); err != nil {
		return err
	}
	type file struct {
		path string
		t    *tensor.Dense
	}
	var files []file
	for _, e := range rep.Entries {
		method := strings.NewReplacer(" ", "_", "=", "").Replace(e.Method)
		for k, t := range e.value {
			name := fmt.Sprintf("%s.%s.%s.npy", e.Block, e.Product, method)
			if e.Block == "full" {
				name = fmt.Sprintf("full.%s.%s.W%d.npy", e.Product, method, k+1)
			}
			e.Files = append(e.Files, name)
			files = append(files, file{filepath.Join(s.out, name), t})
		}
	}
	report := filepath.Join(s.out, "report.json")
	if !s.force {
		for _, f := range append(files, file{path: report}) {
			if _, err := os.Stat(f.path); err == nil {
				return fmt.Errorf("%s exists (use -force to replace it)", f.path)
			}
		}
	}
	for _, f := range files {
		if err := nets.WriteNpy(f.path, f.t, s.force); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !s.force {
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(report, flag, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(js, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printTable(w io.Writer, rep *Report, s settings) {
	fmt.Fprintf(w, "net %s; directions: %s\n%v\n", rep.Net, rep.Directions, rep.Conditions)
	fmt.Fprintf(w, "%-6s %-6s %-12s %11s %11s %11s %-30s %9s %6s\n", "block", "prod.", "method", "rel. dense", "rel. exact", "residual", "kind", "time", "CG it")
	num := func(x *float64) string {
		if x == nil {
			return "—"
		}
		return fmt.Sprintf("%.2e", *x)
	}
	for _, e := range rep.Entries {
		kind := e.Kind
		if e.Certified != nil && !*e.Certified && kind != "" {
			kind += " (uncertified)"
		}
		it := ""
		if e.CGIterations != nil {
			it = strconv.Itoa(*e.CGIterations)
		}
		fmt.Fprintf(w, "%-6s %-6s %-12s %11s %11s %11s %-30s %8.2gs %6s\n", e.Block, e.Product, e.Method,
			num(e.RelToDense), num(e.RelToExact), num(e.Residual), kind, e.Seconds, it)
		if e.Note != "" && e.value == nil {
			fmt.Fprintf(w, "       %s\n", e.Note)
		}
	}
	fmt.Fprintf(w, "\n.npy results and report.json in %s; dense references only up to %d parameters (-dense-max)\n", s.out, s.denseMax)
}
