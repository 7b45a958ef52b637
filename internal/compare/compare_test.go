package compare

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// square returns a 3-layer leaky-ReLU net of width and batch 4 (every
// block exact, method.md §4), its engine with the defaults and a random
// direction over all weights.
func square(t *testing.T, s Settings) (*hvp.Problem, *Engine, *params.Vector) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 20))
	m, p := testnet.Square(t, rng, 3, 4)
	e, err := New(p, s)
	if err != nil {
		t.Fatal(err)
	}
	return p, e, params.FromFlat(p.Layout(), testnet.RandLike(rng, m).Flat())
}

func vec(h *mat.Dense, v *params.Vector) *params.Vector {
	var y mat.VecDense
	y.MulVec(h, mat.NewVecDense(v.Len(), append([]float64(nil), v.Flat()...)))
	return params.FromFlat(v.Layout(), y.RawVector().Data)
}

// The engine's exact Hv equals the product with the dense Hessian built
// here column by column (reference.DenseBlock, DenseHessian): the same
// R-pass columns summed in another order, so equal to rounding; 1e-12
// leaves room for the n-term sums (n ≤ 48, entries O(1)).
func TestHvExactIsDenseProduct(t *testing.T) {
	p, e, v := square(t, Defaults())
	for l := range p.Blocks() {
		h, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		x := e.HvExact(l, v.Block(l))
		if x.Err() != nil || x.Method != Exact || x.Block != p.Block(l).Name() {
			t.Fatalf("block %d: %+v", l, x)
		}
		if d := params.RelDiff(x.Value(), vec(h, v.Block(l))); !(d < 1e-12) {
			t.Errorf("block %d: exact Hv vs dense product %.2e", l, d)
		}
		if y := e.HvDense(l, v.Block(l), false); y.Err() != nil || params.RelDiff(y.Value(), x.Value()) > 1e-12 {
			t.Errorf("block %d: HvDense %+v", l, y)
		}
	}
	h, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := e.HvExact(Full, v)
	if d := params.RelDiff(x.Value(), vec(h, v)); x.Block != "full" || !(d < 1e-12) {
		t.Errorf("full: exact Hv vs dense product %.2e (%+v)", d, x)
	}
}

// The engine's exact InvHv equals the LU solve of the dense block (an
// oracle independent of the B-pass and of the minimum-norm solver), and
// so does its dense InvHv: within 1e3·ε·cond(H_ll), the forward error of
// two backward-stable solves.
func TestInvHvExactIsDenseSolve(t *testing.T) {
	p, e, v := square(t, Defaults())
	for l := range p.Blocks() {
		h, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := testnet.Solve(t, h, v.Block(l))
		tol := 1e3 * testnet.Eps * testnet.Cond(h)
		t.Logf("block %d: cond %.3g", l, testnet.Cond(h))
		x := e.InvHvExact(l, v.Block(l))
		if x.Err() != nil || x.Method != Exact || x.Result() == nil || !x.Result().Certified {
			t.Fatalf("block %d: %+v", l, x)
		}
		if d := params.RelDiff(x.Value(), want); !(d < tol) {
			t.Errorf("block %d: exact InvHv vs dense solve %.2e > %.2e", l, d, tol)
		}
		y := e.InvHvDense(l, v.Block(l), false)
		if d := params.RelDiff(y.Value(), want); y.Err() != nil || !(d < tol) || y.Solution() == nil || y.Solution().Rank != h.RawMatrix().Rows {
			t.Errorf("block %d: dense InvHv vs dense solve %.2e > %.2e (%+v)", l, d, tol, y)
		}
	}
}

