package solver_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/optimize"
)

// The registry holds the names the benchmarks use, each a distinct
// optimizer answering to its name.
func TestRegistryNames(t *testing.T) {
	want := []string{"adam", "bfgs", "hf-ggn", "hf-kron", "kfac", "lbfgs", "newton", "newton-cyclic", "newton-subspace", "newton-sum", "sgd"}
	got := slices.DeleteFunc(solver.Names(), func(n string) bool { return strings.HasPrefix(n, "test-") }) // this file's
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		_, p := kfacNet(t, 4)
		if o := newOpt(t, name, p, nil); o.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, o.Name())
		}
	}
}

// Every registered optimizer takes steps on a small net (the cross-entropy
// net of kfacNet, full batch) with Cost > 0 and Norm the length of the
// step measured from the weights; the descent methods (a line search or
// a measured candidate) never increase the loss, which is measured here
// independently of the record (LossAt before and after). Gorgonia's
// solvers cost exactly one gradient over the batch (B = 12 rows) per step.
func TestEveryOptimizerSteps(t *testing.T) {
	descent := map[string]bool{"newton": true, "newton-subspace": true, "newton-sum": true, "newton-cyclic": true,
		"hf-ggn": true, "hf-kron": true, "lbfgs": true, "bfgs": true}
	for _, name := range solver.Names() {
		if strings.HasPrefix(name, "test-") {
			continue // this file's
		}
		_, p := kfacNet(t, 5)
		o := newOpt(t, name, p, nil)
		for i := range 3 {
			w0, err := p.Current()
			if err != nil {
				t.Fatal(err)
			}
			l0, err := p.LossAt(nil)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := o.Step()
			if err != nil {
				t.Fatalf("%s step %d: %v", name, i, err)
			}
			w1, err := p.Current()
			if err != nil {
				t.Fatal(err)
			}
			l1, err := p.LossAt(nil)
			if err != nil {
				t.Fatal(err)
			}
			moved := stepLength(t, w0, w1)
			switch {
			case rec.Iter != i:
				t.Errorf("%s step %d: Iter %d", name, i, rec.Iter)
			case !(rec.Cost > 0):
				t.Errorf("%s step %d: Cost %d", name, i, rec.Cost)
			case rec.LossBefore != l0:
				t.Errorf("%s step %d: LossBefore %.17g, LossAt %.17g", name, i, rec.LossBefore, l0)
			case math.Abs(rec.Norm-moved) > 1e-12*math.Max(moved, 1): // the same difference, summed in another order
				t.Errorf("%s step %d: Norm %.6g, measured %.6g", name, i, rec.Norm, moved)
			case !(moved > 0):
				t.Errorf("%s step %d: no step taken (%+v)", name, i, rec)
			}
			if descent[name] {
				if !(l1 <= l0) || rec.LossAfter != l1 {
					t.Errorf("%s step %d: loss %.17g → %.17g (LossAfter %.17g)", name, i, l0, l1, rec.LossAfter)
				}
			}
			if (name == "sgd" || name == "adam") && rec.Cost != 12 {
				t.Errorf("%s step %d: Cost %d, want one gradient over 12 rows", name, i, rec.Cost)
			}
		}
	}
}

