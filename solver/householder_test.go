package solver_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// cubicProblem returns f(x) − ⟨c, x⟩ for x a 3×1 weight at x0: the
// writeup's functions made to have a regular stationary point.
func cubicProblem(t testing.TB, f func(*G.Node) (*G.Node, error), x0, c []float64) *hvp.Problem {
	t.Helper()
	g := G.NewGraph()
	col := func(d []float64) *tensor.Dense {
		return tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), d...)))
	}
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(col(x0)))
	cn := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("c"), G.WithValue(col(c)))
	loss, err := ops.Sub(G.Must(f(x)), G.Must(ops.Inner(cn, x)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tanhBlockProblem returns a tanh net's last block (W2+b2) with targets
// of a teacher (reachable: J = 0 at the solution) and batch = fan-in + 1,
// so that the per-sample B-pass is exact, started at the teacher's
// weights perturbed by scale.
func tanhBlockProblem(t *testing.T, rng *rand.Rand, act ops.ScalarFunc, scale float64) (*hvp.Problem, int) {
	t.Helper()
	const in, hid, out = 3, 4, 2
	m, err := nets.Build(nets.Spec{Batch: hid + 1, In: in, Layers: []nets.Layer{{Out: hid, Act: act, Bias: true}, {Out: out, Act: act, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.7, 0); err != nil {
		t.Fatal(err)
	}
	// y = the net's output at the teacher's weights, by Gorgonia's own
	// machine (before the passes are added to the graph).
	if err := G.Let(m.Y, tensor.New(tensor.WithShape(hid+1, out), tensor.WithBacking(make([]float64, (hid+1)*out)))); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(m.Graph)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y := m.Out.Value().(*tensor.Dense).Clone().(*tensor.Dense)
	vm.Close()
	if err := G.Let(m.Y, y); err != nil {
		t.Fatal(err)
	}
	teacher, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	w, err := teacher.Current()
	if err != nil {
		t.Fatal(err)
	}
	l := teacher.Blocks() - 1
	b := w.Block(l)
	for k := range b.Layout().Weights() {
		for i := range b.Weight(k) {
			b.Weight(k)[i] += scale * rng.NormFloat64()
		}
	}
	if err := teacher.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	return teacher, l
}

// The Householder steps converge with their orders: Newton's ≈ 2,
// Halley's and Chebyshev's ≥ 2.8 (theory: 3), and reach ‖g‖ ≤ 1e-12 in
// fewer iterations than Newton on the writeup's functions and a tanh net's
// block. The orders are estimated where the errors are above 1e-14: the
// rounding floor of ‖g‖ on these problems is about 1e-16 (the runs end
// there), so estimates from errors a hundred times above it are the
// method's, not rounding's.
func TestHouseholderOrders(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	// Σ xᵢ³ − ⟨c, x⟩, c = 3a²: root a. x₁x₂x₃ − ⟨c, x⟩: root P/c, P = √(c₁c₂c₃).
	a := []float64{1, -1.5, 2}
	c3 := []float64{3 * a[0] * a[0], 3 * a[1] * a[1], 3 * a[2] * a[2]}
	type problem struct {
		name string
		make func() (*hvp.Problem, int)
	}
	problems := []problem{
		{"Σ xᵢ³ − ⟨c, x⟩", func() (*hvp.Problem, int) { return cubicProblem(t, sumCubes, []float64{1.1, -1.3, 2.2}, c3), 0 }},
		{"x₁x₂x₃ − ⟨c, x⟩", func() (*hvp.Problem, int) {
			return cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}), 0
		}},
		{"tanh net, last block", func() (*hvp.Problem, int) {
			return tanhBlockProblem(t, rand.New(rand.NewPCG(23, 23)), ops.TanhFunc{}, 0.15) // the same problem for every method
		}},
	}
	for _, pr := range problems {
		iters := map[solver.Householder]int{}
		for _, m := range []solver.Householder{solver.HouseholderNewton, solver.HouseholderHalley, solver.HouseholderChebyshev} {
			p, l := pr.make()
			tr, err := solver.IterateBlock(p, l, m, 30, 1e-12, nil)
			if err != nil {
				t.Fatalf("%s, %v: %v (errors %.3g)", pr.name, m, err, tr.Errors)
			}
			e := tr.Errors
			if e[len(e)-1] > 1e-12 {
				t.Fatalf("%s, %v: not converged: %.3g", pr.name, m, e)
			}
			iters[m] = len(e) - 1
			ord := solver.Orders(e, 1e-14)
			if len(ord) == 0 {
				t.Fatalf("%s, %v: no order estimate from %.3g", pr.name, m, e)
			}
			top := ord[len(ord)-1]
			t.Logf("%s, %v: %d iterations, errors %.2g, orders %.2f", pr.name, m, iters[m], e, ord)
			switch m {
			case solver.HouseholderNewton:
				if top < 1.7 || top > 2.5 {
					t.Errorf("%s: Newton's order %.2f, want ≈ 2", pr.name, top)
				}
			default:
				if top < 2.8 {
					t.Errorf("%s: %v's order %.2f, want ≥ 2.8", pr.name, m, top)
				}
			}
			for _, st := range tr.Steps {
				if !st.Certified {
					t.Errorf("%s, %v: a step not certified (residual %.2g)", pr.name, m, st.Residual)
				}
			}
		}
		for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
			if iters[m] >= iters[solver.HouseholderNewton] {
				t.Errorf("%s: %v took %d iterations, Newton %d", pr.name, m, iters[m], iters[solver.HouseholderNewton])
			}
		}
	}
}

// Within an activation pattern a one-layer leaky net with squared error
// is quadratic: T = 0, so Halley's and Chebyshev's steps are Newton's,
// to rounding.
func TestHalleyIsNewtonWhenTIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 4, Layers: []nets.Layer{{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gl := g.Block(0).Clone()
	newton, err := solver.BlockHouseholder(p, 0, gl, solver.HouseholderNewton, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
		st, err := solver.BlockHouseholder(p, 0, gl, m, nil)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if d := flatRelDiff(st.S.Flat(), newton.S.Flat()); d > 1e-14 {
			t.Errorf("%v's step differs from Newton's by %.1e with T = 0", m, d)
		}
	}
}

// Bad arguments are typed errors naming them.
func TestHouseholderArguments(t *testing.T) {
	p := cubicProblem(t, ops.Product, []float64{1, 2, 3}, []float64{1, 1, 1})
	g := params.New(p.Layout().Block(0))
	var ae *errs.ArgumentError
	if _, err := solver.BlockHouseholder(p, 0, g, solver.Householder(7), nil); !errors.As(err, &ae) || ae.What != "method" {
		t.Errorf("method 7: %v", err)
	}
	if _, err := solver.BlockHouseholder(p, 0, g, solver.HouseholderHalley, &solver.HouseholderOptions{GMRESTol: 2}); !errors.As(err, &ae) || ae.What != "HouseholderOptions.GMRESTol" {
		t.Errorf("GMRESTol 2: %v", err)
	}
	for _, o := range []solver.HouseholderOptions{{Forcing: -1}, {Forcing: math.Inf(1)}, {MaxInner: -1}} {
		want := "HouseholderOptions.Forcing"
		if o.MaxInner != 0 {
			want = "HouseholderOptions.MaxInner"
		}
		if _, err := solver.BlockHouseholder(p, 0, g, solver.HouseholderHalley, &o); !errors.As(err, &ae) || ae.What != want {
			t.Errorf("%+v: %v, want an ArgumentError on %s", o, err, want)
		}
	}
	for _, v := range []float64{-1, math.Inf(1), math.NaN()} {
		if _, err := solver.IterateBlock(p, 0, solver.HouseholderChebyshev, 3, 1e-12, &solver.HouseholderOptions{SkipSafety: v}); !errors.As(err, &ae) || ae.What != "HouseholderOptions.SkipSafety" {
			t.Errorf("SkipSafety %g: %v", v, err)
		}
	}
	if _, err := solver.BlockHouseholder(p, 3, g, solver.HouseholderHalley, nil); !errors.As(err, &ae) || ae.What != "block" {
		t.Errorf("block 3: %v", err)
	}
	if o := solver.Orders([]float64{1, 0.1}, 0); o != nil {
		t.Errorf("Orders of two errors: %v, want none", o)
	}
}

// BlockNewton with Degree 2 takes Halley's (or Chebyshev's) step on every
// block: on the writeup's x₁x₂x₃ − ⟨c, x⟩ (one block, so the subspace
// coefficient is 1 and the line search takes full steps near the
// solution) it reaches ‖g‖ ≤ 1e-12 in fewer steps than Degree 1, and
// records the degree used. Degree 3 is refused, naming the field.
func TestBlockNewtonDegree(t *testing.T) {
	steps := map[string]int{}
	for _, c := range []struct {
		name string
		s    solver.BlockNewtonSettings
	}{
		{"newton", solver.BlockNewtonSettings{}},
		{"halley", solver.BlockNewtonSettings{Degree: 2}},
		{"chebyshev", solver.BlockNewtonSettings{Degree: 2, Chebyshev: true}},
	} {
		p := cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})
		o, err := solver.NewBlockNewton(p, &c.s)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			_, g, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			if g.Norm() <= 1e-12 {
				steps[c.name] = k
				break
			}
			_, det, err := newtonStep(o)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(c.s.Degree, 1); det.Blocks[0].Degree != want {
				t.Errorf("%s, step %d: degree %d (%s), want %d", c.name, k, det.Blocks[0].Degree, det.Blocks[0].Householder, want)
			}
		}
		if steps[c.name] == 0 {
			t.Fatalf("%s: not converged in 20 steps", c.name)
		}
	}
	t.Logf("steps to ‖g‖ ≤ 1e-12: %v", steps)
	if steps["halley"] >= steps["newton"] || steps["chebyshev"] >= steps["newton"] {
		t.Errorf("steps %v: want fewer for Halley and Chebyshev than for Newton", steps)
	}
	p := cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})
	var ae *errs.ArgumentError
	if _, err := solver.NewBlockNewton(p, &solver.BlockNewtonSettings{Degree: 3}); !errors.As(err, &ae) || ae.What != "BlockNewtonSettings.Degree" {
		t.Errorf("Degree 3: %v", err)
	}
}

