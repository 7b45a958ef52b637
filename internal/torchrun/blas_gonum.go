//go:build !openblas

package torchrun

import (
	"fmt"
	"runtime"

	"github.com/newtonia/newtonia/fastblas"
)

// PinBLAS describes newtonia's BLAS on threads threads: fastblas runs its
// blocks on GOMAXPROCS goroutines, which the caller has set to threads (an error if it has not).
func PinBLAS(threads int) (string, error) {
	if p := runtime.GOMAXPROCS(0); p != threads {
		return "", fmt.Errorf("GOMAXPROCS is %d, not -threads %d", p, threads)
	}
	return fmt.Sprintf("fastblas (pure Go, %s kernel; its workers: GOMAXPROCS = %d)", fastblas.Kernel(), threads), nil
}
