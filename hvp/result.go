package hvp

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
)

// Method is who computed a result's U: one of the B-pass's routes
// (method.md §3, §9), or another method of packages solver and
// reference.
type Method int

const (
	// MethodNone: no method (a block with no route in a conditions
	// report).
	MethodNone Method = iota
	// MethodChain: the B-pass of the inverse pass of the gradient map, op
	// by op (method.md §3): piecewise-linear nets, squared error, equal
	// widths.
	MethodChain
	// MethodPerSample: the B-pass solved per sample with
	// M_i = ∂²ℓ_i/∂net_i² (method.md §9): any row-separable net — smooth
	// activations, biases, cross-entropies, shrinking widths — and exact
	// damping.
	MethodPerSample
	// MethodScalar: a block of one parameter (a scalar weight such as the
	// bias of a logistic regression, G.NewScalar): its Hessian block is
	// the number h = ∂²J/∂w², which one R-pass with tangent 1 gives, and
	//
	//	H_ll⁻¹ v = v / h
	//
	// exactly when h ≠ 0 (a zero h is a run error naming the division).
	// The op-by-op chain cannot invert such a block when there is more
	// than one sample (a sum over the samples has no inverse), nor can the
	// per-sample route (batch > fan-in 1).
	MethodScalar
	// MethodCG: conjugate gradients on the exact Hv (package solver).
	MethodCG
	// MethodFiniteDifference: central differences of the functional
	// inverse (package reference).
	MethodFiniteDifference
	// MethodDense: a dense solve of the block (Block.Curvature, or a dense
	// reference).
	MethodDense
	// MethodPenalized: the route of a block whose weights a penalty term
	// of the loss reads (weight decay λ·Σ W², method.md §11): the data
	// term's per-sample curvature H_data = Aᵀ D A plus the penalty's
	// Hessian, which must be c·I on each weight (L2), solved exactly by a
	// dense LU of the k·n block or by the push-through form on the B·n
	// side, whichever is cheaper, under Options.MaxFlops.
	MethodPenalized
	// MethodDenseRoute: the route of a block no structured route inverts
	// (batch > fan-in, a conv kernel, a tied weight; method.md §13): H_ll
	// formed densely — from the per-sample curvature where the block has
	// one, else from dim exact R-pass columns — and factorised (Cholesky,
	// else LU), under Options.MaxFlops and Options.MaxBytes, certified by
	// its residual like every route.
	MethodDenseRoute
)

var methodNames = [...]string{"none", "chain", "per-sample", "scalar", "conjugate gradients", "finite differences", "dense solve", "penalized", "dense"}

// String names the method: for a B-pass, its route ("chain",
// "per-sample", "scalar").
func (m Method) String() string {
	if m < 0 || int(m) >= len(methodNames) {
		return fmt.Sprintf("Method(%d)", int(m))
	}
	return methodNames[m]
}

