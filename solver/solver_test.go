package solver_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
	"gorgonia.org/tensor"
)

// The solver decreases the loss at every step on small nets, with every
// way of combining the block steps.
func TestNewtonDecreasesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 30))
	for i, shape := range [][]int{{4, 4, 4}, {6, 6, 6, 6}, {8, 6, 4}, {5, 5, 3}} {
		_, p := testnet.MLP(t, rng, shape[0], shape[0], shape[1:], testnet.Leaky())
		name := []string{"newton", "newton-subspace", "newton-sum", "newton-cyclic"}[i%4]
		s := newOpt(t, name, p, nil)
		prev := math.Inf(1)
		fallbacks := 0
		for i := 0; i < 5; i++ {
			rec, err := s.Step()
			if err != nil {
				t.Fatal(err)
			}
			if !(rec.LossAfter <= rec.LossBefore) || rec.LossBefore > prev {
				t.Errorf("%v %s step %d: loss %.6g → %.6g (previous %.6g)", shape, name, i, rec.LossBefore, rec.LossAfter, prev)
			}
			prev = rec.LossAfter
			fallbacks += len(rec.Fallbacks)
		}
		t.Logf("%v %s: loss after 5 steps %.3g, fallbacks %d", shape, name, prev, fallbacks)
	}
}

// One step's direction equals the dense block Newton step −H_ll⁻¹ g_l,
// from the closed-form blocks, to the blocks' conditioning (100·ε·cond, as
// for InvHv).
func TestNewtonMatchesDenseStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	m, p := testnet.Square(t, rng, 2, 3)
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	var want []*params.Vector
	var tol float64
	for l := range m.Weights {
		hb, err := m.BlockHessian(l)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, testnet.Solve(t, hb, g.Block(l)))
		tol = math.Max(tol, 100*testnet.Eps*testnet.Cond(hb))
	}
	before := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		before[k] = w.Value().(*tensor.Dense)
	}
	// CombineSum without a trust-radius cap: the step is −t·(u_1, …, u_L).
	rec, err := newOpt(t, "newton-sum", p, &solver.BlockNewtonSettings{Radius: 1e6}).Step()
	if err != nil {
		t.Fatal(err)
	}
	if rec.StepSize == 0 || len(rec.Fallbacks) != 0 {
		t.Fatalf("step %+v", rec)
	}
	for l, w := range m.Weights {
		after := w.Value().(*tensor.Dense)
		u := make([]float64, 9)
		for i := range u {
			u[i] = (before[l].Float64s()[i] - after.Float64s()[i]) / rec.StepSize
		}
		if e := flatRelDiff(u, want[l].Flat()); e > tol {
			t.Errorf("block %d: direction vs dense Newton: %.2e > %.2e", l, e, tol)
		}
	}
}

// A refused block (batch > fan-in, its dense route above a flop cap of 1,
// Checks.MaxFlops) falls back — by default to the dense per-sample solve,
// with the subspace combination to CG — and it is counted and explained.
func TestNewtonFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	_, p := testnet.MLP(t, rng, 8, 3, []int{3, 3}, testnet.Leaky())
	capped := hvp.Options{MaxFlops: 1}
	rec, det, err := newtonStep(newOpt(t, "newton", p, &solver.DampedNewtonSettings{Checks: capped}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Fallbacks) == 0 || !strings.Contains(det.Blocks[0].Replaced, "dense per-sample solve") || !(rec.LossAfter < rec.LossBefore) {
		t.Fatalf("default: %+v", rec)
	}
	rec, det, err = newtonStep(newOpt(t, "newton-subspace", p, &solver.BlockNewtonSettings{Checks: capped}))
	if err != nil {
		t.Fatal(err)
	}
	// Step.Fallbacks names every block replaced, with BlockStep.Replaced as its reason.
	if len(rec.Fallbacks) == 0 || rec.Fallbacks[0].Block != 0 || rec.Fallbacks[0].Reason != det.Blocks[0].Replaced || rec.Fallbacks[0].Weight != p.Block(0).Name() {
		t.Fatalf("no fallback counted: %+v", rec)
	}
	b := det.Blocks[0]
	if b.Direction != solver.DirectionCG || !strings.Contains(b.Replaced, "Options.MaxFlops") || !(b.Slope > 0) {
		t.Errorf("block 0: %+v", b)
	}
	if !(rec.LossAfter < rec.LossBefore) {
		t.Errorf("loss %.6g → %.6g", rec.LossBefore, rec.LossAfter)
	}
	// With the gradient fallback the step is a gradient step on that block.
	_, det, err = newtonStep(newOpt(t, "newton-subspace", p, &solver.BlockNewtonSettings{Fallback: solver.FallbackGradient, Checks: capped}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(det.Blocks[0].Replaced, "gradient step") {
		t.Errorf("gradient fallback: %+v", det.Blocks[0])
	}
}

// DampedNewton as a gorgonia.Solver (AsSolver) writes the new weights into the model.
func TestNewtonAsGorgoniaSolver(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 33))
	m, p := testnet.Square(t, rng, 2, 4)
	own := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		own[k] = w.Value().(*tensor.Dense).Clone().(*tensor.Dense)
	}
	_, g, _ := p.Gradient()
	model, err := solver.ValueGrads(p, g)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := p.LossAt(nil)
	if err := solver.AsSolver(newOpt(t, "newton", p, nil), p).Step(model); err != nil {
		t.Fatal(err)
	}
	after, _ := p.LossAt(nil)
	if !(after < before) {
		t.Errorf("loss %.6g → %.6g", before, after)
	}
	for k := range model {
		got := model[k].Value().(*tensor.Dense).Float64s()
		want := m.Weights[k].Value().(*tensor.Dense).Float64s()
		if flatRelDiff(got, want) != 0 {
			t.Errorf("model %d not updated to the new weights", k)
		}
	}
	_ = own
}

