package ops

import (
	"math"
	"testing"
)

// TestLeakyReLUSliceMatchesDeriv: the branch-free slice forms agree with
// Deriv, bit for bit, on the values where a bit trick could go wrong.
func TestLeakyReLUSliceMatchesDeriv(t *testing.T) {
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 5e-324, -5e-324, math.MaxFloat64, -math.MaxFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(), math.Float64frombits(0xFFF8000000000001), 0.3, -2.5}
	for _, alpha := range []float64{0.01, 0.5, 0.1} {
		f := LeakyReLUFunc{Alpha: alpha}
		for order := 0; order <= 2; order++ {
			got := make([]float64, len(xs))
			f.DerivSlice(order, got, xs)
			for i, x := range xs {
				want, _ := f.Deriv(order, x)
				if math.Float64bits(got[i]) != math.Float64bits(want) && !(math.IsNaN(got[i]) && math.IsNaN(want)) &&
					!(got[i] == 0 && want == 0) { // the sign of a zero value may differ
					t.Errorf("α=%g order %d x=%v: slice %v, Deriv %v", alpha, order, x, got[i], want)
				}
			}
		}
	}
}
