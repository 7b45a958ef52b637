//go:build openblas

package openblas

// #cgo LDFLAGS: -lopenblas
import "C"

import "gonum.org/v1/netlib/blas/netlib"

// Implementation is OpenBLAS as a gonum blas.Float64.
type Implementation = netlib.Implementation
