//go:build openblas

package fastblas

import "github.com/newtonia/newtonia/fastblas/internal/openblas"

// With -tags openblas the benchmarks time OpenBLAS (through gonum's netlib
// binding) beside the kernels, in the same run:
//
//	OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$' -bench . -cpu 1 ./fastblas
func init() {
	peers = append(peers, peer{"openblas", openblas.Implementation{}})
	getrfPeers = append(getrfPeers, getrfPeer{"openblas", func(m, n int, a []float64, lda int, ipiv []int) bool {
		return openblas.DgetrfTransposed(m, n, a, lda, make([]int32, min(m, n))) // Aᵀ's LU: the same flops
	}})
}
