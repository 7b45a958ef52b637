package ops

import (
	"fmt"

	"errors"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The cache's factorisation (fastblas's recursive Dgetrf) solves as
// gonum's mat.LU does: solutions of A·X = B and Aᵀ·X = B (and of X·A = Bᵀ
// and X·Aᵀ = Bᵀ, on the right) agree within the
// forward-error bound of a backward-stable solve, 2·κ·γ_{3n}·‖X‖ for the
// two of them (Higham, Theorem 9.4 and §7.1; κ = mat.LU's estimate, which
// is within a factor 3 of κ∞ in practice, so the bound has that factor);
// the condition estimates, one algorithm on factors that differ only in
// rounding, agree to 1e-6 relative (a random matrix's κ ≈ 10³ magnifies
// the factors' O(nε) differences to ≲ 1e-10 here).
func TestLUFactorsMatchGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	for _, n := range []int{1, 5, 40, 65, 130} {
		a := mat.NewDense(n, n, nil)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				a.Set(i, j, rng.NormFloat64())
			}
		}
		b := mat.NewDense(n, 3, nil)
		for i := 0; i < n; i++ {
			for j := 0; j < 3; j++ {
				b.Set(i, j, rng.NormFloat64())
			}
		}
		f := factorLU(a)
		var lu mat.LU
		lu.Factorize(a)
		if c, w := f.Cond(), lu.Cond(); math.Abs(c-w) > 1e-6*w {
			t.Errorf("n=%d: condition estimate %v, mat.LU's %v", n, c, w)
		}
		gamma := float64(3*n) * 0x1p-53 / (1 - float64(3*n)*0x1p-53)
		for _, trans := range []bool{false, true} {
			var got, want mat.Dense
			if err := f.SolveTo(&got, trans, b); err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if err := lu.SolveTo(&want, trans, b); err != nil {
				t.Fatalf("n=%d: gonum: %v", n, err)
			}
			bound := 2 * 3 * lu.Cond() * gamma * mat.Norm(&want, math.Inf(1))
			var d mat.Dense
			d.Sub(&got, &want)
			if e := mat.Norm(&d, math.Inf(1)); e > bound {
				t.Errorf("n=%d trans=%v: ‖X − X_gonum‖∞ = %.3g > bound %.3g", n, trans, e, bound)
			}
			// The right side, X·Â = C with C = Bᵀ (3×n), against gonum's
			// Âᵀ·Xᵀ = Cᵀ: the same bound (the 1-norm of Xᵀ is X's ∞-norm).
			var right, wantT mat.Dense
			if err := f.SolveRightTo(&right, trans, mat.DenseCopyOf(b.T())); err != nil {
				t.Fatalf("n=%d: right: %v", n, err)
			}
			if err := lu.SolveTo(&wantT, !trans, b); err != nil {
				t.Fatalf("n=%d: gonum: %v", n, err)
			}
			bound = 2 * 3 * lu.Cond() * gamma * mat.Norm(&wantT, math.Inf(1))
			var dr mat.Dense
			dr.Sub(&right, wantT.T())
			if e := mat.Norm(&dr, 1); e > bound {
				t.Errorf("n=%d trans=%v: right side ‖X − X_gonum‖₁ = %.3g > bound %.3g", n, trans, e, bound)
			}
		}
	}
}

// An exactly singular matrix: infinite condition estimate, a Condition
// error from SolveTo, and cachedLU's typed error naming the op.
func TestLUFactorsSingular(t *testing.T) {
	a := mat.NewDense(3, 3, []float64{1, 2, 3, 2, 4, 6, 1, 0, 1})
	f := factorLU(a)
	if !math.IsInf(f.Cond(), 1) {
		t.Errorf("condition estimate %v, want +Inf", f.Cond())
	}
	var x mat.Dense
	var c mat.Condition
	if err := f.SolveTo(&x, false, mat.NewDense(3, 1, nil)); !errors.As(err, &c) {
		t.Errorf("SolveTo: %v, want a mat.Condition", err)
	}
	if _, err := cachedLU(MatInvOp{}, a); err == nil {
		t.Error("cachedLU accepted a singular matrix")
	}
	if err := f.SolveTo(&x, false, mat.NewDense(2, 1, nil)); err == nil {
		t.Error("SolveTo accepted B of the wrong height")
	}
}

