package hvp_test

import (
	"errors"
	"fmt"
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
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// The numerical comparisons take every result, certified or not; the
// certification itself is tested in conditions_test.go.
var bestEffort = &hvp.Options{BestEffort: true}

var sizes = []struct{ depth, width int }{
	{1, 3}, {2, 3}, {3, 3}, {4, 3}, {5, 3},
	{1, 8}, {2, 8}, {3, 8}, {4, 8}, {5, 8},
	{1, 16}, {2, 16}, {3, 16}, {4, 16}, {5, 16},
}

// The gradient pass against central differences of the loss along a
// random direction: O(r²) truncation at r = 1e-5 plus rounding, so 1e-7.
func TestGradientMatchesLossFD(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range sizes {
		m, p := testnet.Square(t, rng, s.depth, s.width)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		d := testnet.RandLike(rng, m)
		var dot float64
		for i, x := range g.Flat() {
			dot += x * d.Flat()[i]
		}
		const r = 1e-5
		lp := testnet.LossAt(t, p, d, r)
		lm := testnet.LossAt(t, p, d, -r)
		fd := (lp - lm) / (2 * r)
		if e := math.Abs(fd-dot) / math.Abs(dot); e > 1e-7 {
			t.Errorf("depth %d width %d: ⟨g, d⟩ = %.12g, FD %.12g, rel. error %.2e", s.depth, s.width, dot, fd, e)
		}
	}
}

// Hv (R-pass) against the dense full Hessian from central differences of
// the gradient with one Richardson step at r = 1e-3: its truncation error
// is O(r⁴) (method.md §8 measures plain central differences at 4e-8 for
// r = 1e-4), so 1e-8 relative.
func TestHvMatchesDenseHessian(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	worst := 0.0
	for _, s := range sizes {
		if testing.Short() && s.width*s.width*s.depth > 300 {
			continue
		}
		m, p := testnet.Square(t, rng, s.depth, s.width)
		v := testnet.RandLike(rng, m)
		e := hvVsDense(t, p, v)
		worst = math.Max(worst, e)
		if e > 1e-8 {
			t.Errorf("depth %d width %d: Hv vs dense: rel. error %.2e", s.depth, s.width, e)
		}
		// Per block, against the closed-form block (exact up to rounding): 1e-12.
		for l := range m.Weights {
			bh, err := p.Block(l).Hv(v.Block(l))
			if err != nil {
				t.Fatal(err)
			}
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			nb, _ := hb.Dims()
			var rb mat.VecDense
			rb.MulVec(hb, mat.NewVecDense(nb, append([]float64(nil), v.Block(l).Flat()...)))
			if e := flatRelDiff(bh.Flat(), rb.RawVector().Data); e > 1e-12 {
				t.Errorf("depth %d width %d block %d: BlockHv vs closed form: %.2e", s.depth, s.width, l, e)
			}
		}
	}
	t.Logf("largest relative error of Hv against the dense Hessian: %.2e", worst)
}

// InvHv (B-pass) against the LU solve of the closed-form dense block. Both
// are backward stable, so each is within about cond(H_ll)·ε·(small growth)
// of H_ll⁻¹v: the tolerance is 100·ε·cond(H_ll), 100 covering LU growth
// and the depth of the pass at these sizes (measured ratios are logged).
func TestInvHvMatchesDenseBlockSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	worst, worstRatio, worstWell := 0.0, 0.0, 0.0
	for _, s := range sizes {
		m, p := testnet.Square(t, rng, s.depth, s.width)
		v := testnet.RandLike(rng, m)
		all, err := p.InvHvAll(v, bestEffort)
		if err != nil {
			t.Fatal(err)
		}
		for l := range m.Weights {
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			cond := mat.Cond(hb, 2)
			ref := testnet.Solve(t, hb, v.Block(l))
			u, err := p.Block(l).InvHv(v.Block(l), bestEffort)
			if err != nil {
				t.Fatal(err)
			}
			e := params.RelDiff(u.U, ref)
			worst, worstRatio = math.Max(worst, e), math.Max(worstRatio, e/(testnet.Eps*cond))
			if cond <= 1e6 {
				worstWell = math.Max(worstWell, e)
			}
			t.Logf("depth %d width %2d block %d: cond %.2e  rel. error %.2e  residual %.2e", s.depth, s.width, l, cond, e, u.Residual)
			if tol := 100 * testnet.Eps * cond; e > tol {
				t.Errorf("depth %d width %d block %d: cond %.3g, rel. error %.2e > %.2e", s.depth, s.width, l, cond, e, tol)
			}
			if tol := 100 * testnet.Eps * cond; u.Residual > tol {
				t.Errorf("depth %d width %d block %d: residual %.2e > %.2e", s.depth, s.width, l, u.Residual, tol)
			}
			if d := params.RelDiff(all[l].U, u.U); d != 0 {
				t.Errorf("depth %d width %d block %d: InvHvAll and InvHv differ by %.2e", s.depth, s.width, l, d)
			}
		}
	}
	t.Logf("largest relative error of InvHv against the dense block solve: %.2e (%.2e where cond ≤ 1e6; largest error/(ε·cond) %.3g)", worst, worstWell, worstRatio)
}

