//go:build openblas

package main

import "os"

func blasName() string { return "OpenBLAS, OPENBLAS_NUM_THREADS=" + os.Getenv("OPENBLAS_NUM_THREADS") }
