// Package influence computes influence functions (Koh & Liang 2017) with
// newtonia's block inverse products: the effect of each training point on a
// test loss,
//
//	I(z_i, test) = −∇ℓ_testᵀ H_ll⁻¹ ∇_l ℓ(z_i),
//
// H_ll the diagonal Hessian block of the training loss for block l (the last
// layer, or any block), ∇_l the gradients of block l's weights. Removing
// z_i from a summed training loss changes the test loss by about −I (one
// Newton step from the optimum without z_i's term). One inverse product
// serves every training point: u = H_ll⁻¹ ∇ℓ_test, then I_i = −uᵀ∇ℓ(z_i).
//
// The inverse product is the block's exact B-pass where it is exact
// (hvp.Block.InvHv, certified), else a dense solve of the block's
// per-sample curvature (hvp.Block.Curvature, exact up to rounding, under the
// memory cap). CG (ScoresCG, on the exact Hv) and LiSSA (ScoresLiSSA;
// Agarwal, Bullins & Hazan 2017), the estimates the Python tools use, are
// beside it, each labelled with its residual (Result.Label).
package influence

import (
	"errors"
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Result is the influence of each training point on a test loss.
type Result struct {
	Scores []float64 // I_i, in the order of the training gradients
	Method Method    // how u was computed: MethodExact, MethodCG, MethodLiSSA
	// Iterations are the Hv products of an iterative method (CG's
	// iterations, LiSSA's steps; 0 for MethodExact).
	Iterations int
	// Inverse is the product u ≈ H_ll⁻¹ ∇ℓ_test the scores come from,
	// with what computed it (Method: a B-pass route, or MethodDense) and
	// its certificate (Residual from the exact Hv).
	Inverse *hvp.Result
}

// Scores returns I(z_i, test) = −testᵀ H_ll⁻¹ train_i for block l of p (p's
// loss the training loss at its optimum, test and every train_i gradients
// of block l's layout, Layout().Block(l)). H_ll⁻¹ test is one exact inverse
// product: the B-pass when the block's kind is exact and the product
// certifies, else a dense solve of the block from its per-sample
// curvature (the error of that route if neither applies). opt controls the
// B-pass and the dense solve's damping (opt.Damping: (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹,
// for a block that is singular or indefinite away from an optimum).
func Scores(p *hvp.Problem, l int, test *params.Vector, train []*params.Vector, opt *hvp.Options) (r *Result, err error) {
	defer errs.Recover("influence.Scores", &err)
	b, err := check(p, l, test, train)
	if err != nil {
		return nil, err
	}
	u, err := inverse(b, test, opt)
	if err != nil {
		return nil, err
	}
	return score(MethodExact, u, train), nil
}

// check returns block l of p after checking that test and every train
// gradient are of its layout.
func check(p *hvp.Problem, l int, test *params.Vector, train []*params.Vector) (*hvp.Block, error) {
	if l < 0 || l >= p.Blocks() {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("must be in [0, %d)", p.Blocks())}
	}
	b := p.Block(l)
	lay := b.Layout()
	for i, g := range append([]*params.Vector{test}, train...) {
		if g == nil || !params.Same(g.Layout(), lay) {
			what := "test gradient"
			if i > 0 {
				what = fmt.Sprintf("training gradient %d", i-1)
			}
			return nil, &errs.ShapeError{What: what + " for block " + b.Name(), Reason: "must be of the block's layout " + lay.String()}
		}
	}
	return b, nil
}

// inverse returns H_ll⁻¹ v by the exact B-pass, else by a dense solve.
func inverse(b *hvp.Block, v *params.Vector, opt *hvp.Options) (*hvp.Result, error) {
	if c := b.Conditions(); c.Kind == hvp.KindExact {
		res, err := b.InvHv(v, opt)
		if err == nil && res.Kind == hvp.KindExact && res.Certified {
			return res, nil
		}
		if err != nil && !errors.Is(err, errs.ErrCondition) {
			return nil, err
		}
	}
	cv, err := b.Curvature()
	if err != nil {
		return nil, fmt.Errorf("influence: block %s has neither an exact B-pass nor a per-sample curvature to solve densely: %w", b.Name(), err)
	}
	var lambda float64
	if opt != nil {
		lambda = opt.Damping
	}
	h, err := cv.Dense(lambda)
	if err != nil {
		return nil, err
	}
	n, _ := h.Dims()
	var x mat.VecDense
	if err := x.SolveVec(h, mat.NewVecDense(n, append([]float64(nil), v.Flat()...))); err != nil {
		return nil, &errs.ConditionError{Block: b.Index(), Weight: b.Name(), Reason: "dense solve of the block: " + err.Error()}
	}
	res := &hvp.Result{U: params.FromFlat(v.Layout(), x.RawVector().Data), Kind: hvp.KindRefused, Method: hvp.MethodDense, Damping: lambda,
		Reasons: []string{"the B-pass is not exact for this block: a dense solve of its per-sample curvature"}}
	if lambda == 0 {
		if err := b.Certify(v, res, opt); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// LiSSA returns u ≈ (A + λI)⁻¹ v by LiSSA's Neumann recursion (Agarwal,
// Bullins & Hazan 2017, as in Koh & Liang's code) with exact products,
//
//	u_0 = v,   u_{j+1} = v + u_j − (A + λI) u_j / s,   u ≈ u_J / s,
//
// which converges for A + λI positive definite with s > λ_max(A + λI), at
// the rate 1 − λ_min/s per step: iters steps, the scale s and the damping λ
// as the caller tunes them. Bad settings are an *errs.ArgumentError.
func LiSSA(a spectral.Operator, v []float64, scale, damping float64, iters int) (u []float64, err error) {
	defer errs.Recover("influence.LiSSA", &err)
	switch {
	case !(scale > 0) || math.IsInf(scale, 1):
		return nil, &errs.ArgumentError{What: "LiSSA scale", Value: scale, Reason: "must be finite and > 0 (above the largest eigenvalue)"}
	case !(damping >= 0) || math.IsInf(damping, 1):
		return nil, &errs.ArgumentError{What: "LiSSA damping", Value: damping, Reason: "must be finite and ≥ 0"}
	case iters < 1:
		return nil, &errs.ArgumentError{What: "LiSSA iterations", Value: iters, Reason: "must be ≥ 1"}
	case len(v) != a.Size():
		return nil, &errs.ShapeError{What: "LiSSA vector", Got: []int{len(v)}, Want: []int{a.Size()}}
	}
	u = append([]float64(nil), v...)
	au := make([]float64, len(v))
	for range iters {
		if err := a.Apply(au, u); err != nil {
			return nil, err
		}
		for i := range u {
			u[i] += v[i] - (au[i]+damping*u[i])/scale
		}
	}
	floats.Scale(1/scale, u)
	return u, nil
}