// With batch < fan-in the block is singular and the B-pass, reading ⁻¹ as
// ⁺, gives the minimum-norm H_ll⁺ v (method.md §4: rel. error ≤ 2e-12).
// The reference drops eigenvalues below 1e-10·λ_max and must keep exactly
// batch·width of them (the rank of J_l), so the cut is unambiguous.
func TestPseudoInverseWhenBatchBelowFanIn(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := 0; trial < 5; trial++ {
		m, p := testnet.MLP(t, rng, 5, 8, []int{8, 8, 8}, testnet.Leaky())
		v := testnet.RandLike(rng, m)
		for l := range m.Weights {
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			ref, rank, cond := testnet.PinvSolve(t, hb, v.Block(l), 1e-10)
			if rank != 5*8 {
				t.Fatalf("block %d: rank %d, want batch·width = 40", l, rank)
			}
			u, err := p.Block(l).InvHv(v.Block(l), nil)
			if err != nil {
				t.Fatal(err)
			}
			// As for the inverse, 100·ε times the condition number of H
			// restricted to its range.
			if e, tol := params.RelDiff(u.U, ref), 100*testnet.Eps*cond; e > tol {
				t.Errorf("trial %d block %d: cond₊ %.3g: B-pass vs H⁺v: rel. error %.2e > %.2e", trial, l, cond, e, tol)
			}
			// v is not in range(H), so the residual is O(1): the
			// certificate reports it rather than hiding it.
			if u.Residual < 0.1 {
				t.Errorf("trial %d block %d: residual %.2e, expected O(1) for v outside range(H)", trial, l, u.Residual)
			}
		}
	}
}

// The products never modify the caller's weights or directions.
func TestInputsUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	m, p := testnet.Square(t, rng, 2, 4)
	before := make([][]float64, len(m.Weights))
	for k, w := range m.Weights {
		before[k] = append([]float64(nil), w.Value().(*tensor.Dense).Float64s()...)
	}
	v := testnet.RandLike(rng, m)
	vBefore := append([]float64(nil), v.Flat()...)
	if _, err := reference.HvFD(p, v, 1e-4); err != nil {
		t.Fatal(err)
	}
	if _, err := reference.InvHvFD(p, 0, v.Block(0), 1e-4, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := reference.DenseHessianFD(p, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.InvHvAll(v, nil); err != nil {
		t.Fatal(err)
	}
	for k, w := range m.Weights {
		if got := w.Value().(*tensor.Dense).Float64s(); fmt.Sprint(got) != fmt.Sprint(before[k]) {
			t.Errorf("weight %d changed", k)
		}
	}
	if fmt.Sprint(v.Flat()) != fmt.Sprint(vBefore) {
		t.Error("direction changed")
	}
}

// A smooth net: Hv is exact (it needs tanh″), and the op-by-op chain meets
// the dependency loop of method.md §4, so InvHv takes the per-sample route
// (§9): H_ll⁻¹v exactly, against the closed-form per-sample oracle
// (nets.MLP.PerSampleHessian) to 100·ε·cond.
func TestTanhNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	m, p := testnet.MLP(t, rng, 4, 4, []int{4, 4, 4}, ops.TanhFunc{})
	v := testnet.RandLike(rng, m)
	// Richardson-extrapolated central differences: O(r⁴) = 1e-12 truncation.
	if e := hvVsDense(t, p, v); e > 1e-8 {
		t.Errorf("tanh Hv vs dense: %.2e", e)
	}
	for l := range m.Weights {
		c := p.Conditions()[l]
		if c.Method != hvp.MethodPerSample || !strings.Contains(strings.Join(c.Reasons, " "), "dependency loop") {
			t.Errorf("block %d: %+v", l, c)
		}
		res, err := p.Block(l).InvHv(v.Block(l), nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := m.PerSampleHessian(l)
		if err != nil {
			t.Fatal(err)
		}
		if e, tol := params.RelDiff(res.U, testnet.Solve(t, h, v.Block(l))), 100*testnet.Eps*mat.Cond(h, 2); e > tol || res.Kind != hvp.KindExact {
			t.Errorf("block %d (%v): vs dense %.2e > %.2e", l, res.Kind, e, tol)
		}
	}
}

// Bad directions are errors naming the problem.
func TestBadDirections(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	m, p := testnet.Square(t, rng, 2, 3)
	v := testnet.RandLike(rng, m)
	if _, err := p.Block(0).InvHv(vec(t, nets.Randn(rng, 2, 3, 0)), nil); !errors.Is(err, errs.ErrShape) {
		t.Errorf("wrong shape: %v", err)
	}
	if _, err := p.Hv(v.Block(0)); !errors.Is(err, errs.ErrShape) {
		t.Errorf("wrong count: %v", err)
	}
	bad := v.Block(1).Clone()
	bad.Flat()[4] = math.NaN()
	if _, err := p.Block(1).InvHv(bad, nil); !errors.Is(err, errs.ErrNotFinite) {
		t.Errorf("NaN: %v", err)
	}
	if msg := panicMessage(func() { p.Block(2) }); !strings.HasPrefix(msg, "hvp: block 2 out of range") {
		t.Errorf("block out of range: panics with %q", msg)
	}
	if _, err := reference.HvFD(p, v, 0); err == nil {
		t.Error("r = 0 accepted")
	}
}

// hvVsDense returns the relative difference between Hv and the dense
// Hessian (central differences of the gradient, Richardson, r = 1e-3)
// times v.
func hvVsDense(t *testing.T, p *hvp.Problem, v *params.Vector) float64 {
	t.Helper()
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	h, err := reference.DenseHessianFD(p, 1e-3, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := h.Dims()
	var ref mat.VecDense
	ref.MulVec(h, mat.NewVecDense(n, append([]float64(nil), v.Flat()...)))
	return flatRelDiff(hv.Flat(), ref.RawVector().Data)
}
