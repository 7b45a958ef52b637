package solver_test

import "gonum.org/v1/gonum/floats"

// flatRelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0) of flat values.
func flatRelDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}
