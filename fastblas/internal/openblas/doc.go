// Package openblas links OpenBLAS (Debian's libopenblas-dev) and exposes it
// through gonum's netlib binding, for fastblas's benchmarks to time beside
// its kernels; it is empty unless built with -tags openblas. It exists
// because a package with Go assembly cannot use cgo.
package openblas
