//go:build !openblas

package main

func blasName() string { return "gonum (pure Go)" }