// An unknown name, settings of another type and a name registered twice
// are typed errors saying what is wrong; a registered constructor is
// found by New.
func TestRegistryErrors(t *testing.T) {
	_, p := kfacNet(t, 6)
	_, err := solver.New("newtn", p, nil)
	var ae *errs.ArgumentError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "newtn") || !strings.Contains(err.Error(), strings.Join(solver.Names(), ", ")) {
		t.Errorf("unknown name: %v, want an *errs.ArgumentError listing the names", err)
	}
	if _, err := solver.Defaults("newtn"); !errors.As(err, &ae) {
		t.Errorf("Defaults of an unknown name: %v", err)
	}
	_, err = solver.New("kfac", p, &solver.HFSettings{})
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "*solver.KFACSettings") {
		t.Errorf("settings of another type: %v", err)
	}
	_, err = solver.New("kfac", p, solver.KFACSettings{}) // a value, not a pointer
	if !errors.As(err, &ae) {
		t.Errorf("settings by value: %v", err)
	}
	_, err = solver.New("hf-ggn", p, &solver.HFSettings{Kronecker: true})
	checkArgError(t, "hf-ggn with Kronecker", "HFSettings.Kronecker", err)
	_, err = solver.New("lbfgs", p, &solver.GonumSettings{Store: -1})
	checkArgError(t, "lbfgs", "GonumSettings.Store", err)
	_, err = solver.New("bfgs", p, &solver.GonumSettings{Store: 3})
	checkArgError(t, "bfgs", "GonumSettings.Store", err)
	if err := solver.Register("newton", solver.Constructor{New: func(*hvp.Problem, any) (solver.Optimizer, error) { return nil, nil }}); !errors.As(err, &ae) {
		t.Errorf("registering newton again: %v", err)
	}
	if err := solver.Register("x y", solver.Constructor{}); !errors.As(err, &ae) {
		t.Errorf("a bad registration: %v", err)
	}
	// A new name (registered by init, once per process): found by New
	// with its settings, listed by Names.
	if registerErr != nil {
		t.Fatal(registerErr)
	}
	before := built
	if _, err := solver.New("test-sgd-again", p, &solver.GorgoniaSettings{LearnRate: 0.5}); err != nil || built != before+1 {
		t.Errorf("a registered constructor: %v (built %d times, before %d)", err, built, before)
	}
	if !slices.Contains(solver.Names(), "test-sgd-again") {
		t.Errorf("Names() lacks the registered name: %v", solver.Names())
	}
	if d, err := solver.Defaults("test-sgd-again"); d != nil || err != nil {
		t.Errorf("Defaults without a Defaults function: %v, %v", d, err)
	}
}

var (
	built       int // the times test-sgd-again's constructor ran
	registerErr error
)

func init() {
	registerErr = solver.Register("test-sgd-again", solver.Constructor{New: func(p *hvp.Problem, s any) (solver.Optimizer, error) {
		built++
		return solver.New("sgd", p, s)
	}})
}

// Defaults fills in the constant defaults each field documents.
func TestDefaults(t *testing.T) {
	d, err := solver.Defaults("newton")
	if err != nil {
		t.Fatal(err)
	}
	dn := d.(*solver.DampedNewtonSettings)
	if dn.LMDamping != 1e-3 || dn.CG.MaxIter != 20 || dn.LineSearch.MaxTrials != solver.DefaultMaxTrials || dn.LineSearch.Shrink != 0.5 || dn.LearnRate != 1e-2 {
		t.Errorf("newton: %+v", dn)
	}
	d, _ = solver.Defaults("newton-cyclic")
	if bn := d.(*solver.BlockNewtonSettings); bn.Combine != solver.CombineCyclic || bn.CG.MaxIter != 100 || bn.MaxStep != 1 {
		t.Errorf("newton-cyclic: %+v", bn)
	}
	d, _ = solver.Defaults("hf-kron")
	if hf := d.(*solver.HFSettings); !hf.Kronecker || hf.Tikhonov != 1 || hf.MaxCG != 250 || hf.LineSearch.Shrink != 0.8 {
		t.Errorf("hf-kron: %+v", hf)
	}
	d, _ = solver.Defaults("adam")
	if g := d.(*solver.GorgoniaSettings); g.LearnRate != 1e-3 || g.BatchSize != 1 {
		t.Errorf("adam: %+v", g)
	}
	d, _ = solver.Defaults("lbfgs")
	if g := d.(*solver.GonumSettings); g.Store != 15 {
		t.Errorf("lbfgs: %+v", g)
	}
}

