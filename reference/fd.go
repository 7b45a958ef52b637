package reference

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
)

// HvFD returns the central difference (g(w + r u) − g(w − r u)) / 2r · ‖v‖
// of the gradient along u = v/‖v‖ (v of p's layout): an approximation of
// H v with error O(r²) + O(ε‖g‖/r), r being the norm of the perturbation.
// v = 0 gives zeros.
func HvFD(p *hvp.Problem, v *params.Vector, r float64) (hv *params.Vector, err error) {
	defer errs.Recover("reference.HvFD", &err)
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &errs.ArgumentError{What: "finite-difference step r", Value: r, Reason: "want a finite r > 0"}
	}
	if err := sameLayout(v, p.Layout(), "direction"); err != nil {
		return nil, err
	}
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	s := v.Norm()
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, &errs.NotFiniteError{What: "direction", Index: -1, Value: s}
	}
	if s == 0 {
		return p.Hv(v) // zeros, after the checks
	}
	u := v.Clone()
	u.Divide(s)
	at := func(t float64) (*params.Vector, error) {
		w := base.Clone()
		w.AddScaled(t, u)
		pt, err := p.At(w)
		if err != nil {
			return nil, err
		}
		return pt.Grad, nil
	}
	gp, gm, err := central(at, r)
	if err != nil {
		return nil, err
	}
	gp.AddScaled(-1, gm)
	gp.Scale(s / (2 * r))
	return gp, nil
}

// InvHvFD returns the central difference of one-weight block l's
// functional inverse along u = v/‖v‖ (v of the block's layout),
//
//	(G_l⁻¹(g_l + r u) − G_l⁻¹(g_l − r u)) / 2r · ‖v‖,
//
// the other blocks and inputs at the current point: the seed's
// finite-difference method, with error about ε·cond/r for small r, and
// activation-pattern flips of the reconstructed pre-activations for large
// r. It exists where the block has an op-by-op inverse pass
// (hvp.Block.FunctionalInverse). It is certified like InvHv by its
// residual from the exact Block.Hv (hvp.Block.Certify, with opt); its
// result is hvp.MethodFiniteDifference and KindRefused, never an exact
// inverse product. v = 0 gives u = 0.
func InvHvFD(p *hvp.Problem, l int, v *params.Vector, r float64, opt *hvp.Options) (res *hvp.Result, err error) {
	defer errs.Recover("reference.InvHvFD", &err)
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &errs.ArgumentError{What: "finite-difference step r", Value: r, Reason: "want a finite r > 0"}
	}
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	bl := b.Layout()
	if bl.Weights() != 1 {
		return nil, &errs.ShapeError{What: "direction for block " + b.Name(), Reason: fmt.Sprintf("a block of %d weights; finite differences of the functional inverse need a one-weight block", bl.Weights())}
	}
	if v == nil || !params.Same(v.Layout(), bl) {
		return nil, &errs.ShapeError{What: "direction for " + bl.Name(0), Reason: "nil or of another shape than the weight"}
	}
	s := v.Norm()
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, &errs.NotFiniteError{What: "direction for " + bl.Name(0), Index: -1, Value: s}
	}
	res = &hvp.Result{Kind: hvp.KindRefused, Method: hvp.MethodFiniteDifference, Note: fmt.Sprintf("central differences of the functional inverse, r = %g", r),
		Reasons: []string{fmt.Sprintf("finite differences of the functional inverse (r = %g): an approximation, with error about ε·cond/r, not an exact inverse product", r)}}
	if s == 0 {
		res.U = params.New(bl)
		return res, b.Certify(v, res, opt)
	}
	_, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	u := v.Clone()
	u.Divide(s)
	gl := g.Block(l)
	at := func(t float64) (*params.Vector, error) {
		d := gl.Clone()
		d.AddScaled(t, u)
		return b.FunctionalInverse(d)
	}
	wp, wm, err := central(at, r)
	if err != nil {
		return nil, err
	}
	wp.AddScaled(-1, wm)
	wp.Scale(s / (2 * r))
	res.U = wp
	return res, b.Certify(v, res, opt)
}

// central evaluates at(r) and at(−r).
func central[T any](at func(float64) (T, error), r float64) (plus, minus T, err error) {
	if plus, err = at(r); err != nil {
		return plus, minus, err
	}
	minus, err = at(-r)
	return plus, minus, err
}

// block returns p's block l, or an *errs.ArgumentError for l out of range.
func block(p *hvp.Problem, l int) (*hvp.Block, error) {
	if l < 0 || l >= p.Blocks() {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", p.Blocks())}
	}
	return p.Block(l), nil
}

// sameLayout checks that v holds values of layout want.
func sameLayout(v *params.Vector, want *params.Layout, what string) error {
	if v == nil {
		return &errs.ShapeError{What: what, Reason: "nil"}
	}
	if !params.Same(v.Layout(), want) {
		return &errs.ShapeError{What: what, Reason: fmt.Sprintf("values of %s, want %s", v.Layout(), want)}
	}
	return nil
}
