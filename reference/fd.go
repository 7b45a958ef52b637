package reference

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

// HvFD returns the central difference (g(w + r u) − g(w − r u)) / 2r · ‖v‖
// of the gradient along u = v/‖v‖: an approximation of H v with error
// O(r²) + O(ε‖g‖/r), r being the norm of the perturbation. v = 0 gives
// zeros.
func HvFD(p *hvp.Products, v []*tensor.Dense, r float64) (hv []*tensor.Dense, err error) {
	defer errs.Recover("reference.HvFD", &err)
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &errs.ArgumentError{What: "finite-difference step r", Value: r, Reason: "want a finite r > 0"}
	}
	if len(v) != len(p.Weights) {
		return nil, &errs.ShapeError{What: "direction", Reason: fmt.Sprintf("%d matrices for %d weights", len(v), len(p.Weights))}
	}
	base, err := p.CurrentWeights()
	if err != nil {
		return nil, err
	}
	s := hvp.Norm(v...)
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, &errs.NotFiniteError{What: "direction", Index: -1, Value: s}
	}
	if s == 0 {
		return p.Hv(v) // zeros, after the checks
	}
	at := func(t float64) ([]*tensor.Dense, error) {
		ws := make([]*tensor.Dense, len(base))
		for k := range base {
			if !v[k].Shape().Eq(base[k].Shape()) {
				return nil, &errs.ShapeError{What: "direction for " + p.Weights[k].Name(), Got: v[k].Shape(), Want: base[k].Shape()}
			}
			d := append([]float64(nil), hvp.Data(base[k])...)
			floats.AddScaled(d, t, divided(hvp.Data(v[k]), s))
			ws[k] = tensor.New(tensor.WithShape(base[k].Shape()...), tensor.WithBacking(d))
		}
		pt, err := p.Evaluate(ws)
		if err != nil {
			return nil, err
		}
		return pt.Grads, nil
	}
	gp, gm, err := central(at, r)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(gp))
	for k := range gp {
		d := append([]float64(nil), hvp.Data(gp[k])...)
		floats.Sub(d, hvp.Data(gm[k]))
		floats.Scale(s/(2*r), d)
		out[k] = tensor.New(tensor.WithShape(gp[k].Shape()...), tensor.WithBacking(d))
	}
	return out, nil
}

// InvHvFD returns the central difference of one-weight block l's
// functional inverse along u = v/‖v‖ (v: the block's direction, one
// matrix),
//
//	(G_l⁻¹(g_l + r u) − G_l⁻¹(g_l − r u)) / 2r · ‖v‖,
//
// the other blocks and inputs at the current point: the seed's
// finite-difference method, with error about ε·cond/r for small r, and
// activation-pattern flips of the reconstructed pre-activations for large
// r. It exists where the block has an op-by-op inverse pass
// (hvp.Products.FunctionalInverse). It is certified like InvHv by its
// residual from the exact BlockHv (hvp.Products.Certify, with opt);
// KindFiniteDifference is never an exact result. v = 0 gives u = 0.
func InvHvFD(p *hvp.Products, l int, v []*tensor.Dense, r float64, opt *hvp.Options) (res *hvp.Result, err error) {
	defer errs.Recover("reference.InvHvFD", &err)
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &errs.ArgumentError{What: "finite-difference step r", Value: r, Reason: "want a finite r > 0"}
	}
	if l < 0 || l >= p.Blocks() {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", p.Blocks())}
	}
	if len(v) != 1 || len(p.Block(l)) != 1 {
		return nil, &errs.ShapeError{What: "direction for block " + p.BlockName(l), Reason: fmt.Sprintf("%d matrices for a block of %d weights; finite differences of the functional inverse need a one-weight block", len(v), len(p.Block(l)))}
	}
	w := p.Weights[p.Block(l)[0]]
	if v[0] == nil || !v[0].Shape().Eq(w.Shape()) {
		return nil, &errs.ShapeError{What: "direction for " + w.Name(), Reason: "nil or of another shape than the weight"}
	}
	s := hvp.Norm(v[0])
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, &errs.NotFiniteError{What: "direction for " + w.Name(), Index: -1, Value: s}
	}
	res = &hvp.Result{Kind: hvp.KindFiniteDifference, Method: fmt.Sprintf("finite differences of the functional inverse, r = %g", r)}
	if s == 0 {
		res.U = []*tensor.Dense{tensor.New(tensor.WithShape(v[0].Shape()...), tensor.Of(tensor.Float64))}
		return res, p.Certify(l, v, res, opt)
	}
	_, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	gl := p.BlockOf(l, g)[0]
	at := func(t float64) (*tensor.Dense, error) {
		d := append([]float64(nil), hvp.Data(gl)...)
		floats.AddScaled(d, t, divided(hvp.Data(v[0]), s))
		return p.FunctionalInverse(l, tensor.New(tensor.WithShape(v[0].Shape()...), tensor.WithBacking(d)))
	}
	wp, wm, err := central(at, r)
	if err != nil {
		return nil, err
	}
	d := append([]float64(nil), hvp.Data(wp)...)
	floats.Sub(d, hvp.Data(wm))
	floats.Scale(s/(2*r), d)
	res.U = []*tensor.Dense{tensor.New(tensor.WithShape(wp.Shape()...), tensor.WithBacking(d))}
	return res, p.Certify(l, v, res, opt)
}

// central evaluates at(r) and at(−r).
func central[T any](at func(float64) (T, error), r float64) (plus, minus T, err error) {
	if plus, err = at(r); err != nil {
		return plus, minus, err
	}
	minus, err = at(-r)
	return plus, minus, err
}

// divided returns x/s, divided (1/s overflows for a subnormal s).
func divided(x []float64, s float64) []float64 {
	out := make([]float64, len(x))
	for i, xi := range x {
		out[i] = xi / s
	}
	return out
}