// On a two-block tanh net (CombineSubspace, the line search) Degree 2
// steps never raise the loss, every block takes Halley's step where it is
// certified, and why it did not is said otherwise.
func TestBlockNewtonDegreeTwoBlocks(t *testing.T) {
	p, _ := tanhBlockProblem(t, rand.New(rand.NewPCG(23, 23)), ops.TanhFunc{}, 0.15)
	o, err := solver.NewBlockNewton(p, &solver.BlockNewtonSettings{Degree: 2})
	if err != nil {
		t.Fatal(err)
	}
	halley := 0
	for k := 0; k < 5; k++ {
		rec, det, err := newtonStep(o)
		if err != nil {
			t.Fatal(err)
		}
		if rec.LossAfter > rec.LossBefore {
			t.Errorf("step %d: loss %.6g → %.6g", k, rec.LossBefore, rec.LossAfter)
		}
		for l, b := range det.Blocks {
			switch {
			case b.Degree == 2:
				halley++
			case b.Direction == solver.DirectionBPass && b.Householder == "":
				t.Errorf("step %d, block %d: degree %d with no reason", k, l, b.Degree)
			}
		}
	}
	if halley == 0 {
		t.Errorf("no block took Halley's step")
	}
}

// halleyDense is the exact Halley step −(H − ½T[u])⁻¹g, u = H⁻¹g, of f(x) −
// ⟨c, x⟩ at x from the closed forms of f's Hessian H(x) and third
// derivative (T[u])_kj = Σ_i ∂³f/∂x_k∂x_i∂x_j u_i, by dense LU; with ‖g‖
// and ‖(H − ½T[u])⁻¹‖₂, which turns a residual into an error bound.
func halleyDense(t *testing.T, g []float64, h *mat.Dense, tu func(u []float64) *mat.Dense) (s *mat.VecDense, gn, invNorm float64) {
	t.Helper()
	gv := mat.NewVecDense(3, g)
	var u mat.VecDense
	if err := u.SolveVec(h, gv); err != nil {
		t.Fatal(err)
	}
	var half, a, ainv mat.Dense
	half.Scale(0.5, tu(u.RawVector().Data))
	a.Sub(h, &half) // A = H − ½T[u]
	if err := ainv.Inverse(&a); err != nil {
		t.Fatal(err)
	}
	s = mat.NewVecDense(3, nil)
	s.MulVec(&ainv, gv)
	s.ScaleVec(-1, s)
	return s, mat.Norm(gv, 2), mat.Norm(&ainv, 2)
}