// The line search against the closed form on a quadratic
// J(t) = J₀ + s·t + ½c·t² (s < 0 < c): the Armijo condition holds exactly
// for t ≤ t* = 2(1 − a)·|s|/c, so the search accepts t₀·ρᵏ with the least
// k making it ≤ t*, after k + 1 trials, with the loss J(t); past MaxTrials
// it fails with the loss unchanged. A point outside the domain (an error,
// or NaN) fails the condition.
func TestLineSearchQuadratic(t *testing.T) {
	for _, c := range []struct{ j0, s, curv, t0, armijo, shrink float64 }{
		{1, -2, 3, 1, 1e-4, 0.5},
		{5, -0.1, 100, 10, 0.3, 0.8},
		{0, -1, 1e-3, 1, 0.5, 0.5}, // t* = 1000 > t₀: the first trial
		{2, -4, 0.5, 1e3, 1e-4, 0.25},
	} {
		j := func(t float64) (float64, error) { return c.j0 + c.s*t + 0.5*c.curv*t*t, nil }
		tStar := 2 * (1 - c.armijo) * -c.s / c.curv
		k := 0
		if c.t0 > tStar {
			k = int(math.Ceil(math.Log(c.t0/tStar) / math.Log(1/c.shrink)))
		}
		want := c.t0 * math.Pow(c.shrink, float64(k))
		ls := solver.LineSearch{Armijo: c.armijo, Shrink: c.shrink}
		if k+1 > solver.DefaultMaxTrials { // past the default cap: the search fails after exactly 31 trials
			if res := ls.Search(c.j0, c.s, c.t0, j); res.OK || res.Trials != solver.DefaultMaxTrials {
				t.Errorf("%+v with the default cap: %+v, want a failure after %d trials", c, res, solver.DefaultMaxTrials)
			}
			ls.MaxTrials = k + 1
		}
		res := ls.Search(c.j0, c.s, c.t0, j)
		wantLoss, _ := j(want)
		// The step sizes are products of k factors: 1e-14 relative.
		if !res.OK || res.Trials != k+1 || math.Abs(res.T-want) > 1e-14*want || math.Abs(res.Loss-wantLoss) > 1e-14*math.Max(math.Abs(wantLoss), 1) {
			t.Errorf("%+v: got %+v, want t = %g after %d trials, loss %g (t* = %g)", c, res, want, k+1, wantLoss, tStar)
		}
		if k > 0 {
			ls.MaxTrials = k // one trial short
			if res := ls.Search(c.j0, c.s, c.t0, j); res.OK || res.Trials != k || res.Loss != c.j0 || res.T != 0 {
				t.Errorf("%+v with MaxTrials %d: got %+v, want a failure", c, k, res)
			}
		}
	}
	// Outside the domain beyond t = 0.3: the search backtracks past it.
	res := solver.LineSearch{}.Search(1, -1, 1, func(t float64) (float64, error) {
		switch {
		case t > 0.6:
			return 0, errors.New("outside")
		case t > 0.3:
			return math.NaN(), nil
		}
		return 1 - t + t*t, nil
	})
	if !res.OK || res.T != 0.25 || res.Trials != 3 {
		t.Errorf("domain: %+v, want t = 0.25 after 3 trials", res)
	}
}

// lbfgs and bfgs take gonum's major iterations one Step at a time: 20
// Steps land on exactly the loss of gonum's own Minimize run for 20
// iterations past the start (the same evaluations in the same order,
// bit for bit), and their Cost is gonum's evaluations priced as
// hvp.Stats prices them: ⌈B/2⌉ rows per loss, B per gradient (B = 7).
func TestGonumStepsMatchMinimize(t *testing.T) {
	tanh, id := ops.TanhFunc{}, ops.IdentityFunc{}
	spec := nets.Spec{Batch: 7, In: 6, Layers: []nets.Layer{lay(6, tanh, true), lay(6, id, true)}}
	for _, name := range []string{"lbfgs", "bfgs"} {
		p := teacherStudent(t, 8, spec)
		ws, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		var m optimize.Method = &optimize.LBFGS{}
		if name == "bfgs" {
			m = &optimize.BFGS{}
		}
		var perr error
		settings := &optimize.Settings{MajorIterations: 21, GradientThreshold: 1e-300, // the start is gonum's first major iteration
			Converger: &optimize.FunctionConverge{Iterations: math.MaxInt32}}
		res, err := optimize.Minimize(solver.Problem(p, &perr), append([]float64(nil), ws.Flat()...), settings, m)
		if err != nil || perr != nil {
			t.Fatalf("%s: %v, %v", name, err, perr)
		}
		p = teacherStudent(t, 8, spec)
		o := newOpt(t, name, p, nil)
		var loss float64
		var cost int64
		for range 20 {
			rec, err := o.Step()
			if err != nil {
				t.Fatal(err)
			}
			loss, cost = rec.LossAfter, cost+rec.Cost
		}
		want := int64(res.Stats.FuncEvaluations*4 + res.Stats.GradEvaluations*7)
		if loss != res.F || cost != want {
			t.Errorf("%s: 20 Steps reach %.17g at cost %d; Minimize %.17g after %d losses and %d gradients (cost %d)",
				name, loss, cost, res.F, res.Stats.FuncEvaluations, res.Stats.GradEvaluations, want)
		}
	}
}
