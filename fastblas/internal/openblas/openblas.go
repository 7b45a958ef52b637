//go:build openblas

package openblas

// #cgo LDFLAGS: -lopenblas
// extern void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);
import "C"

import (
	"unsafe"

	"gonum.org/v1/netlib/blas/netlib"
)

// Implementation is OpenBLAS as a gonum blas.Float64.
type Implementation = netlib.Implementation

// DgetrfTransposed is OpenBLAS's LAPACK dgetrf (Fortran, column-major) on
// the row-major m×n matrix a read as its n×m transpose: the LU of Aᵀ, the
// same flops as A's, for timing beside a row-major Dgetrf (its factors and
// pivots are not A's). ipiv has min(m, n) entries, 1-based as LAPACK's.
func DgetrfTransposed(m, n int, a []float64, lda int, ipiv []int32) bool {
	cm, cn, cld := C.int(n), C.int(m), C.int(lda)
	var info C.int
	C.dgetrf_(&cm, &cn, (*C.double)(unsafe.Pointer(&a[0])), &cld, (*C.int)(unsafe.Pointer(&ipiv[0])), &info)
	return info == 0
}