// MarshalText names the method in JSON and other text encodings.
func (m Method) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a method written by MarshalText.
func (m *Method) UnmarshalText(b []byte) error {
	for c := range Method(len(methodNames)) {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("hvp: unknown method %q", b)
}

// BPass reports whether m is a route of a block's inverse product
// (MethodChain, MethodPerSample, MethodScalar, MethodPenalized,
// MethodDenseRoute): the methods whose results can be exact.
func (m Method) BPass() bool {
	return m == MethodChain || m == MethodPerSample || m == MethodScalar || m == MethodPenalized || m == MethodDenseRoute
}

// description says how m computes, for Label.
func (m Method) description() string {
	switch {
	case m == MethodPenalized:
		return "penalized route: data curvature plus the penalty's, solved by LU"
	case m == MethodDenseRoute:
		return "dense route: H_ll formed and factorised"
	case m.BPass():
		return "B-pass, " + m.String() + " route"
	case m == MethodFiniteDifference:
		return "finite differences of the functional inverse"
	}
	return m.String()
}

// Factorization is the rank and condition of one matrix the inverse pass
// (or its B-pass) factorises, or, for the per-sample solve, the worst of
// its per-sample matrices (Samples > 0).
type Factorization struct {
	Node string // the matrix's node
	Op   string // the op that factorises it
	ops.MatrixCondition

	rows bool // h̃ of the per-sample route: a rank deficiency makes the result a pseudo-inverse
}

// Result is an inverse-Hessian-vector product u ≈ H_ll⁻¹ v with what
// certifies it. Kind says what U is, Method who computed it; only
// Certified results of KindExact and KindPseudoInverse are exact inverse
// products, and only B-pass methods give them.
type Result struct {
	U      *params.Vector // of the block's layout
	Kind   Kind           // for a B-pass, what U is; for any other Method KindRefused
	Method Method
	// Damping is λ of (H_ll + λ·h̃ᵀh̃ ⊗ I) for the B-pass (0: undamped).
	Damping float64
	// Residual is ‖(H_ll + λ·h̃ᵀh̃ ⊗ I) U − v‖_F / ‖v‖_F (λ = Damping), with
	// H_ll U from the exact R-pass (0 when v = 0 and U = 0; NaN when not
	// computed).
	Residual float64
	// RoundedResidual, for a float32 graph, is the residual of U as
	// returned, rounded to float32 (Residual is that of the float64 result
	// it rounds): rounding adds up to ε₃₂·cond(H_ll). It is checked
	// against Options.Tol32. NaN when not computed, 0 for float64 graphs.
	RoundedResidual float64
	// NormalResidual, for a pseudo-inverse whose Residual is above
	// tolerance, is ‖H r‖ / (σ̂ ‖r‖) with H = H_ll + λ·h̃ᵀh̃ ⊗ I,
	// r = H U − v and σ̂ an estimate of ‖H‖: near rounding when U is a
	// least-squares solution although v lies outside the range (Residual
	// is then O(1)).
	NormalResidual float64
	// Certified reports that every check passed: the residual (or, for a
	// pseudo-inverse, the normal residual) within tolerance, every
	// factorised matrix within MaxCond, the method's own criterion (CG
	// converged) and, for a float32 graph, the residual of the result as
	// returned (RoundedResidual) within Tol32: it speaks of U as returned,
	// not only of the float64 result it was rounded from. Uncertified
	// results reach only callers who asked for best effort, with both
	// residuals.
	Certified      bool
	Reasons        []string        // why the kind is not exact: from the conditions report, or the method's
	Factorizations []Factorization // of the inverse pass and B-pass
	Note           string          // what else the method reports (CG's stopping reason, a fallback)
	// Flops are the floating-point operations of the programs run for
	// this result, its certificate included (graph.Program.Flops), and,
	// for the penalized route, the estimate of its LU solve (penSolve).
	// The blocks of one InvHvAll run in one program, whose flops are
	// shared evenly among the blocks it solved.
	Flops float64
}

// Label describes r for people in one line: what U is, who computed it,
// whether it is certified, and its residual, e.g.
//
//	exact inverse (B-pass, per-sample route), certified, residual 3e-14
//	conjugate gradients, residual 1e-09 (not an exact inverse product)
//
// Only a certified result of KindExact or KindPseudoInverse is called
// exact or certified.
func (r *Result) Label() string {
	how := r.Method.description()
	if r.Damping > 0 {
		how += fmt.Sprintf(", damped λ = %g", r.Damping)
	}
	res := fmt.Sprintf("residual %.2g", r.Residual)
	if math.IsNaN(r.Residual) {
		res = "residual not computed"
	}
	if r.RoundedResidual > 0 {
		res += fmt.Sprintf(" (%.2g rounded to float32)", r.RoundedResidual)
	}
	switch {
	case !r.Method.BPass() && r.Method == MethodDense:
		return fmt.Sprintf("%s, %s (not certified)", how, res)
	case !r.Method.BPass():
		return fmt.Sprintf("%s, %s (not an exact inverse product)", how, res)
	case r.Certified && (r.Kind == KindExact || r.Kind == KindPseudoInverse):
		return fmt.Sprintf("%s (%s), certified, %s", r.Kind, how, res)
	case r.Certified && r.Kind == KindNewtonOnly:
		return fmt.Sprintf("Newton-only solution (%s), %s within tolerance (solves H u = v for v in the range of H: not an exact inverse product)", how, res)
	case r.Kind == KindRefused:
		return fmt.Sprintf("%s, refused by the conditions report and computed anyway, %s (not an exact inverse product)", how, res)
	}
	return fmt.Sprintf("%s, not certified, %s (not an exact inverse product)", how, res)
}