// The inexact Halley step (the default) and the exact one (ExactHalley,
// GMRES) against the dense Halley step from the closed forms of x₁x₂x₃ and
// Σ xᵢ³, at the writeup runs' starts and at a far start where the fixed
// point does not contract (then GMRES, and the record says so). The exact
// step must match to 1e-10 relative (GMRES stops at 1e-14·‖u‖; A's
// condition here is below 1e3). The inexact step's claim is checked, not
// restated: its certified residual ρ bounds its error, ‖S − S*‖ ≤
// ‖A⁻¹‖·ρ·‖g‖ (plus 1e-13·‖S*‖ of rounding), and ρ is within its forcing
// term κ·min(θ², 1).
func TestHalleyInexactAgainstDense(t *testing.T) {
	prod := struct {
		h, tu func(x, u []float64) *mat.Dense
	}{
		func(x, _ []float64) *mat.Dense {
			return mat.NewDense(3, 3, []float64{0, x[2], x[1], x[2], 0, x[0], x[1], x[0], 0})
		},
		func(_, u []float64) *mat.Dense {
			return mat.NewDense(3, 3, []float64{0, u[2], u[1], u[2], 0, u[0], u[1], u[0], 0})
		},
	}
	cube := struct {
		h, tu func(x, u []float64) *mat.Dense
	}{
		func(x, _ []float64) *mat.Dense {
			return mat.NewDense(3, 3, []float64{6 * x[0], 0, 0, 0, 6 * x[1], 0, 0, 0, 6 * x[2]})
		},
		func(_, u []float64) *mat.Dense {
			return mat.NewDense(3, 3, []float64{6 * u[0], 0, 0, 0, 6 * u[1], 0, 0, 0, 6 * u[2]})
		},
	}
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	cs := []struct {
		name  string
		f     func(*G.Node) (*G.Node, error)
		forms struct {
			h, tu func(x, u []float64) *mat.Dense
		}
		grad     func(x, c []float64) []float64
		x0, c    []float64
		fallback bool
	}{
		{"x₁x₂x₃", ops.Product, prod, func(x, c []float64) []float64 {
			return []float64{x[1]*x[2] - c[0], x[0]*x[2] - c[1], x[0]*x[1] - c[2]}
		}, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}, false},
		{"x₁x₂x₃ near", ops.Product, prod, func(x, c []float64) []float64 {
			return []float64{x[1]*x[2] - c[0], x[0]*x[2] - c[1], x[0]*x[1] - c[2]}
		}, []float64{2.85, 1.4, 0.71}, []float64{1, 2, 4}, false},
		{"Σ xᵢ³", sumCubes, cube, func(x, c []float64) []float64 {
			return []float64{3*x[0]*x[0] - c[0], 3*x[1]*x[1] - c[1], 3*x[2]*x[2] - c[2]}
		}, []float64{1.1, -1.3, 2.2}, []float64{3, 6.75, 12}, false},
		{"Σ xᵢ³ far", sumCubes, cube, func(x, c []float64) []float64 {
			return []float64{3*x[0]*x[0] - c[0], 3*x[1]*x[1] - c[1], 3*x[2]*x[2] - c[2]}
		}, []float64{0.4, -0.5, 0.6}, []float64{3, 6.75, 12}, true},
	}
	for _, c := range cs {
		g := c.grad(c.x0, c.c)
		want, gn, invNorm := halleyDense(t, g, c.forms.h(c.x0, nil), func(u []float64) *mat.Dense { return c.forms.tu(nil, u) })
		for _, exact := range []bool{false, true} {
			p := cubicProblem(t, c.f, c.x0, c.c)
			_, gp, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			st, err := solver.BlockHouseholder(p, 0, gp.Block(0).Clone(), solver.HouseholderHalley, &solver.HouseholderOptions{ExactHalley: exact})
			if err != nil {
				t.Fatalf("%s, exact %v: %v", c.name, exact, err)
			}
			d := mat.NewVecDense(3, append([]float64(nil), st.S.Flat()...))
			d.SubVec(d, want)
			errNorm, wn := mat.Norm(d, 2), mat.Norm(want, 2)
			t.Logf("%s, exact %v: %s, %d inner iterations, residual %.2g (forcing %.2g), error %.2g of %.2g", c.name, exact, st.Solve, st.Iterations, st.Residual, st.Forcing, errNorm, wn)
			switch {
			case !st.Certified:
				t.Errorf("%s, exact %v: not certified", c.name, exact)
			case exact || c.fallback:
				if errNorm > 1e-10*wn {
					t.Errorf("%s, exact %v: step off the dense Halley step by %.3g of %.3g", c.name, exact, errNorm, wn)
				}
				if got := strings.HasPrefix(st.Solve, "gmres"); !got || st.Forcing != 0 {
					t.Errorf("%s, exact %v: solved by %q (forcing %g), want GMRES", c.name, exact, st.Solve, st.Forcing)
				}
			default:
				if st.Solve != "fixed point" || st.Residual > st.Forcing {
					t.Errorf("%s: %q with residual %.3g, want the fixed point within its forcing %.3g", c.name, st.Solve, st.Residual, st.Forcing)
				}
				if errNorm > invNorm*st.Residual*gn+1e-13*wn {
					t.Errorf("%s: error %.3g above the residual's bound %.3g", c.name, errNorm, invNorm*st.Residual*gn)
				}
			}
		}
	}
}

