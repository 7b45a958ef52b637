//go:build amd64 && !purego

package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX-512 division loop against the scalar one (the oracle: Go's x/y,
// IEEE division, so the bits must be equal) on every length up to 40 and
// with a non-finite quotient in a vector lane, in the tail, or none: the
// same quotients and the same finiteness verdict. Skipped without
// AVX-512.
func TestDivideAVX512MatchesScalar(t *testing.T) {
	if !hasDivideAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(2, 8))
	for n := 0; n <= 40; n++ {
		for bad := -1; bad < n; bad += 1 + n/5 {
			x, y := make([]float64, n), make([]float64, n)
			for i := range x {
				x[i], y[i] = rng.NormFloat64()*1e100, rng.NormFloat64()*1e-5
			}
			if bad >= 0 {
				y[bad] = 0
			}
			got := make([]float64, n)
			finite := divide(got, x, y)
			hasDivideAVX512 = false
			want := make([]float64, n)
			wantFinite := divide(want, x, y)
			hasDivideAVX512 = true
			if finite != wantFinite || finite != (bad < 0) {
				t.Errorf("n=%d bad %d: finite %v, scalar loop %v", n, bad, finite, wantFinite)
			}
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("n=%d: quotient %d is %v, scalar %v", n, i, got[i], want[i])
				}
			}
		}
	}
}
