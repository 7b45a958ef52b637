//go:build openblas

package torchrun

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
// int openblas_get_num_threads(void);
import "C"

import "fmt"

// PinBLAS sets OpenBLAS's thread pool (newtonia's BLAS with -tags openblas)
// to threads, whatever OPENBLAS_NUM_THREADS said when it was loaded, and
// describes it.
func PinBLAS(threads int) (string, error) {
	C.openblas_set_num_threads(C.int(threads))
	if got := int(C.openblas_get_num_threads()); got != threads {
		return "", fmt.Errorf("OpenBLAS runs %d threads after openblas_set_num_threads(%d)", got, threads)
	}
	return fmt.Sprintf("OpenBLAS (openblas_get_num_threads() = %d)", threads), nil
}
