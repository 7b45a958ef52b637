package ops_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DivOp's quotient, with its non-finite check folded into the division
// loop, against the oracle of an elementwise x/y and a separate scan: the
// same bits when every quotient is finite, and otherwise the error names
// the first non-finite quotient (0/0, x/0, overflow, a NaN or Inf
// operand), at every position of short and long values, and for scalars.
func TestDivFoldedCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	bad := []func(x, y []float64, i int){
		func(x, y []float64, i int) { x[i], y[i] = 0, 0 },
		func(x, y []float64, i int) { y[i] = 0 },
		func(x, y []float64, i int) { x[i], y[i] = 1e300, 1e-300 },
		func(x, y []float64, i int) { x[i] = math.NaN() },
		func(x, y []float64, i int) { y[i] = math.Inf(1); x[i] = math.Inf(-1) },
	}
	for _, n := range []int{1, 2, 7, 8, 13, 64, 1003} {
		for trial := -1; trial < len(bad); trial++ {
			x, y := make([]float64, n), make([]float64, n)
			for i := range x {
				x[i], y[i] = rng.NormFloat64(), rng.NormFloat64()
			}
			if trial >= 0 {
				for k := 0; k < 2; k++ { // two bad entries: the first is named
					bad[trial](x, y, rng.IntN(n))
				}
			}
			want, first := make([]float64, n), -1
			for i := range x {
				want[i] = x[i] / y[i]
				if first < 0 && (math.IsNaN(want[i]) || math.IsInf(want[i], 0)) {
					first = i
				}
			}
			var a, b G.Value = tensor.New(tensor.WithShape(1, n), tensor.WithBacking(append([]float64(nil), x...))),
				tensor.New(tensor.WithShape(1, n), tensor.WithBacking(append([]float64(nil), y...)))
			if n == 1 {
				a, b = G.NewF64(x[0]), G.NewF64(y[0])
			}
			out, err := ops.DivOp{}.Do(a, b)
			if first >= 0 {
				var nf *errs.NotFiniteError
				if !errors.As(err, &nf) || nf.Index != first {
					t.Errorf("n=%d trial %d: %v, want a non-finite error at %d", n, trial, err, first)
				}
				continue
			}
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			var got []float64
			if n == 1 {
				got = []float64{float64(*out.(*G.F64))}
			} else {
				got = out.(*tensor.Dense).Float64s()
			}
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("n=%d: quotient %d is %v, want %v", n, i, got[i], want[i])
				}
			}
		}
	}
}
