//go:build !amd64 || purego

package ops

// divideVector divides nothing without amd64 assembly: divide's loop does
// it all.
func divideVector(out, x, y []float64, acc *[8]float64) int { return 0 }
