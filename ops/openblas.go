//go:build openblas

package ops

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// Built with -tags openblas (and Debian's libopenblas-dev installed), every
// matrix product, triangular solve and factorisation of package ops (and
// of gonum/mat everywhere in the program) runs on OpenBLAS instead of
// gonum's pure-Go BLAS: 5–8× faster matrix products at n = 256–512 on this
// project's machine (see the README's Speed section).
func init() { blas64.Use(netlib.Implementation{}) }
