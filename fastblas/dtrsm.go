package fastblas

import (
	"math"
	"runtime"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
)

// trsmSmall: triangles up to this order are solved by gonum's Dtrsm.
const trsmSmall = 16

// Dtrsm solves op(A)·X = alpha·B (side Left) or X·op(A) = alpha·B (side
// Right) for X, overwriting B, where A is triangular (gonum's semantics and
// panics).
//
// alpha scales B before the solve when |alpha| ≤ 1 and the solution after
// it when |alpha| > 1, so that no value formed in between exceeds
// (|αB| + |op(A)|·|X|)/max(1, |α|) up to rounding: the range the package
// doc states. (gonum scales before, except on the left with op(A) = Aᵀ,
// where it scales after: its range is never wider.)
//
// Every case is one lower-triangular solve T·X' = B' with forward
// substitution, reading A and B through strides (a transpose swaps them, an
// upper triangle reverses the order; the right side is the left side of the
// transposed system). X' is solved mr rows at a time (mr: the micro-kernel's
// tile height) for nr columns at a time: the rows already solved enter the
// block's right-hand side through the micro-kernel (C −= T[rows, :r]·X'[:r, :],
// all but about mr/(2·order) of the flops), then the mr×mr diagonal block is
// solved by substitution in Go.
func (impl Implementation) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	checkTrsmArgs(s, ul, tA, d, m, n, a, lda, b, ldb)
	if m == 0 || n == 0 {
		return
	}
	after := math.Abs(alpha) > 1
	if alpha != 1 && !after {
		scaleRows(m, n, alpha, b, ldb)
		if alpha == 0 {
			return
		}
	}
	impl.solve(s, ul, tA, d, m, n, a, lda, b, ldb)
	if after {
		scaleRows(m, n, alpha, b, ldb)
	}
}

// solve is Dtrsm with alpha = 1 on checked, non-empty arguments.
func (impl Implementation) solve(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, a []float64, lda int, b []float64, ldb int) {
	order := m
	if s == blas.Right {
		order = n
	}
	kern := active
	if kern == nil || order <= trsmSmall || m*n*order < smallProduct {
		impl.Implementation.Dtrsm(s, ul, tA, d, m, n, 1, a, lda, b, ldb)
		return
	}
	// T(i, j) = a[ta.off + i·ta.rs + j·ta.cs], B'(i, j) likewise in b.
	ta := stride{rs: lda, cs: 1} // op(A) = A
	if tA != blas.NoTrans {
		ta.rs, ta.cs = 1, lda
	}
	tb := stride{rs: ldb, cs: 1}
	cols := n
	lower := (ul == blas.Lower) == (tA == blas.NoTrans) // op(A) lower
	if s == blas.Right {                                // X·op(A) = B ⇔ op(A)ᵀ·Xᵀ = Bᵀ
		ta.rs, ta.cs = ta.cs, ta.rs
		tb.rs, tb.cs = tb.cs, tb.rs
		cols = m
		lower = !lower
	}
	if !lower { // reverse the unknowns' order: an upper triangle becomes lower
		ta.off += (order - 1) * (ta.rs + ta.cs)
		ta.rs, ta.cs = -ta.rs, -ta.cs
		tb.off += (order - 1) * tb.rs
		tb.rs = -tb.rs
	}
	packedTrsm(kern, a, ta, d == blas.Unit, b, tb, order, cols)
}

// stride addresses a matrix in a slice: element (i, j) at off + i·rs + j·cs.
type stride struct{ off, rs, cs int }

func (s stride) at(i, j int) int { return s.off + i*s.rs + j*s.cs }

// packedTrsm solves T·X = B in place of B for lower-triangular T (order rows,
// unit diagonal if unit), B with cols columns.
func packedTrsm(kern *microKernel, a []float64, ta stride, unit bool, b []float64, tb stride, order, cols int) {
	mr, nr := kern.mr, kern.nr
	blocks := ceilDiv(order, mr)
	// Per row block I: the part of T left of its diagonal block, packed as
	// the kernel reads Ã (step p holds T(I·mr + i, p) for i < mr, zero past
	// order), then the mr×mr diagonal block, row-major, lower triangle with
	// its diagonal (1 for a unit diagonal and past order), zeros above.
	offs := make([]int, blocks+1)
	for I := range blocks {
		offs[I+1] = offs[I] + I*mr*mr + mr*mr
	}
	tpack := getBuffer(offs[blocks])
	defer putBuffer(tpack)
	for I := range blocks {
		r0 := I * mr
		panel, diag := (*tpack)[offs[I]:offs[I]+r0*mr], (*tpack)[offs[I]+r0*mr:offs[I+1]]
		clear(diag)
		for i := range mr {
			if r0+i >= order {
				for p := range r0 {
					panel[p*mr+i] = 0
				}
				diag[i*mr+i] = 1
				continue
			}
			at := ta.at(r0+i, 0)
			for p := range r0 {
				panel[p*mr+i] = a[at]
				at += ta.cs
			}
			for q := range i {
				diag[i*mr+q] = a[at]
				at += ta.cs
			}
			diag[i*mr+i] = 1
			if !unit {
				diag[i*mr+i] = a[ta.at(r0+i, r0+i)]
			}
		}
	}
	panels := ceilDiv(cols, nr)
	workers := 1
	if order*order*cols >= parallelProduct {
		workers = min(runtime.GOMAXPROCS(0), panels)
	}
	// solve solves the nr columns from jc on: per row block, gather B's
	// rows into the tile, let the kernel subtract the solved rows' part and
	// solve the diagonal block (the solved rows also go to xpack, which the
	// next blocks read as B̃), scatter the tile back.
	solve := func(jc int, xpack, tile []float64) {
		nn := min(nr, cols-jc)
		for I := range blocks {
			r0 := I * mr
			mm := min(mr, order-r0)
			if nn < nr || mm < mr {
				clear(tile)
			}
			for i := range mm {
				row := tile[i*nr : i*nr+nn]
				if tb.cs == 1 {
					at := tb.at(r0+i, jc)
					copy(row, b[at:at+nn])
					continue
				}
				for j := range row {
					row[j] = b[tb.at(r0+i, jc+j)]
				}
			}
			kern.trsm(r0, &(*tpack)[offs[I]], &xpack[0], &tile[0], nr, &(*tpack)[offs[I]+r0*mr], &xpack[r0*nr])
			for i := range mm {
				row := tile[i*nr : i*nr+nn]
				if tb.cs == 1 {
					at := tb.at(r0+i, jc)
					copy(b[at:at+nn], row)
					continue
				}
				for j, v := range row {
					b[tb.at(r0+i, jc+j)] = v
				}
			}
		}
	}
	var next atomic.Int64
	run := func(int) {
		xpack := getBuffer(blocks * mr * nr)
		defer putBuffer(xpack)
		tile := make([]float64, mr*nr)
		for i := int(next.Add(1)) - 1; i < panels; i = int(next.Add(1)) - 1 {
			solve(i*nr, *xpack, tile)
		}
	}
	if workers == 1 {
		run(0)
		return
	}
	parallel(workers, run)
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
	case m == 0 || n == 0: // gonum returns before checking the lengths
	case len(a) < lda*(k-1)+k:
		panic("blas: insufficient length of a")
	case len(b) < ldb*(m-1)+n:
		panic("blas: insufficient length of b")
	}
}