// copyNorm copies bit for bit and returns gonum's Dlange norm bit for bit
// (the oracle: lapack64.Lange on the copy; same additions in the same
// order, so equality is exact), for strided matrices of every remainder
// modulo 4, graded rows (so that the maximum is not the first row's), and
// with a NaN or an Inf in one row.
func TestCopyNormMatchesDlange(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 33, 130} {
		for _, poison := range []float64{0, math.NaN(), math.Inf(-1)} {
			stride := n + 3
			a := blas64.General{Rows: n, Cols: n, Stride: stride, Data: make([]float64, n*stride)}
			for i := range a.Data {
				a.Data[i] = rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20))
			}
			if poison != 0 && n > 0 {
				a.Data[(n/2)*stride+n-1] = poison
			}
			dst := make([]float64, n*n)
			got := copyNorm(dst, a)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					if math.Float64bits(dst[i*n+j]) != math.Float64bits(a.Data[i*stride+j]) {
						t.Fatalf("n=%d: copy differs at (%d,%d)", n, i, j)
					}
				}
			}
			want := lapack64.Lange(mat.CondNorm, blas64.General{Rows: n, Cols: n, Stride: max(1, n), Data: dst}, nil)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("n=%d poison %v: norm %v, Dlange's %v", n, poison, got, want)
			}
		}
	}
}

// BenchmarkFactorLU times the cache's factorisation of an n×n matrix
// (copy, norm, Dgetrf, condition estimate).
func BenchmarkFactorLU(b *testing.B) {
	for _, n := range []int{64, 128, 256} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		a := mat.NewDense(n, n, nil)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				a.Set(i, j, rng.NormFloat64())
			}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				factorLU(a)
			}
		})
	}
}

// Factors held by a solve survive their eviction and still solve as
// gonum's mat.LU does (oracle; same tolerance argument as
// TestLUFactorsMatchGonum: two backward-stable solves, κ ≈ 10², agree to
// far better than 1e-10 relative); their storage goes back to the pool
// only after done, and never for factors taken by cachedLU (pinned).
func TestHeldLUSurvivesEviction(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 70
	random := func() *mat.Dense {
		a := mat.NewDense(n, n, nil)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				a.Set(i, j, rng.NormFloat64())
			}
		}
		return a
	}
	a, p := random(), random()
	held, err := heldLU(SolveOp{}, a)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := cachedLU(SolveOp{}, p)
	if err != nil {
		t.Fatal(err)
	}
	for range cacheSize + 2 { // evicts a and p
		f, err := heldLU(SolveOp{}, random())
		if err != nil {
			t.Fatal(err)
		}
		f.done()
	}
	if held.lu.Data == nil || !held.evicted {
		t.Fatalf("held factors: evicted %v, storage recycled %v; want evicted, kept", held.evicted, held.lu.Data == nil)
	}
	b := random()
	var got, want mat.Dense
	if err := held.SolveTo(&got, false, b); err != nil {
		t.Fatal(err)
	}
	var lu mat.LU
	lu.Factorize(a)
	if err := lu.SolveTo(&want, false, b); err != nil {
		t.Fatal(err)
	}
	if !mat.EqualApprox(&got, &want, 1e-10) {
		t.Errorf("evicted held factors solve differently from mat.LU")
	}
	held.done()
	if held.lu.Data != nil {
		t.Errorf("evicted factors kept their storage after done")
	}
	if !pinned.evicted || pinned.lu.Data == nil {
		t.Errorf("pinned factors: evicted %v, storage recycled %v; want evicted, kept", pinned.evicted, pinned.lu.Data == nil)
	}
}
