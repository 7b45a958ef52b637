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
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Every settings struct validates itself: each bad field, alone, makes
// the first Iterate (and Validate, and gonum's Minimize with Method) fail
// with an *errs.ArgumentError naming it, before anything moves (issue 19
// item 25: all of these were accepted, most silently).
func TestSettingsValidated(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	type row struct {
		field string
		hf    *solver.HFSettings
		nt    *solver.NewtonSettings
		kf    *solver.KFACSettings
	}
	rows := []row{
		{field: "HFSettings.Damping", hf: &solver.HFSettings{Damping: nan}},
		{field: "HFSettings.Damping", hf: &solver.HFSettings{Damping: -2}},
		{field: "HFSettings.Damping", hf: &solver.HFSettings{Damping: inf}},
		{field: "HFSettings.Armijo", hf: &solver.HFSettings{Armijo: nan}},
		{field: "HFSettings.Armijo", hf: &solver.HFSettings{Armijo: 1.5}},
		{field: "HFSettings.MaxBacktracks", hf: &solver.HFSettings{MaxBacktracks: -1}},
		{field: "HFSettings.MaxCG", hf: &solver.HFSettings{MaxCG: -1}},
		{field: "HFSettings.Decay", hf: &solver.HFSettings{Decay: nan}},
		{field: "HFSettings.Decay", hf: &solver.HFSettings{Decay: -0.5}},
		{field: "HFSettings.Decay", hf: &solver.HFSettings{Decay: 2}},
		{field: "NewtonSettings.MaxStep", nt: &solver.NewtonSettings{MaxStep: -1}},
		{field: "NewtonSettings.MaxStep", nt: &solver.NewtonSettings{MaxStep: nan}},
		{field: "NewtonSettings.Radius", nt: &solver.NewtonSettings{Radius: -1}},
		{field: "NewtonSettings.MaxRadius", nt: &solver.NewtonSettings{MaxRadius: -1}},
		{field: "NewtonSettings.MaxRadius", nt: &solver.NewtonSettings{MaxRadius: nan}},
		{field: "NewtonSettings.MaxBacktracks", nt: &solver.NewtonSettings{MaxBacktracks: -3}},
		{field: "NewtonSettings.Combine", nt: &solver.NewtonSettings{Combine: 99}},
		{field: "NewtonSettings.Combine", nt: &solver.NewtonSettings{Combine: -1}},
		{field: "NewtonSettings.Fallback", nt: &solver.NewtonSettings{Fallback: 7}},
		{field: "NewtonSettings.Damping", nt: &solver.NewtonSettings{Damping: nan}},
		{field: "NewtonSettings.Damping", nt: &solver.NewtonSettings{Damping: -1e-3}},
		{field: "NewtonSettings.Shrink", nt: &solver.NewtonSettings{Shrink: 1}},
		{field: "NewtonSettings.Shrink", nt: &solver.NewtonSettings{Shrink: nan}},
		{field: "NewtonSettings.Armijo", nt: &solver.NewtonSettings{Armijo: nan}},
		{field: "NewtonSettings.LearnRate", nt: &solver.NewtonSettings{LearnRate: -1}},
		{field: "NewtonSettings.CG.Tol", nt: &solver.NewtonSettings{CG: solver.CGOptions{Tol: -1}}},
		{field: "NewtonSettings.CG.MaxIter", nt: &solver.NewtonSettings{CG: solver.CGOptions{MaxIter: -1}}},
		{field: "NewtonSettings.CG.Damping", nt: &solver.NewtonSettings{CG: solver.CGOptions{Damping: nan}}},
		{field: "NewtonSettings.Checks.Tol", nt: &solver.NewtonSettings{Checks: hvp.Options{Tol: nan}}},
		{field: "NewtonSettings.Checks.MaxCond", nt: &solver.NewtonSettings{Checks: hvp.Options{MaxCond: 0.5}}},
		{field: "NewtonSettings.Checks.Damping", nt: &solver.NewtonSettings{Checks: hvp.Options{Damping: -3}}},
		{field: "NewtonSettings.Checks.Damping", nt: &solver.NewtonSettings{Damping: 0.1, Checks: hvp.Options{Damping: 0.2}}},
		{field: "KFACSettings.Damping", kf: &solver.KFACSettings{Damping: nan}},
		{field: "KFACSettings.Damping", kf: &solver.KFACSettings{Damping: -2}},
		{field: "KFACSettings.Decay", kf: &solver.KFACSettings{Decay: nan}},
		{field: "KFACSettings.Decay", kf: &solver.KFACSettings{Decay: 1}},
		{field: "KFACSettings.Refresh", kf: &solver.KFACSettings{Refresh: -1}},
		{field: "KFACSettings.MaxRadius", kf: &solver.KFACSettings{MaxRadius: nan}},
	}
	for _, r := range rows {
		_, p := kfacNet(t, 3)
		w0, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		var iterErr, valErr error
		switch {
		case r.hf != nil:
			_, iterErr = solver.NewHF(p, r.hf).Iterate()
			valErr = r.hf.Validate()
		case r.kf != nil:
			_, iterErr = solver.NewKFAC(p, r.kf).Iterate()
			valErr = r.kf.Validate()
		default:
			_, iterErr = solver.NewNewton(p, r.nt).Iterate()
			valErr = r.nt.Validate()
			var perr error
			_, mErr := optimize.Minimize(solver.Problem(p, &perr), w0.Flat(), &optimize.Settings{MajorIterations: 3},
				&solver.Method{P: p, Settings: *r.nt})
			checkArgError(t, "Method, "+r.field, r.field, mErr)
		}
		checkArgError(t, "Iterate, "+r.field, r.field, iterErr)
		checkArgError(t, "Validate, "+r.field, r.field, valErr)
		w1, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		if flatRelDiff(w1.Flat(), w0.Flat()) != 0 {
			t.Errorf("%s: the weights moved", r.field)
		}
	}
	// And the defaults, and "off", are valid.
	for _, err := range []error{solver.NewtonSettings{}.Validate(), solver.HFSettings{}.Validate(), solver.KFACSettings{}.Validate(),
		solver.NewtonSettings{Damping: solver.NoDamping, CG: solver.CGOptions{Damping: solver.NoDamping}}.Validate(),
		solver.HFSettings{Damping: solver.NoDamping}.Validate(), solver.KFACSettings{Damping: solver.NoDamping}.Validate(),
		solver.CGOptions{Damping: solver.NoDamping}.Validate()} {
		if err != nil {
			t.Errorf("valid settings: %v", err)
		}
	}
}

