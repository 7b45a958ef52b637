//go:build !amd64 || purego

package ops

// hasScanAVX512 is false without amd64 assembly (a var so that the tests
// can set it as on amd64).
var hasScanAVX512 = false

// scanVector scans nothing without amd64 assembly: FirstNonFinite's loop
// does it all.
func scanVector(data []float64) (sum float64, n int) { return 0, 0 }
