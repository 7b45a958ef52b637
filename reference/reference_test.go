package reference_test

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
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// Finite-difference products are approximations: labelled as such, and
// close to the exact ones at sensible steps on a well-conditioned net.
func TestFiniteDifferenceProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m, p := testnet.Square(t, rng, 3, 6)
	v := testnet.RandLike(rng, m)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := reference.HvFD(p, v, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	// O(r²) = 1e-10 truncation plus ε‖g‖/r ≈ 1e-11 rounding.
	if e := flatRelDiff(fd.Flat(), hv.Flat()); e > 1e-7 {
		t.Errorf("HvFD vs Hv: %.2e", e)
	}
	for l := range m.Weights {
		u, err := p.Block(l).InvHv(v.Block(l), &hvp.Options{BestEffort: true})
		if err != nil {
			t.Fatal(err)
		}
		f, err := reference.InvHvFD(p, l, v.Block(l), 1e-6, &hvp.Options{BestEffort: true})
		if err != nil {
			t.Fatal(err)
		}
		if f.Method == u.Method {
			t.Errorf("FD result labelled %q like the exact one", f.Method)
		}
		// With the activation pattern fixed the inverse pass is affine in
		// g, so its central difference has no truncation error, only
		// rounding amplified by the block's conditioning: about ε·cond/r.
		hb, err := m.BlockHessian(l)
		if err != nil {
			t.Fatal(err)
		}
		cond := mat.Cond(hb, 2)
		if e, tol := params.RelDiff(f.U, u.U), 100*testnet.Eps*cond/1e-6; e > tol {
			t.Errorf("block %d: cond %.3g: InvHvFD vs InvHv: %.2e > %.2e", l, cond, e, tol)
		}
	}
	// The FD dense block against the closed form: exact up to rounding
	// amplified by 1/r (method.md §8: 1e-13 at r = 1e-3).
	for l := range m.Weights {
		hfd, err := reference.DenseBlockFD(p, l, 1e-3, nil)
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := m.BlockHessian(l)
		var d mat.Dense
		d.Sub(hfd, hb)
		if e := mat.Norm(&d, 2) / mat.Norm(hb, 2); e > 1e-11 {
			t.Errorf("block %d: FD dense block vs closed form: %.2e", l, e)
		}
	}
}

// The dense block from exact R-pass columns equals the closed-form block
// (nets.MLP.BlockHessian, no graph) to rounding, 1e-13 relative; the FD
// block to 1e-11 (method.md §8: 1e-13 at r = 1e-3, amplified by 1/r).
func TestDenseBlockMatchesClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 40))
	for _, shape := range [][]int{{6, 6, 6, 6, 6}, {5, 8, 8, 8, 8}, {6, 12, 10, 8, 6}} {
		m, p := testnet.MLP(t, rng, shape[0], shape[1], shape[2:], testnet.Leaky())
		for l := range m.Weights {
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			h, err := reference.DenseBlock(p, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := testnet.RelDense(h, hb); e > 1e-13 {
				t.Errorf("%v block %d: exact-column dense block vs closed form: %.2e", shape, l, e)
			}
		}
	}
}

// The minimum-norm reference on rank-deficient blocks (issue: it was wrong
// by 1e9–1e11 on every one, because the SVD rank tolerance n·ε·σ_max let
// the finite differences' noise through). Against H⁺v of the closed-form
// block, whose rank is known (batch·width for batch < fan-in; the
// eigenvalues are cut at 1e-10·λ_max and the count checked), for both
// dense references:
//   - from exact R-pass columns: within 1e3·ε·cond₊ (cond₊ the condition
//     number on the range; 1e3 for the eigensolver and the n-term sums);
//   - from finite differences: their noise, about 1e-13·λ_max, times cond₊
//     and a factor 1e3.
//
// The rank chosen must be the true rank.
func TestMinNormOnRankDeficientBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	for _, c := range []struct {
		batch, in int
		widths    []int
	}{{5, 8, []int{8, 8, 8}}, {6, 12, []int{10, 8, 6}}} {
		m, p := testnet.MLP(t, rng, c.batch, c.in, c.widths, testnet.Leaky())
		v := testnet.RandLike(rng, m)
		for l := range m.Weights {
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			want, rank, cond := testnet.PinvSolve(t, hb, v.Block(l), 1e-10)
			for _, build := range []struct {
				name string
				f    func() (*mat.Dense, error)
				tol  float64
			}{
				{"exact", func() (*mat.Dense, error) { return reference.DenseBlock(p, l, nil) }, 1e3 * testnet.Eps * cond},
				{"fd", func() (*mat.Dense, error) { return reference.DenseBlockFD(p, l, 0, nil) }, 1e3 * 1e-13 * cond},
			} {
				h, err := build.f()
				if err != nil {
					t.Fatal(err)
				}
				sol, err := reference.MinNormSolve(h, v.Block(l).Flat())
				if err != nil {
					t.Fatal(err)
				}
				if sol.Rank != rank {
					t.Errorf("batch %d widths %v block %d %s: rank %d, want %d (%v)", c.batch, c.widths, l, build.name, sol.Rank, rank, sol)
				}
				if e := flatRelDiff(sol.U, want.Flat()); !(e <= build.tol) {
					t.Errorf("batch %d widths %v block %d %s: H⁺v rel. error %.2e > %.2e (cond₊ %.3g, %v)", c.batch, c.widths, l, build.name, e, build.tol, cond, sol)
				}
			}
		}
	}
}