func checkArgError(t *testing.T, where, field string, err error) {
	t.Helper()
	var ae *errs.ArgumentError
	if !errors.As(err, &ae) || ae.What != field || !strings.Contains(err.Error(), field) {
		t.Errorf("%s: got %v, want an *errs.ArgumentError naming %s", where, err, field)
	}
}

// NoDamping gives the undamped computation, compared with λ = 0 computed
// another way: Newton's default takes exactly the dense −H_ll⁻¹g_l of the
// closed-form block Hessian (LU), step after step, its records saying
// λ = 0 (issue 19 item 25).
func TestNewtonNoDamping(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	m, p := testnet.Square(t, rng, 2, 3)
	n := solver.NewNewton(p, &solver.NewtonSettings{Damping: solver.NoDamping})
	for step := range 4 {
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		if g.Norm() < 1e-6 { // interpolating: the rest is rounding
			if step < 2 {
				t.Errorf("converged after %d steps: the test checks too little", step)
			}
			break
		}
		hs := layerInputs(t, m)
		hb, dd := make([]*mat.Dense, 2), make([]*mat.Dense, 2)
		for l := range hb {
			hb[l], dd[l] = dampedSystem(t, m, l, hs[l])
		}
		before := weights(m)
		rec, err := n.Iterate()
		if err != nil {
			t.Fatal(err)
		}
		after := weights(m)
		if rec.Damping != 0 {
			t.Errorf("step %d: record damping %g", step, rec.Damping)
		}
		for l, bs := range rec.Blocks {
			if bs.Damping != 0 {
				t.Errorf("step %d, block %d: damping %g", step, l, bs.Damping)
			}
			if rec.Combined != "sum" && rec.Combined != "block "+string(rune('0'+l)) {
				continue
			}
			want, cond := dampedStep(t, hb[l], dd[l], 0, g.Block(l))
			got := make([]float64, 9)
			for i := range got {
				got[i] = before[l].Float64s()[i] - after[l].Float64s()[i]
			}
			// The undamped B-pass against a dense LU solve: 100·ε·cond, as for InvHv.
			if e, tol := flatRelDiff(got, want.Flat()), 100*testnet.Eps*cond; e > tol {
				t.Errorf("step %d (%s), block %d: step vs the dense undamped solve: %.2e > %.2e (%+v)", step, rec.Combined, l, e, tol, bs)
			}
		}
	}
}

