package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Problem exposes the loss and gradient of p at its current inputs as a
// gonum optimize.Problem over the weights flattened in hvp.Flatten order,
// so that gonum's methods (BFGS, LBFGS, CG, …) run on the same net as
// baselines. Evaluations bind nothing: the weights are passed to each
// product. A failed evaluation (bad values, a non-finite loss) returns
// +Inf from Func, which gonum's line searches treat as a failed step; the
// error is kept in *err when err is not nil.
func Problem(p *hvp.Products, err *error) optimize.Problem {
	keep := func(e error) {
		if e != nil && err != nil {
			*err = e
		}
	}
	return optimize.Problem{
		Func: func(x []float64) float64 {
			ws, e := hvp.Unflatten(x, p.Weights)
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
			ws, e := hvp.Unflatten(x, p.Weights)
			var pt *hvp.Point
			if e == nil {
				pt, e = p.Evaluate(ws)
			}
			if e != nil {
				keep(e)
				floats.Scale(0, grad)
				return
			}
			copy(grad, hvp.Flatten(pt.Grads))
		},
	}
}

// setWeights binds the given tensors (not copies, unless converted to a
// float32 weight's dtype) to p's weights.
func setWeights(p *hvp.Products, ws []*tensor.Dense) error {
	for k, w := range p.Weights {
		if err := G.Let(w, hvp.AsDtype(ws[k], w.Dtype())); err != nil {
			return &errs.ShapeError{What: "weight " + w.Name(), Reason: err.Error()}
		}
	}
	return nil
}

func axpy(x *tensor.Dense, a float64, y *tensor.Dense) *tensor.Dense {
	d := append([]float64(nil), hvp.Data(x)...)
	floats.AddScaled(d, a, hvp.Data(y))
	return tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(d))
}

func scaled(a float64, x *tensor.Dense) *tensor.Dense {
	d := append([]float64(nil), hvp.Data(x)...)
	floats.Scale(a, d)
	return tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(d))
}

// valueGrad pairs a value with a gradient for Gorgonia's solvers.
type valueGrad struct {
	v, g *tensor.Dense
}

func (vg valueGrad) Value() G.Value         { return vg.v }
func (vg valueGrad) Grad() (G.Value, error) { return vg.g, nil }

// ValueGrads pairs each of p's weights' current value with a gradient (from
// p.Gradient), so that Gorgonia's own solvers (SGD, Adam, RMSProp, …) can
// train a net whose gradient newtonia computes: they update the weights'
// value tensors in place.
func ValueGrads(p *hvp.Products, grads []*tensor.Dense) ([]G.ValueGrad, error) {
	ws, err := p.CurrentWeights()
	if err != nil {
		return nil, err
	}
	if len(grads) != len(ws) {
		return nil, &errs.ShapeError{What: "gradients", Reason: fmt.Sprintf("%d matrices for %d weights", len(grads), len(ws))}
	}
	out := make([]G.ValueGrad, len(ws))
	for k := range ws {
		if grads[k] == nil || !grads[k].Shape().Eq(ws[k].Shape()) {
			return nil, &errs.ShapeError{What: "gradient for " + p.Weights[k].Name(), Reason: "nil or of another shape than the weight"}
		}
		out[k] = valueGrad{ws[k], grads[k]}
	}
	return out, nil
}
