//go:build !openblas

package main

import "github.com/newtonia/newtonia/fastblas"

func blasName() string { return "fastblas (pure Go, " + fastblas.Kernel() + " kernel)" }