// The damping applies to every combination (not only CombineBest): with
// CombineCyclic, Damping (or its synonym Checks.Damping) = 0.1 moves the
// first block by −t·(H_00 + 0.1·h̃ᵀh̃ ⊗ I)⁻¹ g_0, the dense solve of the
// closed-form block; it was ignored, the step undamped (issue 19 item 25:
// no silent override).
func TestNewtonDampingEveryCombination(t *testing.T) {
	for _, s := range []solver.NewtonSettings{
		{Combine: solver.CombineCyclic, Damping: 0.1},
		{Combine: solver.CombineCyclic, Checks: hvp.Options{Damping: 0.1}},
	} {
		rng := rand.New(rand.NewPCG(52, 52))
		m, p := testnet.Square(t, rng, 2, 3)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		hb, dd := dampedSystem(t, m, 0, layerInputs(t, m)[0])
		before := weights(m)
		rec, err := solver.NewNewton(p, &s).Iterate()
		if err != nil {
			t.Fatal(err)
		}
		after := weights(m)
		if rec.StepSize == 0 || rec.Damping != 0.1 || rec.Blocks[0].Damping != 0.1 {
			t.Fatalf("%+v: record %+v", s, rec)
		}
		want, cond := dampedStep(t, hb, dd, 0.1, g.Block(0))
		got := make([]float64, 9)
		for i := range got {
			got[i] = (before[0].Float64s()[i] - after[0].Float64s()[i]) / rec.StepSize
		}
		// The damped B-pass against a dense LU solve: 100·ε·cond, as for InvHv.
		if e, tol := flatRelDiff(got, want.Flat()), 100*testnet.Eps*cond; e > tol {
			t.Errorf("%+v: direction vs the dense damped solve: %.2e > %.2e", s, e, tol)
		}
	}
}

