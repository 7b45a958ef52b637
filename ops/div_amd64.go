//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

//go:noescape
func divideAVX512(out, x, y []float64, acc *[8]float64)

// hasDivideAVX512: the division loop runs eight lanes of VDIVPD.
var hasDivideAVX512 = cpu.X86.HasAVX512F

// divideVector divides the leading multiple of 8 elements of out = x ⊘ y
// with AVX-512 when the CPU has it, adding q − q of each quotient into
// acc; it returns how many it divided.
func divideVector(out, x, y []float64, acc *[8]float64) int {
	if !hasDivideAVX512 {
		return 0
	}
	n := len(out) &^ 7
	divideAVX512(out[:n], x[:n], y[:n], acc)
	return n
}