// x = 0 makes the first block's Hessian zero: the minimum-norm solution is
// 0 and the rank 0 (it panicked: "svd: rank out of range").
func TestMinNormOfZero(t *testing.T) {
	sol, err := reference.MinNormSolve(mat.NewDense(4, 4, nil), []float64{1, 2, 3, 4})
	if err != nil || sol.Rank != 0 || flatRelDiff(sol.U, make([]float64, 4)) != 0 {
		t.Fatalf("%v, %v", sol, err)
	}
	rng := rand.New(rand.NewPCG(42, 42))
	m, p := testnet.Square(t, rng, 2, 3)
	zero := tensor.New(tensor.WithShape(3, 3), tensor.Of(tensor.Float64))
	if err := m.Set(zero, m.Y.Value().(*tensor.Dense), weightValues(m)); err != nil {
		t.Fatal(err)
	}
	h, err := reference.DenseBlock(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sol, err = reference.MinNormSolve(h, testnet.RandLike(rng, m).Block(0).Flat())
	if err != nil || sol.Rank != 0 {
		t.Fatalf("x = 0: %v, %v", sol, err)
	}
}

func weightValues(m *nets.MLP) []*tensor.Dense {
	out := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		out[k] = w.Value().(*tensor.Dense)
	}
	return out
}

// A dense reference over its memory cap is refused before anything is
// built, with the estimate in the error (it attempted a 34 GB allocation
// and died); one over its time cap is refused from the timed first column.
func TestDenseLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	_, p := testnet.Square(t, rng, 2, 16)
	_, err := reference.DenseHessian(p, &reference.Limits{MaxBytes: 1 << 20})
	var le *errs.LimitError
	if !errors.As(err, &le) || le.Resource != "memory" || le.Reached || !strings.Contains(err.Error(), "MB memory") {
		t.Fatalf("memory cap: %v", err)
	}
	if want := 4 * 8 * 512.0 * 512; le.Estimate != want {
		t.Errorf("estimate %g bytes, want %g (4·8·n² for n = 512)", le.Estimate, want)
	}
	_, err = reference.DenseBlockFD(p, 0, 0, &reference.Limits{MaxTime: 1})
	if !errors.As(err, &le) || le.Resource != "time" {
		t.Fatalf("time cap: %v", err)
	}
	calls := 0
	if _, err := reference.DenseBlock(p, 1, &reference.Limits{Progress: func(d, n int) { calls++ }}); err != nil || calls != 256 {
		t.Errorf("progress: %d calls (want 256), %v", calls, err)
	}
}

// Finite differences along a zero direction are zero, and along
// directions near the ends of the float64 range they scale with it
// (‖v‖ 1e±300 aborted the run with "step r = +Inf").
func TestFDExtremeDirections(t *testing.T) {
	rng := rand.New(rand.NewPCG(44, 44))
	m, p := testnet.Square(t, rng, 2, 4)
	v := testnet.RandLike(rng, m)
	base, err := reference.HvFD(p, v, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	baseInv, err := reference.InvHvFD(p, 0, v.Block(0), 1e-6, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0, 1e300, 1e-300, 1e-310} {
		vs := v.Clone()
		vs.Scale(s)
		hv, err := reference.HvFD(p, vs, 1e-4)
		if err != nil {
			t.Fatalf("scale %g: %v", s, err)
		}
		inv, err := reference.InvHvFD(p, 0, vs.Block(0), 1e-6, nil)
		if err != nil {
			t.Fatalf("scale %g: %v", s, err)
		}
		for k := range p.Blocks() {
			want := scaledCopy(base.Block(k), s)
			if s == 0 {
				if hv.Block(k).Norm() != 0 {
					t.Errorf("v = 0: HvFD block %d nonzero", k)
				}
				continue
			}
			// The same computation on v/‖v‖, scaled: equal to rounding.
			if e := params.RelDiff(hv.Block(k), want); e > tolAt(s) {
				t.Errorf("scale %g block %d: HvFD(s·v) vs s·HvFD(v): %.2e", s, k, e)
			}
		}
		if s != 0 {
			if e := params.RelDiff(inv.U, scaledCopy(baseInv.U, s)); e > tolAt(s) || !inv.Certified {
				t.Errorf("scale %g: InvHvFD(s·v) vs s·InvHvFD(v): %.2e, certified %v", s, e, inv.Certified)
			}
		} else if inv.U.Norm() != 0 || !inv.Certified {
			t.Errorf("v = 0: InvHvFD %v", inv)
		}
	}
	if _, err := reference.HvFD(p, v, -1); !errors.Is(err, errs.ErrArgument) {
		t.Errorf("r = −1: %v, want ErrArgument", err)
	}
	if math.IsNaN(v.Norm()) {
		t.Fatal("unreachable")
	}
}

// tolAt is the rounding of a result scaled by s: 1e-14, and at 1e-310
// (subnormal) about 13 digits.
func tolAt(s float64) float64 {
	if s < 1e-300 {
		return 1e-11
	}
	return 1e-14
}

func scaledCopy(x *params.Vector, s float64) *params.Vector {
	y := x.Clone()
	y.Scale(s)
	return y
}

// flatRelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0) of flat values.
func flatRelDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}
