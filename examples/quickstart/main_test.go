package main

import (
	"io"
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// The example's claims, in both dtypes: Hv equals central differences of
// Gorgonia's own G.Grad (r = 1e-3: truncation O(r²); float64 1e-4,
// float32 1e-2 for its own rounding ε₃₂‖g‖/r), the damped H⁻¹v is
// certified exact, the Newton step lowers the cost and Gorgonia's machine
// sees the same cost after it, and the user's graph keeps its nodes.
func TestExample(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		s, err := run(io.Discard, dt, 3)
		if err != nil {
			t.Fatal(err)
		}
		tol, costTol := 1e-4, 1e-12 // the machine's float32 forward rounds: 1e-4
		if dt == tensor.Float32 {
			tol, costTol = 1e-2, 1e-4
		}
		if s.hvFD > tol {
			t.Errorf("%v: Hv differs from FD of G.Grad by %.3g", dt, s.hvFD)
		}
		if udt := s.inv.U.Tensors()[0].Dtype(); !s.inv.Certified || s.inv.Residual > 1e-10 || udt != dt {
			t.Errorf("%v: H⁻¹v certified %v, residual %.3g, dtype %v", dt, s.inv.Certified, s.inv.Residual, udt)
		}
		if !(s.after < s.before) || math.Abs(s.machineAfter-s.after) > costTol*s.after {
			t.Errorf("%v: cost %v → %v, Gorgonia's machine %v", dt, s.before, s.after, s.machineAfter)
		}
		if s.nodes != s.nodesThen {
			t.Errorf("%v: the user's graph went from %d to %d nodes", dt, s.nodes, s.nodesThen)
		}
	}
}
