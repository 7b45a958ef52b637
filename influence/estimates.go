package influence

import (
	"errors"
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/floats"
)

// Method names how a Result's u ≈ H_ll⁻¹ ∇ℓ_test was computed.
type Method string

// The methods of a Result.
const (
	// MethodExact: Scores — the block's certified B-pass, else a dense
	// solve of its per-sample curvature (exact up to rounding).
	MethodExact Method = "exact"
	// MethodCG: ScoresCG — conjugate gradients on the exact block Hv, an
	// iterative estimate with its residual.
	MethodCG Method = "cg"
	// MethodLiSSA: ScoresLiSSA — LiSSA's Neumann recursion, an estimate
	// with its residual.
	MethodLiSSA Method = "lissa"
)

// ParseMethod returns the Method named s ("exact", "cg", "lissa"), else
// an *errs.ArgumentError.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case MethodExact, MethodCG, MethodLiSSA:
		return m, nil
	}
	return "", &errs.ArgumentError{What: "influence method", Value: s, Reason: "want exact, cg or lissa"}
}

// Label says what r's scores are: the inverse product's label (hvp's, which
// calls only a certified B-pass exact), and for LiSSA its settings and
// residual.
func (r *Result) Label() string {
	if r.Method == MethodLiSSA {
		return fmt.Sprintf("LiSSA (%s), residual %.2g (an estimate, not an exact inverse product)", r.Inverse.Note, r.Inverse.Residual)
	}
	l := r.Inverse.Label()
	if r.Inverse.Note != "" && r.Method == MethodCG {
		l += ": " + r.Inverse.Note
	}
	return l
}

// ScoresCG is Scores with u from conjugate gradients on the exact block Hv
// (solver.InvHvCG with o; nil: its defaults). The Result's Inverse is CG's
// (hvp.MethodCG, its residual from a fresh exact Hv, Note its stopping
// reason). A solve stopped by a cap of o still scores: the Result comes with
// the *errs.LimitError, which the caller may accept (errors.Is
// errs.ErrLimit) — the label says it did not converge.
func ScoresCG(p *hvp.Problem, l int, test *params.Vector, train []*params.Vector, o *solver.CGOptions) (r *Result, err error) {
	defer errs.Recover("influence.ScoresCG", &err)
	b, err := check(p, l, test, train)
	if err != nil {
		return nil, err
	}
	cg, err := solver.InvHvCG(p, b.Index(), test, o)
	if cg == nil {
		return nil, err
	}
	if err != nil && !errors.Is(err, errs.ErrLimit) {
		return nil, err
	}
	r = score(MethodCG, cg.Result, train)
	r.Iterations = cg.CG.Iterations
	return r, err
}

// LiSSAOptions configure ScoresLiSSA: the recursion's scale s (above the
// largest eigenvalue of H_ll + λI), damping λ ≥ 0 and number of steps.
type LiSSAOptions struct {
	Scale, Damping float64
	Iters          int
	// Products, if set, is the operator each step applies in place of
	// the exact block Hv — e.g. a minibatch estimate of H_ll (resampled at
	// every Apply, as in Koh & Liang's code). The residual is still that
	// of the exact H_ll.
	Products spectral.Operator
}

// ScoresLiSSA is Scores with u from LiSSA (influence.LiSSA) on the exact
// block Hv, or on o.Products. The Result's Inverse has hvp.MethodNone (no
// hvp route), KindRefused, Note the settings, and Residual
// ‖(H_ll + λI)u − v‖/‖v‖ from one more exact Hv.
func ScoresLiSSA(p *hvp.Problem, l int, test *params.Vector, train []*params.Vector, o LiSSAOptions) (r *Result, err error) {
	defer errs.Recover("influence.ScoresLiSSA", &err)
	b, err := check(p, l, test, train)
	if err != nil {
		return nil, err
	}
	exact := spectral.BlockHessian(b)
	a := o.Products
	if a == nil {
		a = exact
	}
	u, err := LiSSA(a, test.Flat(), o.Scale, o.Damping, o.Iters)
	if err != nil {
		return nil, err
	}
	res := &hvp.Result{U: params.FromFlat(b.Layout(), u), Kind: hvp.KindRefused, Method: hvp.MethodNone, Damping: o.Damping,
		Reasons: []string{"LiSSA: a truncated Neumann series, not an exact inverse product"}}
	if res.Residual, err = residual(exact, u, test.Flat(), o.Damping); err != nil {
		return nil, err
	}
	what := "exact Hv"
	if o.Products != nil {
		what = "stochastic Hv"
	}
	res.Note = fmt.Sprintf("%d steps on the %s, scale %.3g, damping %g", o.Iters, what, o.Scale, o.Damping)
	r = score(MethodLiSSA, res, train)
	r.Iterations = o.Iters
	return r, nil
}

// residual returns ‖(A + λI)u − v‖ / ‖v‖ (0 for v = 0 = u).
func residual(a spectral.Operator, u, v []float64, lambda float64) (float64, error) {
	au := make([]float64, len(u))
	if err := a.Apply(au, u); err != nil {
		return 0, err
	}
	floats.AddScaled(au, lambda, u)
	floats.Sub(au, v)
	num, den := floats.Norm(au, 2), floats.Norm(v, 2)
	if den == 0 {
		if num == 0 {
			return 0, nil
		}
		return math.Inf(1), nil
	}
	return num / den, nil
}

// score returns the Result of inverse product u for the training gradients.
func score(m Method, u *hvp.Result, train []*params.Vector) *Result {
	r := &Result{Method: m, Inverse: u, Scores: make([]float64, len(train))}
	for i, g := range train {
		r.Scores[i] = -u.U.Dot(g)
	}
	return r
}