// The gonum adapter: Func and Grad agree with Gradient, and LBFGS lowers
// the loss.
func TestGonumProblem(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 34))
	_, p := testnet.Square(t, rng, 2, 4)
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	x0 := append([]float64(nil), w0.Flat()...)
	var perr error
	prob := solver.Problem(p, &perr)
	loss, g, _ := p.Gradient()
	if f := prob.Func(x0); f != loss {
		t.Errorf("Func %.17g, loss %.17g", f, loss)
	}
	grad := make([]float64, len(x0))
	prob.Grad(grad, x0)
	if flatRelDiff(grad, g.Flat()) != 0 {
		t.Error("Grad differs from Gradient")
	}
	res, err := optimize.Minimize(prob, x0, &optimize.Settings{MajorIterations: 50}, &optimize.LBFGS{})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if perr != nil {
		t.Fatal(perr)
	}
	if !(res.F < loss/10) {
		t.Errorf("LBFGS: loss %.4g → %.4g", loss, res.F)
	}
}

// Exact-else-CG: a refused block (here batch > fan-in with its dense route
// above a flop cap of 1) is solved by CG on the exact Hv, and the result
// says so. The block of a batch > fan-in net is positive definite
// (H_ll = J_lᵀJ_l with J_l of full column rank), so CG converges.
func TestFallbackToCG(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 19))
	m, p := testnet.MLP(t, rng, 8, 3, []int{3, 3}, testnet.Leaky())
	v := testnet.RandLike(rng, m)
	res, err := solver.InvHv(p, 0, v.Block(0), &hvp.Options{MaxFlops: 1}, &solver.CGOptions{Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != hvp.MethodCG || !strings.Contains(res.Note, "fell back") || !res.Certified {
		t.Fatalf("result %+v", res)
	}
	hb, _ := m.BlockHessian(0)
	ref := testnet.Solve(t, hb, v.Block(0))
	// CG to a relative residual of 1e-10 on a block of condition κ: error ≤ κ·1e-10.
	if e, tol := params.RelDiff(res.U, ref), mat.Cond(hb, 2)*1e-10; e > tol {
		t.Errorf("CG vs dense: %.2e > %.2e", e, tol)
	}
	t.Logf("residual %.2e; %s", res.Residual, res.Note)
}

// CG on the full Hessian with damping, against the dense solve.
func TestCGFullHessian(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 20))
	m, p := testnet.Square(t, rng, 2, 3)
	v := testnet.RandLike(rng, m)
	h, err := reference.DenseHessianFD(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := h.Dims()
	// A damping above |λ_min| makes H + λI positive definite.
	var eig mat.EigenSym
	eig.Factorize(mat.NewSymDense(n, testnet.Symmetrize(h).RawMatrix().Data), false)
	lambda := math.Max(0, -eig.Values(nil)[0]) + 1
	u, stats, err := solver.InvHvCGFull(p, v, &solver.CGOptions{Tikhonov: lambda, Tol: 1e-12})
	if err != nil || !stats.Converged {
		t.Fatalf("%v %+v", err, stats)
	}
	hd := mat.DenseCopyOf(h)
	for i := 0; i < n; i++ {
		hd.Set(i, i, hd.At(i, i)+lambda)
	}
	var ref mat.VecDense
	if err := ref.SolveVec(hd, mat.NewVecDense(n, v.Flat())); err != nil {
		t.Fatal(err)
	}
	// The dense Hessian carries an O(r⁴) truncation error of ~1e-11 (see
	// TestHvMatchesDenseHessian): 1e-8 relative leaves room for cond(H + λI).
	if e := flatRelDiff(u.Flat(), ref.RawVector().Data); e > 1e-8 {
		t.Errorf("CG full vs dense: %.2e", e)
	}
	// Without damping the full Hessian is indefinite here: CG stops and says why.
	if eig.Values(nil)[0] < 0 {
		_, stats, err := solver.InvHvCGFull(p, v, nil)
		if stats == nil || stats.Converged != (err == nil) {
			t.Fatalf("stats %+v, error %v", stats, err)
		}
		if stats.Converged && stats.Residual > 1e-8 {
			t.Errorf("indefinite H: CG claims convergence at residual %.2e", stats.Residual)
		}
		t.Logf("undamped, indefinite H: %+v", *stats)
	}
}

