// Package fastblas is a pure-Go (no cgo) BLAS whose matrix product (Dgemm)
// and triangular solve (Dtrsm) run on register-blocked AVX2+FMA or AVX-512
// micro-kernels, chosen at run time from the CPU's features. Every other
// routine, and both of these on CPUs without AVX2 and FMA (or built with
// -tags purego), is gonum's pure-Go implementation, which Implementation
// embeds.
//
// Package ops installs it for the whole program (gonum's blas64, and so
// gonum/mat and gonum/lapack, and Gorgonia's and tensor's BLAS) unless the
// program is built with -tags openblas.
//
// # The product
//
// Dgemm follows the Goto/BLIS layout: C is scaled by beta once, then for each
// kc-deep slice of the shared dimension a kc×nc block of op(B) is packed into
// panels nr columns wide, and each mc×kc block of op(A) into panels mr rows
// high; the micro-kernel keeps an mr×nr tile of C in registers while it
// streams one panel of each (kernels_amd64.s, written by internal/asmgen).
// Transposes are absorbed by the packing. Blocks of rows run on
// GOMAXPROCS goroutines when the product is large enough. Small products
// (m, n, k ≤ 32) skip the blocking: both operands are copied once into a
// reused buffer and one kernel runs on every tile, with no goroutines: the
// widest when n fills one of its tiles' widths, else the narrowest (AVX2's
// 6×8 tile, also on AVX-512 CPUs); below m·n·k = 8³ plain Go loops (four
// sums in registers) beat even that copy.
//
// # The LU factorisation
//
// Dgetrf (LAPACK's semantics, gonum's row-major layout) is recursive on
// columns, so that nearly all its flops are in Dgemm and Dtrsm; package
// ops's LU cache (SolveOp, MatInvOp and their condition estimates) uses it.
// Matrices of order ≤ 64 are factorised by rank-1 updates in place, as
// gonum does.
//
// # The triangular solve
//
// Dtrsm reads every case (side, triangle, transpose) as one lower-triangular
// solve T·X = B through strides, and solves mr rows of X at a time for nr
// columns: a third kernel subtracts the rows already solved (a product
// with k = the rows so far, from packed operands) and substitutes the mr×mr
// diagonal block in registers (BLIS's gemm-trsm). Column panels run on
// GOMAXPROCS goroutines when the solve is large enough. Triangles of order
// up to 16 go to gonum.
//
// # Floating-point semantics
//
// Results differ from gonum's in rounding only (another summation order and
// fused multiply-adds); the tests bound the difference by the standard
// γ_k·|α|·|A||B| error bound. Non-finite values propagate as IEEE arithmetic
// says: a NaN anywhere in a row of op(A) or a column of op(B) reaches the
// element of C they meet in, and 0·Inf is NaN. (gonum skips a term whose
// α·a is zero in some of its loops, so there 0·Inf gives 0.) As in every
// BLAS, beta = 0 means C is not read, and alpha = 0 means A and B are not.
//
// # Range of the triangular solve
//
// Dtrsm applies alpha to B before the solve when |alpha| ≤ 1 and to the
// solution after it when |alpha| > 1. Every value a substitution forms is
// then bounded by (|αB| + |op(A)|·|X|)/max(1, |α|) elementwise (|X|·|op(A)|
// on the right side), X the solution, so X is finite and backward stable
// whenever
//
//	max over the elements of (|αB| + |op(A)|·|X|) / max(1, |α|) < MaxFloat64
//
// (up to rounding, a factor 1 + order·ε). The solve overflows when, for some
// unknown i, |op(A)_ii·x_i|/max(1, |α|) exceeds MaxFloat64: that value, the
// unknown's right-hand side before the division by the diagonal, is formed
// by every substitution. Between the two, whether a partial sum overflows
// depends on the order of summation. gonum's Dtrsm, which scales before the
// solve except on the left with op(A) = Aᵀ, has the same bounds with
// max(1, |α|) replaced by 1 (by |α| in that case): never a wider range.
// Triangles that go to gonum's code are solved with alpha = 1 and scaled
// here the same way; on the left, gonum multiplies by 1/a_ii, which is +Inf
// for |a_ii| below about 2⁻¹⁰²⁴. At the other end, values below 2⁻¹⁰²²
// lose bits to gradual underflow, as in any BLAS. TestDtrsmRangeBoundary checks both
// bounds on an ill-conditioned order-301 triangle.
package fastblas