// StepOrder's points against the closed form of Newton's step on Σ xᵢ³ −
// ⟨c, x⟩, c = 3a²: per coordinate x' = (x² + a²)/(2x), so e₁ = ‖3x'² − c‖
// is known exactly (to 1e-9 relative: the B-pass and the gradient round
// at 1e-16 of values up to 3e5 times the smallest e₁, 4e-5), and the slope
// must be 2 (within 0.05: e₁/e₀² is not constant over the radii) for
// Newton and 3 (within 0.1) for Chebyshev and the inexact Halley. With T
// = 0 the order is NaN.
func TestStepOrder(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	a, x0 := []float64{1, -1.5, 2}, []float64{1.1, -1.3, 2.2}
	c := []float64{3 * a[0] * a[0], 3 * a[1] * a[1], 3 * a[2] * a[2]}
	radii := []float64{0x1p-2, 0x1p-3, 0x1p-4, 0x1p-5, 0x1p-6}
	for _, m := range []solver.Householder{solver.HouseholderNewton, solver.HouseholderHalley, solver.HouseholderChebyshev} {
		p := cubicProblem(t, sumCubes, a, c)
		center, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		start := center.Clone()
		copy(start.Flat(), x0)
		ord, e0, e1, err := solver.StepOrder(p, 0, m, center, start, radii, 1e-13, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, tol := 3.0, 0.1
		if m == solver.HouseholderNewton {
			want, tol = 2, 0.05
			for i, r := range radii {
				var d float64
				for k := range a {
					x := a[k] + r*(x0[k]-a[k])
					xn := (x*x + a[k]*a[k]) / (2 * x)
					d += (3*xn*xn - c[k]) * (3*xn*xn - c[k])
				}
				if math.Abs(e1[i]-math.Sqrt(d)) > 1e-9*math.Sqrt(d) {
					t.Errorf("r = %g: e₁ %.6g, closed form %.6g", r, e1[i], math.Sqrt(d))
				}
			}
		}
		t.Logf("%v: order %.3f from e₀ %.2g, e₁ %.2g", m, ord, e0, e1)
		if math.Abs(ord-want) > tol {
			t.Errorf("%v: order %.3f, want %g ± %g", m, ord, want, tol)
		}
		if w, err := p.Current(); err != nil || w.Block(0).Flat()[0] != a[0] {
			t.Errorf("%v: weights not left at the center: %v", m, err)
		}
	}
	rng := rand.New(rand.NewPCG(23, 24))
	p, l := tanhBlockProblem(t, rng, ops.LeakyReLUFunc{Alpha: 0.5}, 0.05)
	w, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := solver.IterateBlock(p, l, solver.HouseholderNewton, 5, 1e-13, nil); err != nil {
		t.Fatal(err)
	}
	ws, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	if ord, _, _, err := solver.StepOrder(p, l, solver.HouseholderHalley, ws, w, radii, 1e-13, nil); err != nil || !math.IsNaN(ord) {
		t.Errorf("leaky block (T = 0): order %v, %v; want NaN", ord, err)
	}
}

// IterateBlock's rule (skipCorrection: safety·‖½T[u,u]‖ + ‖Hu − g‖ ≤
// tol) takes the Newton step only where the cubic correction cannot
// matter: over the writeup's functions and a
// tanh block, Halley and Chebyshev, tolerances 1e-4…1e-12, every skipped
// step must end the run (its Newton step reached tol), and no run may
// take more steps than with FullSteps. The check is shown to bite: with
// an optimistic safety factor (1e-6: the prediction a millionth of
// itself) the same sweep skips a step whose Newton step misses tol (on
// x₁x₂x₃ from e = 6.9e-6 the Newton step leaves ‖½T[u,u]‖ ≈ 2.4e-12 > 1e-12), which the
// default factor (100) does not. Each skipped step is also checked to be
// Newton's: equal to a BlockHouseholder Newton step at the same weights.
func TestSkipCorrection(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	problems := []struct {
		name string
		make func() (*hvp.Problem, int)
	}{
		{"Σ xᵢ³", func() (*hvp.Problem, int) {
			return cubicProblem(t, sumCubes, []float64{1.1, -1.3, 2.2}, []float64{3, 6.75, 12}), 0
		}},
		{"x₁x₂x₃", func() (*hvp.Problem, int) {
			return cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}), 0
		}},
		{"tanh block", func() (*hvp.Problem, int) {
			return tanhBlockProblem(t, rand.New(rand.NewPCG(23, 23)), ops.TanhFunc{}, 0.15)
		}},
	}
	// sweep returns the number of skipped steps and of those whose run did
	// not end after them, at safety factor safety (0: the default).
	sweep := func(safety float64) (skips, wrong int) {
		for _, pr := range problems {
			for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
				for _, tol := range []float64{1e-4, 1e-6, 1e-8, 1e-10, 1e-12} {
					p, l := pr.make()
					w0, err := p.Current()
					if err != nil {
						t.Fatal(err)
					}
					full, err := solver.IterateBlock(p, l, m, 30, tol, &solver.HouseholderOptions{FullSteps: true})
					if err != nil {
						t.Fatalf("%s, %v, tol %g, full steps: %v", pr.name, m, tol, err)
					}
					if err := p.SetWeights(w0); err != nil {
						t.Fatal(err)
					}
					tr, err := solver.IterateBlock(p, l, m, 30, tol, &solver.HouseholderOptions{SkipSafety: safety})
					if err != nil {
						t.Fatalf("%s, %v, tol %g: %v", pr.name, m, tol, err)
					}
					for k, st := range tr.Steps {
						if st.Skipped == "" {
							continue
						}
						skips++
						if st.Method != solver.HouseholderNewton || !(st.Correction > 0) {
							t.Errorf("%s, %v, tol %g, step %d: skipped but method %v, correction %g", pr.name, m, tol, k, st.Method, st.Correction)
						}
						if tr.Errors[k+1] > tol {
							wrong++
							if safety == 0 {
								t.Errorf("%s, %v, tol %g: step %d skipped (%s) but reached %.3g", pr.name, m, tol, k, st.Skipped, tr.Errors[k+1])
							}
						}
					}
					if safety == 0 && len(tr.Steps) > len(full.Steps) {
						t.Errorf("%s, %v, tol %g: %d steps with the rule, %d without", pr.name, m, tol, len(tr.Steps), len(full.Steps))
					}
					if e := tr.Errors[len(tr.Errors)-1]; e > tol {
						t.Errorf("%s, %v, tol %g: ended at %.3g", pr.name, m, tol, e)
					}
				}
			}
		}
		return skips, wrong
	}
	skips, _ := sweep(0)
	if skips == 0 {
		t.Fatal("the rule skipped no step of the sweep: nothing was tested")
	}
	if _, wrong := sweep(1e-6); wrong == 0 {
		t.Error("an optimistic safety factor made no wrong skip: the sweep cannot tell a wrong skip")
	}
	t.Logf("default safety: %d skipped steps, none wrong", skips)

	// A skipped step is the Newton step at its weights, bit for bit.
	p, l := problems[0].make()
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := solver.IterateBlock(p, l, solver.HouseholderChebyshev, 30, 1e-12, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetWeights(w0); err != nil {
		t.Fatal(err)
	}
	if last := tr.Steps[len(tr.Steps)-1]; last.Skipped == "" {
		t.Fatalf("Σ xᵢ³ to 1e-12: the last step was not skipped (errors %.3g): nothing to compare", tr.Errors)
	}
	for k, st := range tr.Steps {
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		if st.Skipped != "" {
			nt, err := solver.BlockHouseholder(p, l, g.Block(l).Clone(), solver.HouseholderNewton, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := flatRelDiff(nt.S.Flat(), st.S.Flat()); d != 0 {
				t.Errorf("step %d skipped: differs from the Newton step by %.3g", k, d)
			}
		}
		w, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		w.Block(l).AddScaled(1, st.S)
		if err := p.SetWeights(w); err != nil {
			t.Fatal(err)
		}
	}
}