func weights(m *nets.MLP) []*tensor.Dense {
	out := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		out[k] = w.Value().(*tensor.Dense)
	}
	return out
}

// CG is bounded by default: at most min(2n, DefaultCGMaxIter) iterations
// and DefaultCGMaxTime; a solve stopped by a cap returns its iterate with
// an *errs.LimitError saying which (the default cap of 2n let the compare
// tool run for hours on a 256-wide net, silently).
func TestCGCaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 35))
	m, p := testnet.Square(t, rng, 3, 6)
	v := testnet.RandLike(rng, m)
	res, err := solver.InvHvCG(p, 0, v.Block(0), &solver.CGOptions{Tol: 1e-300})
	var le *errs.LimitError
	if res == nil || !errors.As(err, &le) || le.Resource != "iterations" || res.CG.Capped != "iterations" || res.CG.Iterations != 72 || res.Certified {
		t.Fatalf("iteration cap: %+v, %v", res, err)
	}
	res, err = solver.InvHvCG(p, 0, v.Block(0), &solver.CGOptions{MaxTime: 1})
	if res == nil || !errors.As(err, &le) || le.Resource != "time" || res.CG.Capped != "time" || res.CG.Iterations > 1 {
		t.Fatalf("time cap: %+v, %v", res, err)
	}
	calls := 0
	res, err = solver.InvHvCG(p, 0, v.Block(0), &solver.CGOptions{MaxIter: 5, Progress: func(int, float64) { calls++ }})
	if calls != 5 || res.CG.Iterations != 5 || !errors.Is(err, errs.ErrLimit) {
		t.Errorf("progress: %d calls, %+v, %v", calls, res.CG, err)
	}
	for _, bad := range []*solver.CGOptions{{Tol: -1}, {MaxIter: -5}, {Tikhonov: math.NaN()}, {Tikhonov: -1}, {MaxTime: -1}} {
		if _, err := solver.InvHvCG(p, 0, v.Block(0), bad); !errors.Is(err, errs.ErrArgument) {
			t.Errorf("%+v: %v, want ErrArgument", *bad, err)
		}
	}
	// Converged: certified, no error, and the solve agrees with the dense one.
	res, err = solver.InvHvCG(p, 2, v.Block(2), &solver.CGOptions{Tol: 1e-10, MaxIter: 1000})
	if err != nil || !res.Certified || !res.CG.Converged {
		t.Fatalf("converged: %+v, %v", res, err)
	}
}

// CG along directions of norm 1e±300 solves the scaled system (its dot
// products overflowed).
func TestCGExtremeScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(36, 36))
	m, p := testnet.Square(t, rng, 2, 3)
	v := testnet.RandLike(rng, m).Block(1)
	base, err := solver.InvHvCG(p, 1, v, &solver.CGOptions{Tol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{1e300, 1e-300} {
		vs := v.Clone()
		for i := range vs.Flat() {
			vs.Flat()[i] *= s
		}
		res, err := solver.InvHvCG(p, 1, vs, &solver.CGOptions{Tol: 1e-12})
		if err != nil || !res.Certified {
			t.Fatalf("scale %g: %+v, %v", s, res, err)
		}
		got := res.U.Clone()
		for i := range got.Flat() {
			got.Flat()[i] /= s
		}
		if e := params.RelDiff(got, base.U); e > 1e-12 {
			t.Errorf("scale %g: %.2e", s, e)
		}
	}
}
