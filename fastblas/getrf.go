package fastblas

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// getrfBase: panels at most this many columns wide are factorised by
// rank-1 updates; wider ones are split in two (the recursion's products
// then have k ≥ getrfBase/2, deep enough for the packed kernels).
const getrfBase = 16

// getrfInPlace: matrices of at most this many rows and columns are
// factorised by rank-1 updates in place (rows of a few cache lines each, all
// in L1), as gonum does up to its block size 64: there the recursion's
// products are too small to pay for their packing.
const getrfInPlace = 64

// Dgetrf computes the LU factorisation with partial pivoting of the m×n
// row-major matrix A (stride lda), overwriting it, as LAPACK's dgetrf and
// gonum's lapack Dgetrf do: A = P·L·U with L unit lower triangular (below
// the diagonal of A on return) and U upper triangular (on and above it).
// ipiv (length min(m, n)) receives the pivots, 0-based: row i was
// interchanged with row ipiv[i], in order. It returns false when some
// U_ii is exactly zero (the factorisation is completed anyway, and U is
// singular). Bad arguments panic with gonum's messages, as its Dgetrf.
//
// The pivots are those of partial pivoting (in each column, the first
// element of largest magnitude on or below the diagonal), as in LAPACK;
// the factorisation is recursive on columns (Toledo 1997, LAPACK's
// dgetrf2): the left half is factorised, its interchanges applied to the
// right half, U₁₂ = L₁₁⁻¹A₁₂ by Dtrsm, A₂₂ −= L₂₁U₁₂ by Dgemm, and the
// right half's lower part factorised likewise. Past order getrfInPlace,
// all but O(n²·getrfBase) of the 2n³/3 flops are in Dgemm and Dtrsm,
// against gonum's rank-1 updates within each panel of 64 columns.
// Backward error: that of any partial-pivoting LU, |PA − LU| ≤
// γ_{n+1}·|L||U| elementwise (Higham, Theorem 9.3, with one rounding more
// for scaling by the pivot's reciprocal, as LAPACK does; TestDgetrfAgainstGonum
// checks it).
func (impl Implementation) Dgetrf(m, n int, a []float64, lda int, ipiv []int) (ok bool) {
	mn := min(m, n)
	switch {
	case m < 0:
		panic("lapack: m < 0")
	case n < 0:
		panic("lapack: n < 0")
	case lda < max(1, n):
		panic("lapack: bad leading dimension of A")
	}
	if mn == 0 {
		return true
	}
	switch {
	case len(a) < (m-1)*lda+n:
		panic("lapack: insufficient length of a")
	case len(ipiv) != mn:
		panic("lapack: bad length of ipiv")
	}
	return impl.getrf(m, n, a, lda, ipiv)
}

// getrf is Dgetrf on checked, non-empty arguments.
func (impl Implementation) getrf(m, n int, a []float64, lda int, ipiv []int) bool {
	mn := min(m, n)
	if m <= getrfInPlace && n <= getrfInPlace {
		return impl.getf2InPlace(m, n, a, lda, ipiv)
	}
	if mn <= getrfBase || n <= getrfBase {
		return impl.getf2(m, n, a, lda, ipiv)
	}
	// Split at a multiple of 8 columns (the kernels' tile widths), near half.
	n1 := max(getrfBase/2, (mn/2)&^7)
	ok := impl.getrf(m, n1, a, lda, ipiv[:n1])
	n2 := n - n1
	swapRows(a[n1:], lda, n2, 0, ipiv[:n1])
	impl.Dtrsm(blas.Left, blas.Lower, blas.NoTrans, blas.Unit, n1, n2, 1, a, lda, a[n1:], lda)
	if m > n1 {
		impl.Dgemm(blas.NoTrans, blas.NoTrans, m-n1, n2, n1, -1, a[n1*lda:], lda, a[n1:], lda, 1, a[n1*lda+n1:], lda)
		if !impl.getrf(m-n1, n2, a[n1*lda+n1:], lda, ipiv[n1:]) {
			ok = false
		}
		for i := n1; i < mn; i++ {
			ipiv[i] += n1
		}
		swapRows(a, lda, n1, n1, ipiv[n1:])
	}
	return ok
}

