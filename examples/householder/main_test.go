package main

import (
	"math"
	"testing"

	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
)

// The example's runs reach ‖∇J‖ ≤ 1e-12, Halley's and Chebyshev's in
// fewer iterations than Newton's, on the writeup's x₁x₂x₃ − c·x and on a
// tanh block; on the leaky block (T = 0) all three give the same errors.
func TestRuns(t *testing.T) {
	for _, pr := range []problem{
		{"x₁x₂x₃ − c·x", cubic(ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})},
		{"tanh net, W2+b2", net(ops.TanhFunc{}, 1, 0.05, 0)},
	} {
		newton, _, _ := run(pr, solver.HouseholderNewton)
		for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
			e, _, _ := run(pr, m)
			if e[len(e)-1] > 1e-12 || len(e) >= len(newton) {
				t.Errorf("%s, %v: errors %.2g; Newton's %.2g", pr.name, m, e, newton)
			}
		}
	}
	leaky := problem{"leaky", net(ops.LeakyReLUFunc{Alpha: 0.5}, 1, 0.05, 0)}
	newton, _, _ := run(leaky, solver.HouseholderNewton)
	halley, _, _ := run(leaky, solver.HouseholderHalley)
	if flatRelDiff(halley, newton) > 1e-12 {
		t.Errorf("leaky block: Halley's errors %.3g, Newton's %.3g", halley, newton)
	}
}

// flatRelDiff is ‖a − b‖/‖b‖ (1 for different lengths).
func flatRelDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return 1
	}
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}
