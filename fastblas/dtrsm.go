package fastblas

import "gonum.org/v1/gonum/blas"

// trsmLeaf: triangles up to this order are solved by gonum's Dtrsm; larger
// ones are split in halves, and the off-diagonal update — all but a
// trsmLeaf/order fraction of the flops — is a Dgemm.
const trsmLeaf = 16

// Dtrsm solves op(A)·X = alpha·B (side Left) or X·op(A) = alpha·B (side
// Right) for X, overwriting B, where A is triangular (gonum's semantics and
// panics). The triangle is split recursively; the diagonal pieces go to
// gonum's Dtrsm and the updates to Dgemm.
func (impl Implementation) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	order := m
	if s == blas.Right {
		order = n
	}
	if active == nil || order <= trsmLeaf || m*n*order < smallProduct {
		impl.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	checkTrsmArgs(s, ul, tA, d, m, n, a, lda, b, ldb)
	if alpha != 1 {
		for i := 0; i < m; i++ {
			row := b[i*ldb : i*ldb+n]
			if alpha == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= alpha
			}
		}
		if alpha == 0 {
			return
		}
	}
	t := trsm{impl: impl, s: s, ul: ul, tA: tA, d: d, m: m, n: n, a: a, lda: lda, b: b, ldb: ldb,
		lower: (ul == blas.Lower) == (tA == blas.NoTrans)}
	t.solve(0, order)
}

// trsm is one triangular solve in progress.
type trsm struct {
	impl   Implementation
	s      blas.Side
	ul     blas.Uplo
	tA     blas.Transpose
	d      blas.Diag
	m, n   int
	a      []float64
	lda    int
	b      []float64
	ldb    int
	lower  bool // op(A) is lower triangular
}

// opA returns op(A)[i:, j:] as Dgemm reads it with tA.
func (t *trsm) opA(i, j int) []float64 {
	if t.tA == blas.NoTrans {
		return t.a[i*t.lda+j:]
	}
	return t.a[j*t.lda+i:]
}

// solve solves for the unknowns k0..k1 of the triangle: rows of X (Left) or
// columns (Right). The right-hand side already holds the contributions of
// the unknowns solved before them.
func (t *trsm) solve(k0, k1 int) {
	if k1-k0 <= trsmLeaf {
		if t.s == blas.Left {
			t.impl.Implementation.Dtrsm(t.s, t.ul, t.tA, t.d, k1-k0, t.n, 1, t.a[k0*t.lda+k0:], t.lda, t.b[k0*t.ldb:], t.ldb)
		} else {
			t.impl.Implementation.Dtrsm(t.s, t.ul, t.tA, t.d, t.m, k1-k0, 1, t.a[k0*t.lda+k0:], t.lda, t.b[k0:], t.ldb)
		}
		return
	}
	mid := k0 + roundUp((k1-k0)/2, 8)
	// Forward (first half first) when the first unknowns need no others:
	// op(A) lower on the left, upper on the right.
	forward := t.lower == (t.s == blas.Left)
	first, second := [2]int{k0, mid}, [2]int{mid, k1}
	if !forward {
		first, second = second, first
	}
	t.solve(first[0], first[1])
	// Subtract the solved unknowns' contribution from the second part.
	f0, f1, s0, s1 := first[0], first[1], second[0], second[1]
	if t.s == blas.Left {
		// B[s, :] −= op(A)[s, f] · X[f, :]
		t.impl.Dgemm(t.tA, blas.NoTrans, s1-s0, t.n, f1-f0, -1, t.opA(s0, f0), t.lda,
			t.b[f0*t.ldb:], t.ldb, 1, t.b[s0*t.ldb:], t.ldb)
	} else {
		// B[:, s] −= X[:, f] · op(A)[f, s]
		t.impl.Dgemm(blas.NoTrans, t.tA, t.m, s1-s0, f1-f0, -1, t.b[f0:], t.ldb,
			t.opA(f0, s0), t.lda, 1, t.b[s0:], t.ldb)
	}
	t.solve(second[0], second[1])
}

// checkTrsmArgs panics as gonum's Dtrsm does on bad arguments.
func checkTrsmArgs(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, a []float64, lda int, b []float64, ldb int) {
	switch {
	case s != blas.Left && s != blas.Right:
		panic("blas: illegal side")
	case ul != blas.Lower && ul != blas.Upper:
		panic("blas: illegal triangle")
	case tA != blas.NoTrans && tA != blas.Trans && tA != blas.ConjTrans:
		panic("blas: illegal transpose")
	case d != blas.NonUnit && d != blas.Unit:
		panic("blas: illegal diagonal")
	case m < 0:
		panic("blas: m < 0")
	case n < 0:
		panic("blas: n < 0")
	}
	k := n
	if s == blas.Left {
		k = m
	}
	switch {
	case lda < max(1, k):
		panic("blas: bad leading dimension of A")
	case ldb < max(1, n):
		panic("blas: bad leading dimension of B")
	case len(a) < lda*(k-1)+k:
		panic("blas: insufficient length of a")
	case len(b) < ldb*(m-1)+n:
		panic("blas: insufficient length of b")
	}
}
