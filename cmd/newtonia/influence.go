package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/newtonia/newtonia/influence"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/stat"
	"gorgonia.org/tensor"
)

const influenceUsage = `usage: newtonia influence -train-x X.npy -train-y Y.npy -test-x X.npy -test-y Y.npy [-block l] [-method exact,cg,lissa] [-out scores.npy] [-force] [-json] NET.json

The influence of every training row on the test loss (Koh & Liang 2017),
I_i = −∇ℓ_testᵀ H_ll⁻¹ ∇_l ℓ(z_i), for one block of NET.json's net (its
weights; its own x and y are not used): H_ll is the Hessian block of the loss
over the training rows, inverted by the exact B-pass where the block's is
exact, else by a dense solve of its per-sample curvature (-method exact);
cg and lissa estimate it by conjugate gradients or LiSSA on the exact Hv,
each reported with its residual. Removing row i from the (summed) training
loss changes the test loss by about −I_i. The scores are written as an
n × m .npy, one column per -method in its order, atomically; the most
helpful and harmful rows are those of the first method.`

// influenceReport is what influence prints.
type influenceReport struct {
	Block    string  `json:"block"`
	Train    int     `json:"train"`
	Test     int     `json:"test"`
	Inverse  string  `json:"inverse"` // who computed H_ll⁻¹ ∇ℓ_test (the first method), and its residual
	Residual float64 `json:"residual"`
	Out      string  `json:"out"`
	// Methods are the -method columns of the .npy, in order.
	Methods []influenceMethod `json:"methods"`
	// Helpful and Harmful are the training rows whose removal would raise
	// (lower) the test loss most: the largest (smallest) −I_i.
	Helpful []int `json:"helpful"`
	Harmful []int `json:"harmful"`
}

// influenceMethod is one column of the scores.
type influenceMethod struct {
	Method   influence.Method `json:"method"`
	Inverse  string           `json:"inverse"` // its label, residual included
	Residual float64          `json:"residual"`
	Seconds  float64          `json:"seconds"` // the inverse product and the scores
	// Pearson is the correlation of its scores with the first method's.
	Pearson float64 `json:"pearson"`
}

func influenceCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("influence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, influenceUsage); fs.PrintDefaults() }
	trainX := fs.String("train-x", "", "training inputs, rows × n0 (.npy)")
	trainY := fs.String("train-y", "", "training targets, rows × nL (.npy)")
	testX := fs.String("test-x", "", "test inputs (.npy)")
	testY := fs.String("test-y", "", "test targets (.npy)")
	block := fs.Int("block", -1, "the block (0-based; -1: the last layer)")
	methods := fs.String("method", "exact", "comma-separated: exact, cg, lissa (one .npy column each)")
	cgTol := fs.Float64("cg-tol", 1e-10, "cg: relative residual to reach")
	cgIters := fs.Int("cg-iters", 0, "cg: iteration cap (0: min(2n, 1000) for n block parameters)")
	lissaIters := fs.Int("lissa-iters", 1000, "lissa: recursion steps")
	lissaScale := fs.Float64("lissa-scale", 0, "lissa: scale, above λ_max(H_ll) (0: 1.1·λ_max by Lanczos)")
	lissaDamping := fs.Float64("lissa-damping", 0, "lissa: damping λ of (H_ll + λI)")
	out := fs.String("out", "influence.npy", "where to write the scores (n × 1 .npy)")
	force := fs.Bool("force", false, "replace -out if it exists")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "newtonia influence: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() != 1 {
		return usageErr("want one NET.json")
	}
	for _, f := range []struct{ name, v string }{{"-train-x", *trainX}, {"-train-y", *trainY}, {"-test-x", *testX}, {"-test-y", *testY}} {
		if f.v == "" {
			return usageErr("%s is required", f.name)
		}
	}
	var ms []influence.Method
	for _, name := range strings.Split(*methods, ",") {
		m, err := influence.ParseMethod(strings.TrimSpace(name))
		if err != nil {
			return usageErr("-method: %v", err)
		}
		if slices.Contains(ms, m) {
			return usageErr("-method: %s twice", m)
		}
		ms = append(ms, m)
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	net, err := nets.Load(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	p0, err := newProducts(net)
	if err != nil {
		return fail(err)
	}
	if *block < -1 || *block >= p0.Blocks() {
		return usageErr("-block %d: the net has blocks 0 to %d", *block, p0.Blocks()-1)
	}
	l := *block
	if l == -1 {
		l = p0.Blocks() - 1
	}
	w, err := p0.Current()
	if err != nil {
		return fail(err)
	}
	arrays := map[string]*tensor.Dense{}
	for _, f := range []struct{ name, path string }{{"-train-x", *trainX}, {"-train-y", *trainY}, {"-test-x", *testX}, {"-test-y", *testY}} {
		if arrays[f.name], err = nets.ReadNpy(f.path); err != nil {
			return fail(fmt.Errorf("%s: %w", f.name, err))
		}
	}
	// bind builds the net of the file's spec for rows x, y, at weights w.
	bind := func(what string, x, y *tensor.Dense) (*nets.MLP, error) {
		xs, ys := x.Shape(), y.Shape()
		if xs[0] != ys[0] || xs[1] != net.Spec.In || ys[1] != net.Spec.Layers[len(net.Spec.Layers)-1].Out {
			return nil, fmt.Errorf("%s: x is %v and y %v; the net wants rows × %d and rows × %d", what, xs, ys, net.Spec.In, net.Spec.Layers[len(net.Spec.Layers)-1].Out)
		}
		spec := net.Spec
		spec.Batch = xs[0]
		m, err := nets.Build(spec)
		if err != nil {
			return nil, err
		}
		return m, m.Set(x, y, w.Tensors())
	}
	train, err := bind("training rows", arrays["-train-x"], arrays["-train-y"])
	if err != nil {
		return fail(err)
	}
	test, err := bind("test rows", arrays["-test-x"], arrays["-test-y"])
	if err != nil {
		return fail(err)
	}
	pTrain, err := newProducts(&nets.Loaded{MLP: train})
	if err != nil {
		return fail(err)
	}
	pTest, err := newProducts(&nets.Loaded{MLP: test})
	if err != nil {
		return fail(err)
	}
	_, gTest, err := pTest.Gradient()
	if err != nil {
		return fail(fmt.Errorf("test gradient: %w", err))
	}
	// Per-row gradients, from a one-row copy of the net.
	xt, yt := arrays["-train-x"], arrays["-train-y"]
	rows, nIn, nOut := xt.Shape()[0], xt.Shape()[1], yt.Shape()[1]
	xd, yd := xt.Float64s(), yt.Float64s()
	row0 := func(d []float64, i, k int) *tensor.Dense {
		return tensor.New(tensor.WithShape(1, k), tensor.WithBacking(append([]float64(nil), d[i*k:(i+1)*k]...)))
	}
	one, err := bind("a training row", row0(xd, 0, nIn), row0(yd, 0, nOut))
	if err != nil {
		return fail(err)
	}
	pOne, err := newProducts(&nets.Loaded{MLP: one})
	if err != nil {
		return fail(err)
	}
	grads := make([]*params.Vector, rows)
	for i := range rows {
		if err := one.Set(row0(xd, i, nIn), row0(yd, i, nOut), w.Tensors()); err != nil {
			return fail(err)
		}
		_, g, err := pOne.Gradient()
		if err != nil {
			return fail(fmt.Errorf("gradient of training row %d: %w", i, err))
		}
		grads[i] = g.Block(l).Clone()
	}
	gl := gTest.Block(l).Clone()
	var results []*influence.Result
	var cols []float64 // rows × len(ms), row-major
	rep := influenceReport{Block: pTrain.Block(l).Name(), Train: rows, Test: arrays["-test-x"].Shape()[0], Out: *out}
	for _, m := range ms {
		start := time.Now()
		var res *influence.Result
		switch m {
		case influence.MethodExact:
			res, err = influence.Scores(pTrain, l, gl, grads, nil)
		case influence.MethodCG:
			res, err = influence.ScoresCG(pTrain, l, gl, grads, &solver.CGOptions{Tol: *cgTol, MaxIter: *cgIters})
		case influence.MethodLiSSA:
			scale := *lissaScale
			if scale == 0 {
				top, err := spectral.Lanczos(spectral.BlockHessian(pTrain.Block(l)), 1, spectral.LargestAlgebraic, nil)
				if err != nil {
					return fail(fmt.Errorf("lissa: λ_max of block %s for the scale: %w", pTrain.Block(l).Name(), err))
				}
				scale = 1.1 * (top.Values[0] + *lissaDamping)
			}
			res, err = influence.ScoresLiSSA(pTrain, l, gl, grads, influence.LiSSAOptions{Scale: scale, Damping: *lissaDamping, Iters: *lissaIters})
		}
		if err != nil {
			return fail(fmt.Errorf("-method %s: %w", m, err))
		}
		results = append(results, res)
		rep.Methods = append(rep.Methods, influenceMethod{Method: m, Inverse: res.Label(), Residual: res.Inverse.Residual,
			Seconds: time.Since(start).Seconds(), Pearson: stat.Correlation(res.Scores, results[0].Scores, nil)})
	}
	for i := range rows {
		for _, r := range results {
			cols = append(cols, r.Scores[i])
		}
	}
	if err := nets.WriteNpy(*out, tensor.New(tensor.WithShape(rows, len(ms)), tensor.WithBacking(cols)), *force); err != nil {
		return fail(err)
	}
	res := results[0]
	rep.Inverse, rep.Residual = rep.Methods[0].Inverse, res.Inverse.Residual
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return res.Scores[idx[a]] < res.Scores[idx[b]] })
	k := min(5, rows)
	rep.Helpful = append([]int(nil), idx[:k]...)
	for i := range k {
		rep.Harmful = append(rep.Harmful, idx[rows-1-i])
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "influence of %d training rows on the loss over %d test rows, block %s\n", rep.Train, rep.Test, rep.Block)
	for _, m := range rep.Methods {
		fmt.Fprintf(stdout, "  %-5s H_ll⁻¹ ∇ℓ_test: %s; %.3g s", m.Method, m.Inverse, m.Seconds)
		if m.Method != rep.Methods[0].Method {
			fmt.Fprintf(stdout, "; Pearson %.6f with %s", m.Pearson, rep.Methods[0].Method)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "  most helpful (removal raises the test loss most, by %s): rows %v\n", rep.Methods[0].Method, rep.Helpful)
	fmt.Fprintf(stdout, "  most harmful (removal lowers it most):            rows %v\n", rep.Harmful)
	fmt.Fprintf(stdout, "  scores written to %s\n", rep.Out)
	return exitOK
}
