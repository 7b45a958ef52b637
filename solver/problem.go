package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Problem exposes the loss and gradient of p at its current inputs as a
// gonum optimize.Problem over the weights in params.Vector's flat order
// (p.Layout()), so that gonum's methods (BFGS, LBFGS, CG, …) run on the
// same net as baselines. Evaluations bind nothing: the weights are passed
// to each product. A failed evaluation (bad values, a non-finite loss)
// returns +Inf from Func, which gonum's line searches treat as a failed
// step; the error is kept in *err when err is not nil.
func Problem(p *hvp.Problem, err *error) optimize.Problem {
	keep := func(e error) {
		if e != nil && err != nil {
			*err = e
		}
	}
	weights := func(x []float64) (*params.Vector, error) {
		if len(x) != p.Layout().Len() {
			return nil, &errs.ShapeError{What: "flattened values", Reason: fmt.Sprintf("%d values, the weights take %d", len(x), p.Layout().Len())}
		}
		return params.FromFlat(p.Layout(), append([]float64(nil), x...)), nil
	}
	return optimize.Problem{
		Func: func(x []float64) float64 {
			ws, e := weights(x)
			if e != nil {
				keep(e)
				return math.Inf(1)
			}
			loss, e := p.LossAt(ws)
			if e != nil {
				keep(e)
				return math.Inf(1)
			}
			return loss
		},
		Grad: func(grad, x []float64) {
			ws, e := weights(x)
			var pt *hvp.Point
			if e == nil {
				pt, e = p.At(ws)
			}
			if e != nil {
				keep(e)
				floats.Scale(0, grad)
				return
			}
			copy(grad, pt.Grad.Flat())
		},
	}
}

// valueGrad pairs a value with a gradient for Gorgonia's solvers.
type valueGrad struct {
	v, g *tensor.Dense
}

func (vg valueGrad) Value() G.Value         { return vg.v }
func (vg valueGrad) Grad() (G.Value, error) { return vg.g, nil }

// ValueGrads pairs each of p's weights' current value (the tensor bound
// to its node, not a copy; a scalar weight's value as a new tensor of
// shape ()) with a gradient (from p.Gradient, of
// p.Layout(); given as tensors in the weights' shapes and dtype), so that
// Gorgonia's own solvers (SGD, Adam, RMSProp, …) can train a net whose
// gradient newtonia computes: they update the weights' value tensors in
// place.
func ValueGrads(p *hvp.Problem, grads *params.Vector) ([]G.ValueGrad, error) {
	ws := p.Weights()
	if grads == nil || !params.Same(grads.Layout(), p.Layout()) {
		return nil, &errs.ShapeError{What: "gradients", Reason: fmt.Sprintf("want a vector of %s", p.Layout())}
	}
	gs := grads.Tensors()
	out := make([]G.ValueGrad, len(ws))
	for k, w := range ws {
		v, ok := native.Dense(w.Value())
		if !ok {
			return nil, &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("no tensor value (got %T)", w.Value())}
		}
		out[k] = valueGrad{v, gs[k]}
	}
	return out, nil
}