// swapRows interchanges, for each i in order, row r0+i with row ipiv[i]
// over the first cols columns of a.
func swapRows(a []float64, lda, cols, r0 int, ipiv []int) {
	for i, p := range ipiv {
		if r := r0 + i; p != r {
			x, y := a[r*lda:r*lda+cols], a[p*lda:p*lda+cols]
			for j := range x {
				x[j], y[j] = y[j], x[j]
			}
		}
	}
}

// sfmin is the smallest x whose reciprocal 1/x does not overflow (LAPACK's
// dlamch('S')).
const sfmin = 0x1p-1022

// getf2 factorises a panel by rank-1 updates (LAPACK's dgetf2) on a
// column-major copy: in the row-major matrix a column is strided by lda,
// and a power-of-two stride maps a tall panel's rows onto a few cache sets.
func (impl Implementation) getf2(m, n int, a []float64, lda int, ipiv []int) bool {
	bp := getBuffer(m * n)
	defer putBuffer(bp)
	t := *bp // t[j*m+i] = A[i, j]
	for i := 0; i < m; i++ {
		for j, v := range a[i*lda : i*lda+n] {
			t[j*m+i] = v
		}
	}
	ok := true
	for j := 0; j < min(m, n); j++ {
		col := t[j*m : (j+1)*m]
		jp, big := j, math.Abs(col[j])
		for i := j + 1; i < m; i++ {
			if v := math.Abs(col[i]); v > big {
				jp, big = i, v
			}
		}
		ipiv[j] = jp
		piv := col[jp]
		if piv == 0 {
			ok = false
		} else {
			if jp != j {
				for k := 0; k < n; k++ {
					t[k*m+j], t[k*m+jp] = t[k*m+jp], t[k*m+j]
				}
			}
			if math.Abs(piv) >= sfmin {
				r := 1 / piv
				for i := j + 1; i < m; i++ {
					col[i] *= r
				}
			} else {
				for i := j + 1; i < m; i++ {
					col[i] /= piv
				}
			}
		}
		if j+1 < m {
			l := col[j+1:]
			for k := j + 1; k < n; k++ {
				ck := t[k*m : (k+1)*m]
				if u := ck[j]; u != 0 {
					impl.Implementation.Daxpy(m-j-1, -u, l, 1, ck[j+1:], 1)
				}
			}
		}
	}
	for i := 0; i < m; i++ {
		row := a[i*lda : i*lda+n]
		for j := range row {
			row[j] = t[j*m+i]
		}
	}
	return ok
}

// getf2InPlace is getf2 on the row-major matrix itself, the rank-1 updates
// by gonum's Dger (for small matrices, whose rows stay in L1).
func (impl Implementation) getf2InPlace(m, n int, a []float64, lda int, ipiv []int) bool {
	ok := true
	for j := 0; j < min(m, n); j++ {
		jp, big := j, math.Abs(a[j*lda+j])
		for i := j + 1; i < m; i++ {
			if v := math.Abs(a[i*lda+j]); v > big {
				jp, big = i, v
			}
		}
		ipiv[j] = jp
		piv := a[jp*lda+j]
		if piv == 0 {
			ok = false
		} else {
			if jp != j {
				x, y := a[j*lda:j*lda+n], a[jp*lda:jp*lda+n]
				for k := range x {
					x[k], y[k] = y[k], x[k]
				}
			}
			if math.Abs(piv) >= sfmin {
				r := 1 / piv
				for i := j + 1; i < m; i++ {
					a[i*lda+j] *= r
				}
			} else {
				for i := j + 1; i < m; i++ {
					a[i*lda+j] /= piv
				}
			}
		}
		if j+1 < n && j+1 < m {
			impl.Implementation.Dger(m-j-1, n-j-1, -1, a[(j+1)*lda+j:], lda, a[j*lda+j+1:], 1, a[(j+1)*lda+j+1:], lda)
		}
	}
	return ok
}
