package main

import (
	"strings"
	"testing"
)

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
