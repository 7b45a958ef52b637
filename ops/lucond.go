package ops

import (
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// luRcond returns the reciprocal of the condition estimate of the matrix
// whose LU factors (row-major, as fastblas's Dgetrf leaves them) are lu,
// anorm its norm in mat.CondNorm: LAPACK's Dgecon — the same Hager–Higham
// iteration (gonum's Dlacn2) on the same triangular solves — with the
// solves unscaled and read along the factors' rows.
//
// gonum's Dgecon solves through Dlatrs, which guards against overflow by
// scaling; its growth bound is so conservative that for LU factors of
// n ≥ 256 it takes the scaled path, column by column across the row-major
// factors (strided Ddot and Daxpy): 1.14 ms at n = 256 and 4.43 ms at 512,
// more than the factorisation itself (Dgetrf 0.48 and 1.97 ms); this takes
// 0.13 and 0.27 ms (AMD EPYC, one thread, docs/benchmarks.md). Unscaled,
// the solves give the same numbers up to rounding (summation order); they
// can only differ where a solve overflows, which leaves a non-finite value
// (an Inf stays Inf or becomes NaN through the rest of the solve). Then the estimate is Dgecon's own, recomputed from
// the start: the overflow-safe path for the same quantity.
func luRcond(lu blas64.General, anorm float64) float64 {
	n := lu.Rows
	gecon := func() float64 { return lapack64.Gecon(mat.CondNorm, lu, anorm, make([]float64, 4*n), make([]int, n)) }
	if n == 0 || anorm == 0 || math.IsNaN(anorm) || math.IsInf(anorm, 1) {
		return gecon()
	}
	x, v := make([]float64, n), make([]float64, n)
	isgn := make([]int, n)
	var isave [3]int
	var est float64
	kase := 0
	// mat.CondNorm is the max-row-sum norm of the row-major matrix: the
	// 1-norm of the column-major one Dgecon sees, so kase 2 solves with
	// A and kase 1 with Aᵀ (Dgecon's kase1 = 2 for that norm).
	noTrans := 1
	if mat.CondNorm == lapack.MaxRowSum {
		noTrans = 2
	}
	for {
		est, kase = gonum.Implementation{}.Dlacn2(n, v, x, isgn, est, kase, &isave)
		if kase == 0 {
			if est == 0 {
				return 0
			}
			return (1 / est) / anorm
		}
		if kase == noTrans {
			luSolveVec(lu, x)
		} else {
			luSolveVecT(lu, x)
		}
		if s := blas64.Implementation().Dasum(n, x, 1); math.IsNaN(s) || math.IsInf(s, 0) {
			return gecon()
		}
	}
}

// luSolveVec solves U·x = L⁻¹·x in place (L unit lower, U upper, the
// factors of lu; no pivoting: Dgecon's solves), each row a dot product.
func luSolveVec(lu blas64.General, x []float64) {
	n, a, s := lu.Rows, lu.Data, lu.Stride
	bi := blas64.Implementation()
	for i := 1; i < n; i++ { // L x = b, L unit lower
		x[i] -= bi.Ddot(i, a[i*s:i*s+i], 1, x[:i], 1)
	}
	for i := n - 1; i >= 0; i-- { // U x = b
		x[i] = (x[i] - bi.Ddot(n-1-i, a[i*s+i+1:i*s+n], 1, x[i+1:], 1)) / a[i*s+i]
	}
}

// luSolveVecT solves Lᵀ·x = U⁻ᵀ·x in place, each row of U and L an axpy.
func luSolveVecT(lu blas64.General, x []float64) {
	n, a, s := lu.Rows, lu.Data, lu.Stride
	bi := blas64.Implementation()
	for i := 0; i < n; i++ { // Uᵀ x = b, Uᵀ lower
		x[i] /= a[i*s+i]
		if i+1 < n {
			bi.Daxpy(n-1-i, -x[i], a[i*s+i+1:i*s+n], 1, x[i+1:], 1)
		}
	}
	for i := n - 1; i > 0; i-- { // Lᵀ x = b, Lᵀ unit upper
		bi.Daxpy(i, -x[i], a[i*s:i*s+i], 1, x[:i], 1)
	}
}