// NoDamping for CG (NewtonSettings.CG.Damping, whose 0 means a stand-in
// damping, and CGOptions.Damping) gives undamped CG: the refused block of
// a batch > fan-in net is solved to H_00⁻¹ g_0 of the closed-form block
// (positive definite: J_0 has full column rank).
func TestCGNoDamping(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 53))
	m, p := testnet.MLP(t, rng, 8, 3, []int{3, 3}, testnet.Leaky())
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	hb, err := m.BlockHessian(0)
	if err != nil {
		t.Fatal(err)
	}
	want := testnet.Solve(t, hb, g.Block(0))
	// CG to a relative residual of 1e-12 on a block of condition κ: error ≤ κ·1e-12 (×10: the true residual may be 10·Tol).
	tol := testnet.Cond(hb) * 1e-11
	res, err := solver.InvHvCG(p, 0, g.Block(0), &solver.CGOptions{Damping: solver.NoDamping, Tol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if e := params.RelDiff(res.U, want); e > tol || !res.Certified {
		t.Errorf("InvHvCG, NoDamping: vs dense H⁻¹g %.2e > %.2e, certified %v (%s)", e, tol, res.Certified, res.Method)
	}
	before := weights(m)
	rec, err := solver.NewNewton(p, &solver.NewtonSettings{Combine: solver.CombineCyclic,
		CG: solver.CGOptions{Damping: solver.NoDamping, Tol: 1e-12, MaxIter: 1000}}).Iterate()
	if err != nil {
		t.Fatal(err)
	}
	if rec.StepSize == 0 || rec.Blocks[0].Direction != solver.DirectionCG {
		t.Fatalf("record %+v", rec)
	}
	after := weights(m)
	got := make([]float64, 9)
	for i := range got {
		got[i] = (before[0].Float64s()[i] - after[0].Float64s()[i]) / rec.StepSize
	}
	if e := flatRelDiff(got, want.Flat()); e > tol {
		t.Errorf("Newton, CG.Damping NoDamping: direction vs dense H⁻¹g %.2e > %.2e", e, tol)
	}
}

// HF with NoDamping solves G d = −g: with one CG iteration from 0 the step
// is −a·(gᵀg/gᵀGg)·g, gᵀGg from an independent GGNv call, a the line
// search's; λ stays 0 at every step.
func TestHFNoDamping(t *testing.T) {
	tanh, id := ops.TanhFunc{}, ops.IdentityFunc{}
	p := teacherStudent(t, 6, nets.Spec{Batch: 32, In: 5, Layers: []nets.Layer{lay(8, tanh, true), lay(3, id, true)}})
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gg, err := p.GGNv(g)
	if err != nil {
		t.Fatal(err)
	}
	gf := g.Flat()
	alpha := floats.Dot(gf, gf) / floats.Dot(gf, gg.Flat())
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	h := solver.NewHF(p, &solver.HFSettings{Damping: solver.NoDamping, MaxCG: 1})
	rec, err := h.Iterate()
	if err != nil {
		t.Fatal(err)
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	if rec.StepSize == 0 || rec.Damping != 0 || rec.CGIterations != 1 {
		t.Fatalf("record %+v", rec)
	}
	step := w1.Flat()
	floats.Sub(step, w0.Flat())
	want := append([]float64(nil), gf...)
	floats.Scale(-rec.StepSize*alpha, want)
	// Two dot products and an axpy in float64: 1e-12.
	if e := flatRelDiff(step, want); e > 1e-12 {
		t.Errorf("HF step vs −a(gᵀg/gᵀGg)g: %.2e", e)
	}
	for range 3 {
		if rec, err = h.Iterate(); err != nil {
			t.Fatal(err)
		}
		if rec.Damping != 0 {
			t.Errorf("step %d: λ %g, want 0", rec.Step, rec.Damping)
		}
	}
}

// KFAC with NoDamping steps along −(A ⊗ DD)⁻¹vec(∇W̃), the factors
// undamped, solved densely (squared error: every factor positive definite).
func TestKFACNoDamping(t *testing.T) {
	_, p := kfacNetLoss(t, 1, nets.HalfSquaredError)
	want, alpha := denseKFACStep(t, p, 0)
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := solver.NewKFAC(p, &solver.KFACSettings{Damping: solver.NoDamping}).Iterate()
	if err != nil {
		t.Fatal(err)
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	step := w1.Flat()
	floats.Sub(step, w0.Flat())
	// Cholesky and Kronecker solves of the undamped factors (condition ≲ 1e4): 1e-9.
	if diff := flatRelDiff(step, want); !(diff < 1e-9) || math.Abs(rec.Alpha-alpha) > 1e-9*alpha {
		t.Errorf("step differs from the dense undamped Kronecker solve by %.3g (α %g, want %g)", diff, rec.Alpha, alpha)
	}
}

// Checks.BestEffort is the caller's, no longer overridden: a refused
// block's B-pass, computed anyway, is the direction taken when it is a
// descent direction (uncertified, said in the record); by default that
// block falls back.
func TestNewtonRespectsBestEffort(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	m, p := testnet.MLP(t, rng, 8, 3, []int{3, 3}, testnet.Leaky())
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	be, err := p.Block(0).InvHv(g.Block(0), &hvp.Options{BestEffort: true})
	if err != nil {
		t.Fatal(err)
	}
	if !(floats.Dot(be.U.Flat(), g.Block(0).Flat()) > 0) {
		t.Skip("the refused B-pass is not a descent direction here")
	}
	before := weights(m)
	rec, err := solver.NewNewton(p, &solver.NewtonSettings{Combine: solver.CombineCyclic, Checks: hvp.Options{BestEffort: true}}).Iterate()
	if err != nil {
		t.Fatal(err)
	}
	b := rec.Blocks[0]
	if b.Replaced != "" || b.Kind != be.Kind || b.Certified || rec.StepSize == 0 {
		t.Fatalf("block 0 with BestEffort: %+v (want the %v B-pass, uncertified)", b, be.Kind)
	}
	after := weights(m)
	got := make([]float64, 9)
	for i := range got {
		got[i] = (before[0].Float64s()[i] - after[0].Float64s()[i]) / rec.StepSize
	}
	// The same B-pass: rounding of the step and its division by t only.
	if e := flatRelDiff(got, be.U.Flat()); e > 1e-12 {
		t.Errorf("direction vs InvHv with BestEffort: %.2e", e)
	}
}