// Each dense matrix is built once per engine: Run builds the R-pass and
// the finite-difference matrix of every block and of the full Hessian;
// another direction, and a damped engine sharing the matrices, build none.
func TestDenseBuiltOnce(t *testing.T) {
	p, e, v := square(t, Defaults())
	rep := e.Run(v, "random")
	want := 2 * (p.Blocks() + 1)
	if s := e.Stats(); s.DenseBuilds != want || s.DenseSolves != 2*p.Blocks() {
		t.Fatalf("after Run: %+v, want %d builds and %d solves", s, want, 2*p.Blocks())
	}
	for _, x := range rep.Entries {
		if x.Error != "" {
			t.Errorf("%s %s %s: %s", x.Block, x.Product, x.Method, x.Error)
		}
	}
	w := v.Clone()
	w.Scale(-2)
	e.Run(w, "another")
	if s := e.Stats(); s.DenseBuilds != want {
		t.Errorf("a second Run built again: %+v", s)
	}
	// The damped engine solves the shared matrix damped: no build, and
	// the LU solve of reference.Damp of a block built here (1e3·ε·cond,
	// as in TestInvHvExactIsDenseSolve), as its damped B-pass does.
	d, err := e.Damped(0.1)
	if err != nil {
		t.Fatal(err)
	}
	x := d.InvHvDense(0, v.Block(0), false)
	if s := e.Stats(); x.Err() != nil || s.DenseBuilds != want || s.DenseSolves != 4*p.Blocks()+1 {
		t.Fatalf("damped dense: %v, %+v", x.Err(), s)
	}
	h, err := reference.DenseBlock(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = reference.Damp(p, 0, h, 0.1); err != nil {
		t.Fatal(err)
	}
	tol := 1e3 * testnet.Eps * testnet.Cond(h)
	if r := params.RelDiff(x.Value(), testnet.Solve(t, h, v.Block(0))); !(r < tol) {
		t.Errorf("damped dense solve vs LU of the damped block: %.2e > %.2e", r, tol)
	}
	if y := d.InvHvExact(0, v.Block(0)); y.Method != Exact || params.RelDiff(y.Value(), x.Value()) > tol {
		t.Errorf("damped B-pass vs damped dense: %+v", y)
	}
}

// Run's report: every product of every block and of the full Hessian by
// every method, in order, compared with the exact and dense results.
func TestRunReport(t *testing.T) {
	// One step, 1e-6: the functional inverse's differences at 1e-4 cross
	// a leaky-ReLU kink on this net (10% off: what fd is compared for).
	s := Defaults()
	s.Steps = []float64{1e-6}
	p, e, v := square(t, s)
	rep := e.Run(v, "random")
	hv := 1 + len(s.Steps) + 2 // exact, fd, dense, dense-fd
	inv := hv + 1              // and cg
	if len(rep.Entries) != p.Blocks()*(hv+inv)+hv || rep.Failed() != nil || len(rep.ExactRefused) != 0 {
		t.Fatalf("%d entries, failed %v, refused %v", len(rep.Entries), rep.Failed(), rep.ExactRefused)
	}
	for _, x := range rep.Entries {
		// The FD, CG and dense results against the exact ones, and
		// against the dense solve: measured at most 1.4e-9 (dense-fd);
		// 1e-6 is far above the methods' errors here and far below the
		// O(1) of a result paired with another block's or product's.
		if x.Method != Exact && (x.RelToExact == nil || *x.RelToExact > 1e-6) {
			t.Errorf("%s %s %s: rel. to exact %v", x.Block, x.Product, x.Method, deref(x.RelToExact))
		}
		if x.Method != Dense && (x.RelToDense == nil || *x.RelToDense > 1e-6) {
			t.Errorf("%s %s %s: rel. to dense %v", x.Block, x.Product, x.Method, deref(x.RelToDense))
		}
	}
}

// Labels are honest: a block whose exact inverse is refused (batch 7 >
// fan-in 4 takes the dense route, and an input feature zero over the
// batch makes W1's block singular, refused by the condition limit) is
// "uncertified", listed, with the dense solve as result; Strict returns
// the refusal as a typed error.
func TestRefusedBlockLabel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	m, p := testnet.MLP(t, rng, 7, 4, []int{4, 4}, ops.LeakyReLUFunc{Alpha: 0.5})
	x := m.X.Value().(*tensor.Dense).Float64s()
	for i := 0; i < len(x); i += 4 {
		x[i] = 0
	}
	v := params.FromFlat(p.Layout(), testnet.RandLike(rng, m).Flat())
	e, err := New(p, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rep := e.Run(v, "random")
	if len(rep.ExactRefused) != 1 || rep.ExactRefused[0] != "block 0 (W1)" || len(rep.DenseResults) != 1 {
		t.Fatalf("refused %v, dense results %v", rep.ExactRefused, rep.DenseResults)
	}
	if o := rep.Outcomes(); len(o) != 1 || !strings.Contains(o[0], "exact inverse refused") || !strings.Contains(o[0], "W1.InvHv.dense.npy") {
		t.Errorf("outcomes %q", o)
	}
	for _, x := range rep.Entries {
		if x.Product == "InvHv" && x.Method == Exact && x.Block == "W1" {
			t.Errorf("refused block labelled exact: %+v", x)
		}
	}
	s := Defaults()
	s.Strict = true
	strict, _ := New(p, s)
	var ce *errs.ConditionError
	if x := strict.InvHvExact(0, v.Block(0)); x.Method != Uncertified || !errors.As(x.Err(), &ce) || x.Value() != nil {
		t.Errorf("strict: %+v", x)
	}
}

// Refusals are typed: bad settings, DenseMax (a *SkippedError unwrapping
// to an *errs.LimitError), the memory estimate, a block out of range, a
// direction of another layout, and
// the entries that follow a refused matrix say so without building it.
func TestRefusals(t *testing.T) {
	p, _, v := square(t, Defaults())
	s := Defaults()
	s.CGTol = -1
	var ae *errs.ArgumentError
	if _, err := New(p, s); !errors.As(err, &ae) || ae.What != "Settings.CGTol" {
		t.Errorf("bad CGTol: %v", err)
	}
	s = Defaults()
	s.DenseMax = 10
	e, _ := New(p, s)
	x := e.HvDense(0, v.Block(0), false)
	var se *SkippedError
	var le *errs.LimitError
	if !errors.As(x.Err(), &se) || se.Setting != "DenseMax" || !errors.As(x.Err(), &le) || le.Resource != "parameters" || x.Capped != "" ||
		x.Error != "skipped: 16 parameters > -dense-max 10" {
		t.Errorf("DenseMax: %+v", x)
	}
	if y := e.InvHvDense(0, v.Block(0), false); y.Error != "no dense block (see its Hv entry)" {
		t.Errorf("after a refused matrix: %+v", y)
	}
	s = Defaults()
	s.DenseMem = 1000
	e, _ = New(p, s)
	if x := e.InvHvDense(1, v.Block(1), true); !errors.As(x.Err(), &le) || le.Resource != "memory" || le.Reached {
		t.Errorf("DenseMem: %+v", x)
	}
	if x := e.HvExact(3, v.Block(0)); !errors.As(x.Err(), &ae) {
		t.Errorf("block 3 of 3: %+v", x)
	}
	var sh *errs.ShapeError
	for _, x := range []*Entry{e.HvDense(0, v, false), e.InvHvDense(0, v, false), e.HvDense(Full, nil, true)} {
		if !errors.As(x.Err(), &sh) {
			t.Errorf("wrong direction: %+v", x)
		}
	}
	if x := e.InvHvCG(Full, v); !errors.As(x.Err(), &ae) {
		t.Errorf("full InvHv: %+v", x)
	}
	s = Defaults()
	s.ExactDamping = 0.1
	e, _ = New(p, s)
	if x := e.InvHvFD(0, v.Block(0), 1e-6); !errors.As(x.Err(), &se) || se.Setting != "ExactDamping" {
		t.Errorf("damped FD: %+v", x)
	}
}

func deref(x *float64) any {
	if x == nil {
		return nil
	}
	return *x
}
