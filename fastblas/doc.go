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
// GOMAXPROCS goroutines when the product is large enough.
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
package fastblas
