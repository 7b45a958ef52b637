//go:build !openblas

package ops

import (
	"github.com/newtonia/newtonia/fastblas"

	"gonum.org/v1/gonum/blas/blas64"
	G "gorgonia.org/gorgonia"
)

// Unless built with -tags openblas, every matrix product and triangular
// solve of the program — package ops's, gonum/mat's and gonum/lapack's
// (blas64), Gorgonia's and tensor's — runs on fastblas: gonum's pure-Go BLAS
// with Dgemm and Dtrsm on AVX2+FMA or AVX-512 micro-kernels where the CPU
// has them (fastblas.Kernel() says which): 8–9× gonum's Dgemm and 4–6× its
// Dtrsm at n = 256–512 on this project's machine (README, Speed).
func init() {
	blas64.Use(fastblas.Implementation{})
	G.Use(fastblas.Implementation{})
}
