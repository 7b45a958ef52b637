package main

import (
	"io"
	"strings"
	"testing"
)

// Both functions at every sign pattern of x: Hv and H⁻¹v against the
// closed forms (H = 6 diag(x) and the 3×3 product Hessian, condition ≤ 40
// at these points: 1e-13), certified, and finite differences of the
// inverse at r = 1e-6 within 1e-7 (truncation r²·|f‴/f′| plus rounding
// ε/r ≈ 1e-10); a zero coordinate, where H is singular, refuses H⁻¹v
// with the condition that failed, for either function and every
// position.
func TestClosedForms(t *testing.T) {
	mags := []float64{1.5, 2, 0.5}
	v := []float64{1, -2, 3}
	for pattern := range 8 {
		x := make([]float64, 3)
		for i := range x {
			x[i] = mags[i]
			if pattern&(1<<i) != 0 {
				x[i] = -x[i]
			}
		}
		rs, err := run(io.Discard, x, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Error != "" {
				t.Fatalf("x = %v, %s: %s", x, r.Function, r.Error)
			}
			if r.HvRelErr > 1e-13 || r.InvHvRelErr > 1e-13 || !r.Certified || r.Residual > 1e-13 || r.FDRelErr > 1e-7 {
				t.Errorf("x = %v, %s: Hv %.2g, H⁻¹v %.2g (certified %v, residual %.2g), FD %.2g", x, r.Function, r.HvRelErr, r.InvHvRelErr, r.Certified, r.Residual, r.FDRelErr)
			}
		}
	}
	for i := range 3 {
		x := []float64{1.5, -2, 0.5}
		x[i] = 0
		rs, err := run(io.Discard, x, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.HvRelErr > 1e-13 {
				t.Errorf("x = %v, %s: Hv differs from the closed form by %.2g", x, r.Function, r.HvRelErr)
			}
			if !strings.Contains(r.Error, "left the domain") || r.InvHv != nil {
				t.Errorf("x = %v, %s: want a refusal, got %q, %v", x, r.Function, r.Error, r.InvHv)
			}
		}
		if !refused(rs) {
			t.Errorf("x = %v: not refused", x)
		}
	}
}
