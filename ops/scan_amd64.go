//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

//go:noescape
func scanAVX512(data []float64) float64

// hasScanAVX512: the non-finite scan runs four eight-lane VSUBPD/VADDPD
// chains.
var hasScanAVX512 = cpu.X86.HasAVX512F

// scanVector returns Σ (x − x) over the leading multiple of 32 elements
// of data (0 if they are all finite, NaN otherwise) with AVX-512 when the
// CPU has it, and how many elements it scanned.
func scanVector(data []float64) (sum float64, n int) {
	if !hasScanAVX512 {
		return 0, 0
	}
	n = len(data) &^ 31
	if n == 0 {
		return 0, 0
	}
	return scanAVX512(data[:n]), n
}
