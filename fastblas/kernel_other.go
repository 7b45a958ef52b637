//go:build !amd64 || purego

package fastblas

// kernels is empty: without amd64 assembly every product is gonum's.
var kernels []microKernel
