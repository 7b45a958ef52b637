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
// the constructor (through New, and Validate, and gonum's Minimize with
// Method) fail with an *errs.ArgumentError naming it, before anything
// moves (issue 19 item 25: all of these were accepted, most silently).
func TestSettingsValidated(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	type row struct {
		field    string
		name     string // the registry's
		settings interface{ Validate() error }
	}
	hf := func(s solver.HFSettings) row { return row{name: "hf-ggn", settings: &s} }
	dn := func(s solver.DampedNewtonSettings) row { return row{name: "newton", settings: &s} }
	bn := func(s solver.BlockNewtonSettings) row { return row{name: "newton-" + s.Combine.String(), settings: &s} }
	kf := func(s solver.KFACSettings) row { return row{name: "kfac", settings: &s} }
	gg := func(s solver.GorgoniaSettings) row { return row{name: "adam", settings: &s} }
	named := func(field string, r row) row { r.field = field; return r }
	rows := []row{
		named("HFSettings.Tikhonov", hf(solver.HFSettings{Tikhonov: nan})),
		named("HFSettings.Tikhonov", hf(solver.HFSettings{Tikhonov: -2})),
		named("HFSettings.Tikhonov", hf(solver.HFSettings{Tikhonov: inf})),
		named("HFSettings.LineSearch.Armijo", hf(solver.HFSettings{LineSearch: solver.LineSearch{Armijo: nan}})),
		named("HFSettings.LineSearch.Armijo", hf(solver.HFSettings{LineSearch: solver.LineSearch{Armijo: 1.5}})),
		named("HFSettings.LineSearch.Shrink", hf(solver.HFSettings{LineSearch: solver.LineSearch{Shrink: 1}})),
		named("HFSettings.LineSearch.MaxTrials", hf(solver.HFSettings{LineSearch: solver.LineSearch{MaxTrials: -1}})),
		named("HFSettings.MaxCG", hf(solver.HFSettings{MaxCG: -1})),
		named("HFSettings.Decay", hf(solver.HFSettings{Decay: nan})),
		named("HFSettings.Decay", hf(solver.HFSettings{Decay: -0.5})),
		named("HFSettings.Decay", hf(solver.HFSettings{Decay: 2})),
		named("BlockNewtonSettings.MaxStep", bn(solver.BlockNewtonSettings{MaxStep: -1})),
		named("BlockNewtonSettings.MaxStep", bn(solver.BlockNewtonSettings{MaxStep: nan})),
		named("BlockNewtonSettings.Radius", bn(solver.BlockNewtonSettings{Radius: -1})),
		named("DampedNewtonSettings.Radius", dn(solver.DampedNewtonSettings{Radius: -1})),
		named("BlockNewtonSettings.MaxRadius", bn(solver.BlockNewtonSettings{MaxRadius: -1})),
		named("DampedNewtonSettings.MaxRadius", dn(solver.DampedNewtonSettings{MaxRadius: nan})),
		named("BlockNewtonSettings.LineSearch.MaxTrials", bn(solver.BlockNewtonSettings{LineSearch: solver.LineSearch{MaxTrials: -3}})),
		named("DampedNewtonSettings.LineSearch.MaxTrials", dn(solver.DampedNewtonSettings{LineSearch: solver.LineSearch{MaxTrials: -3}})),
		named("BlockNewtonSettings.Combine", row{name: "newton-subspace", settings: &solver.BlockNewtonSettings{Combine: 99}}),
		named("BlockNewtonSettings.Combine", row{name: "newton-sum", settings: &solver.BlockNewtonSettings{Combine: -1}}),
		named("BlockNewtonSettings.Combine", row{name: "newton-sum", settings: &solver.BlockNewtonSettings{Combine: solver.CombineCyclic}}),
		named("BlockNewtonSettings.Fallback", bn(solver.BlockNewtonSettings{Fallback: 7})),
		named("DampedNewtonSettings.Fallback", dn(solver.DampedNewtonSettings{Fallback: 7})),
		named("DampedNewtonSettings.LMDamping", dn(solver.DampedNewtonSettings{LMDamping: nan})),
		named("DampedNewtonSettings.LMDamping", dn(solver.DampedNewtonSettings{LMDamping: -1e-3})),
		named("BlockNewtonSettings.LMDamping", bn(solver.BlockNewtonSettings{LMDamping: inf})),
		named("BlockNewtonSettings.LineSearch.Shrink", bn(solver.BlockNewtonSettings{LineSearch: solver.LineSearch{Shrink: 1}})),
		named("DampedNewtonSettings.LineSearch.Shrink", dn(solver.DampedNewtonSettings{LineSearch: solver.LineSearch{Shrink: nan}})),
		named("DampedNewtonSettings.LineSearch.Armijo", dn(solver.DampedNewtonSettings{LineSearch: solver.LineSearch{Armijo: nan}})),
		named("BlockNewtonSettings.LearnRate", bn(solver.BlockNewtonSettings{LearnRate: -1})),
		named("DampedNewtonSettings.CG.Tol", dn(solver.DampedNewtonSettings{CG: solver.CGOptions{Tol: -1}})),
		named("BlockNewtonSettings.CG.MaxIter", bn(solver.BlockNewtonSettings{CG: solver.CGOptions{MaxIter: -1}})),
		named("DampedNewtonSettings.CG.Tikhonov", dn(solver.DampedNewtonSettings{CG: solver.CGOptions{Tikhonov: nan}})),
		named("DampedNewtonSettings.Checks.Tol", dn(solver.DampedNewtonSettings{Checks: hvp.Options{Tol: nan}})),
		named("BlockNewtonSettings.Checks.MaxCond", bn(solver.BlockNewtonSettings{Checks: hvp.Options{MaxCond: 0.5}})),
		named("DampedNewtonSettings.Checks.Damping", dn(solver.DampedNewtonSettings{Checks: hvp.Options{Damping: -3}})),
		named("DampedNewtonSettings.Checks.Damping", dn(solver.DampedNewtonSettings{LMDamping: 0.1, Checks: hvp.Options{Damping: 0.2}})),
		named("BlockNewtonSettings.Checks.Damping", bn(solver.BlockNewtonSettings{Checks: hvp.Options{Damping: 0.1}})),
		named("KFACSettings.FactorDamping", kf(solver.KFACSettings{FactorDamping: nan})),
		named("KFACSettings.FactorDamping", kf(solver.KFACSettings{FactorDamping: -2})),
		named("KFACSettings.Decay", kf(solver.KFACSettings{Decay: nan})),
		named("KFACSettings.Decay", kf(solver.KFACSettings{Decay: 1})),
		named("KFACSettings.Refresh", kf(solver.KFACSettings{Refresh: -1})),
		named("KFACSettings.StatsEvery", kf(solver.KFACSettings{StatsEvery: -1})),
		named("KFACSettings.StatsSamples", kf(solver.KFACSettings{StatsSamples: -1})),
		named("KFACSettings.LearnRate", kf(solver.KFACSettings{LearnRate: -1})),
		named("KFACSettings.LearnRate", kf(solver.KFACSettings{LearnRate: 1e-3, Momentum: true})),
		named("KFACSettings.MaxRadius", kf(solver.KFACSettings{MaxRadius: nan})),
		named("GorgoniaSettings.LearnRate", gg(solver.GorgoniaSettings{LearnRate: -1})),
		named("GorgoniaSettings.BatchSize", gg(solver.GorgoniaSettings{BatchSize: nan})),
	}
	for _, r := range rows {
		_, p := kfacNet(t, 3)
		w0, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		_, newErr := solver.New(r.name, p, r.settings)
		valErr := r.settings.Validate()
		if r.field == "BlockNewtonSettings.Combine" && r.name == "newton-sum" && valErr == nil {
			valErr = newErr // a valid Combine, but not the name's: New's check alone
		}
		if s, ok := r.settings.(*solver.DampedNewtonSettings); ok {
			var perr error
			_, mErr := optimize.Minimize(solver.Problem(p, &perr), w0.Flat(), &optimize.Settings{MajorIterations: 3},
				&solver.Method{P: p, Settings: *s})
			checkArgError(t, "Method, "+r.field, r.field, mErr)
			_, cErr := solver.NewDampedNewton(p, s)
			checkArgError(t, "NewDampedNewton, "+r.field, r.field, cErr)
		}
		checkArgError(t, "New, "+r.field, r.field, newErr)
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
	for _, err := range []error{solver.DampedNewtonSettings{}.Validate(), solver.BlockNewtonSettings{}.Validate(), solver.HFSettings{}.Validate(),
		solver.KFACSettings{}.Validate(), solver.LineSearch{}.Validate(), solver.GorgoniaSettings{}.Validate(),
		solver.DampedNewtonSettings{LMDamping: solver.NoDamping, CG: solver.CGOptions{Tikhonov: solver.NoDamping}}.Validate(),
		solver.BlockNewtonSettings{LMDamping: solver.NoDamping, CG: solver.CGOptions{Tikhonov: solver.NoDamping}}.Validate(),
		solver.HFSettings{Tikhonov: solver.NoDamping}.Validate(), solver.KFACSettings{FactorDamping: solver.NoDamping}.Validate(),
		solver.CGOptions{Tikhonov: solver.NoDamping}.Validate()} {
		if err != nil {
			t.Errorf("valid settings: %v", err)
		}
	}
	// The registry's defaults are valid settings of their names, equal in
	// effect to nil: three steps from the same start land on the same
	// weights, bit for bit.
	for _, name := range solver.Names() {
		d, err := solver.Defaults(name)
		if err != nil {
			t.Fatal(err)
		}
		var ws [2][]float64
		for i, settings := range []any{nil, d} {
			_, p := kfacNet(t, 3)
			o, err := solver.New(name, p, settings)
			if err != nil {
				t.Fatalf("%s: its defaults %+v: %v", name, d, err)
			}
			for range 3 {
				if _, err := o.Step(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			w, err := p.Current()
			if err != nil {
				t.Fatal(err)
			}
			ws[i] = w.Flat()
		}
		if flatRelDiff(ws[1], ws[0]) != 0 {
			t.Errorf("%s: its Defaults %+v step otherwise than nil settings", name, d)
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
	n := newOpt(t, "newton", p, &solver.DampedNewtonSettings{LMDamping: solver.NoDamping})
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
		_, rec, err := newtonStep(n)
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

// The damping applies to BlockNewton too (not only DampedNewton): with
// CombineCyclic, LMDamping = 0.1 moves the first block by
// −t·(H_00 + 0.1·h̃ᵀh̃ ⊗ I)⁻¹ g_0, the dense solve of the closed-form
// block; it was ignored, the step undamped (issue 19 item 25: no silent
// override). (Checks.Damping, once a synonym, is now refused:
// TestSettingsValidated.)
func TestNewtonDampingEveryCombination(t *testing.T) {
	for _, s := range []solver.BlockNewtonSettings{
		{Combine: solver.CombineCyclic, LMDamping: 0.1},
	} {
		rng := rand.New(rand.NewPCG(52, 52))
		m, p := testnet.Square(t, rng, 2, 3)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		hb, dd := dampedSystem(t, m, 0, layerInputs(t, m)[0])
		before := weights(m)
		rec, det, err := newtonStep(newOpt(t, "newton-cyclic", p, &s))
		if err != nil {
			t.Fatal(err)
		}
		after := weights(m)
		if rec.StepSize == 0 || det.Damping != 0.1 || det.Blocks[0].Damping != 0.1 {
			t.Fatalf("%+v: record %+v", s, det)
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

// NoDamping for CG (BlockNewtonSettings.CG.Tikhonov, whose 0 means a
// stand-in damping, and CGOptions.Tikhonov) gives undamped CG: the refused block of
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
	res, err := solver.InvHvCG(p, 0, g.Block(0), &solver.CGOptions{Tikhonov: solver.NoDamping, Tol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if e := params.RelDiff(res.U, want); e > tol || !res.Certified {
		t.Errorf("InvHvCG, NoDamping: vs dense H⁻¹g %.2e > %.2e, certified %v (%s)", e, tol, res.Certified, res.Method)
	}
	before := weights(m)
	rec, det, err := newtonStep(newOpt(t, "newton-cyclic", p, &solver.BlockNewtonSettings{Checks: hvp.Options{MaxFlops: 1}, // the dense route refused: CG
		CG: solver.CGOptions{Tikhonov: solver.NoDamping, Tol: 1e-12, MaxIter: 1000}}))
	if err != nil {
		t.Fatal(err)
	}
	if rec.StepSize == 0 || det.Blocks[0].Direction != solver.DirectionCG {
		t.Fatalf("record %+v", det)
	}
	after := weights(m)
	got := make([]float64, 9)
	for i := range got {
		got[i] = (before[0].Float64s()[i] - after[0].Float64s()[i]) / rec.StepSize
	}
	if e := flatRelDiff(got, want.Flat()); e > tol {
		t.Errorf("Newton, CG.Tikhonov NoDamping: direction vs dense H⁻¹g %.2e > %.2e", e, tol)
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
	h, err := solver.NewHF(p, &solver.HFSettings{Tikhonov: solver.NoDamping, MaxCG: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.Step()
	if err != nil {
		t.Fatal(err)
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	if det := rec.Detail.(*solver.HFDetail); rec.StepSize == 0 || det.Tikhonov != 0 || det.CGIterations != 1 {
		t.Fatalf("record %+v", det)
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
		if rec, err = h.Step(); err != nil {
			t.Fatal(err)
		}
		if l := rec.Detail.(*solver.HFDetail).Tikhonov; l != 0 {
			t.Errorf("step %d: λ %g, want 0", rec.Iter, l)
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
	rec, _, err := kfacStep(p, &solver.KFACSettings{FactorDamping: solver.NoDamping})
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
	if diff := flatRelDiff(step, want); !(diff < 1e-9) || math.Abs(rec.StepSize-alpha) > 1e-9*alpha {
		t.Errorf("step differs from the dense undamped Kronecker solve by %.3g (α %g, want %g)", diff, rec.StepSize, alpha)
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
	rec, det, err := newtonStep(newOpt(t, "newton-cyclic", p, &solver.BlockNewtonSettings{Checks: hvp.Options{BestEffort: true}}))
	if err != nil {
		t.Fatal(err)
	}
	b := det.Blocks[0]
	if b.Replaced != "" || b.Kind != be.Kind || b.Certified != be.Certified || rec.StepSize == 0 {
		t.Fatalf("block 0 with BestEffort: %+v (want the %v B-pass, certified %v)", b, be.Kind, be.Certified)
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
