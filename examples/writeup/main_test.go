package main

import (
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
		rep, err := run(x, v, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Results {
			if r.Error != "" {
				t.Fatalf("x = %v, %s: %s", x, r.Function, r.Error)
			}
			if r.HvRelErr > 1e-13 || r.InvHvRelErr > 1e-13 || !r.Certified || r.Residual > 1e-13 || r.InvHvFDRelErr > 1e-7 {
				t.Errorf("x = %v, %s: Hv %.2g, H⁻¹v %.2g (certified %v, residual %.2g), FD %.2g", x, r.Function, r.HvRelErr, r.InvHvRelErr, r.Certified, r.Residual, r.InvHvFDRelErr)
			}
		}
	}
	for i := range 3 {
		x := []float64{1.5, -2, 0.5}
		x[i] = 0
		rep, err := run(x, v, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Results {
			if r.HvRelErr > 1e-13 {
				t.Errorf("x = %v, %s: Hv differs from the closed form by %.2g", x, r.Function, r.HvRelErr)
			}
			if !strings.Contains(r.Error, "left the domain") || r.InvHv != nil {
				t.Errorf("x = %v, %s: want a refusal, got %q, %v", x, r.Function, r.Error, r.InvHv)
			}
		}
		if !rep.refused() {
			t.Errorf("x = %v: not refused", x)
		}
	}
}

// The plot's claims: the exact products sit at rounding against the
// closed-form references (R-pass ≤ 1e-14, B-pass ≤ 1e-12: these blocks
// have cond ≤ 1e3), finite differences of the tanh net's inverse never
// come within 100× of the B-pass at any step, and both files are written.
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	var log strings.Builder
	if err := plotFD(dir+"/fd.png", false, &log); err != nil {
		t.Fatal(err)
	}
	probs, err := problems()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range probs {
		c, err := measure(pr, []float64{1e-8, 1e-6, 1e-4, 1e-3, 1e-2})
		if err != nil {
			t.Fatal(err)
		}
		if c.rpass > 1e-14 || c.bpass > 1e-12 {
			t.Errorf("%s: R-pass %.2g, B-pass %.2g", c.name, c.rpass, c.bpass)
		}
		if strings.HasPrefix(c.name, "tanh") && minOf(c.invFD) < 100*c.bpass {
			t.Errorf("%s: finite differences %.2g within 100× of the B-pass %.2g", c.name, minOf(c.invFD), c.bpass)
		}
	}
	if err := plotFD(dir+"/fd.png", false, &log); err == nil {
		t.Error("an existing plot was replaced without -force")
	}
	t.Log(log.String())
}
