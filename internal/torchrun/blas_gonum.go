//go:build !openblas

package main

import (
	"fmt"
	"runtime"

	"github.com/newtonia/newtonia/fastblas"
)

// pinBLAS describes newtonia's BLAS on threads threads: fastblas runs its
// blocks on GOMAXPROCS goroutines, which main has set to threads.
func pinBLAS(threads int) (string, error) {
	if p := runtime.GOMAXPROCS(0); p != threads {
		return "", fmt.Errorf("GOMAXPROCS is %d, not -threads %d", p, threads)
	}
	return fmt.Sprintf("fastblas (pure Go, %s kernel; its workers: GOMAXPROCS = %d)", fastblas.Kernel(), threads), nil
}
