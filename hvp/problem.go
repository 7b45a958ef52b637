package hvp

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

var inf = math.Inf(1)

// Problem exposes the loss and gradient at the current inputs as a gonum
// optimize.Problem over the weights flattened in Flatten order, so that
// gonum's methods (BFGS, LBFGS, CG, …) run on the same net as baselines.
// Each evaluation binds the evaluated weights (fresh tensors). A failed
// evaluation (bad values, a non-finite loss) returns +Inf from Func, which
// gonum's line searches treat as a failed step; the error is kept in *err
// when err is not nil.
func (p *Products) Problem(err *error) optimize.Problem {
	set := func(x []float64) bool {
		ws, e := Unflatten(x, p.Weights)
		if e == nil {
			e = p.setWeights(ws)
		}
		if e != nil && err != nil {
			*err = e
		}
		return e == nil
	}
	return optimize.Problem{
		Func: func(x []float64) float64 {
			if !set(x) {
				return inf
			}
			loss, e := p.LossValue()
			if e != nil {
				if err != nil {
					*err = e
				}
				return inf
			}
			return loss
		},
		Grad: func(grad, x []float64) {
			if !set(x) {
				for i := range grad {
					grad[i] = 0
				}
				return
			}
			_, g, e := p.Gradient()
			if e != nil {
				if err != nil {
					*err = e
				}
				for i := range grad {
					grad[i] = 0
				}
				return
			}
			copy(grad, Flatten(g))
		},
	}
}
