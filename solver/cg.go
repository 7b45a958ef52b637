package solver

import (
	"errors"
	"fmt"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
)

// Defaults of CGOptions.
const (
	DefaultCGTol = 1e-8
	// DefaultCGMaxIter caps the iterations (each one Hessian-vector
	// product) unless the system is smaller: at most twice the unknowns.
	DefaultCGMaxIter = 1000
	// DefaultCGMaxTime caps the wall-clock time of one solve.
	DefaultCGMaxTime = time.Minute
)

// CGOptions configure conjugate gradients on the exact Hv (the
// Hessian-free method, Martens 2010). A nil *CGOptions, like every zero
// field, means the default: no damping, no preconditioner, DefaultCGTol,
// min(2n, DefaultCGMaxIter) iterations for n unknowns, DefaultCGMaxTime.
type CGOptions struct {
	// Tikhonov λ > 0 solves (H + λI) u = v instead of H u = v (0 or
	// NoDamping: undamped, the default).
	Tikhonov float64
	// Precond, if set, applies a symmetric positive definite M⁻¹:
	// dst = M⁻¹ r, both in params.Vector's flat order.
	Precond func(dst, r []float64)
	// Tol is the target relative residual ‖(H + λI) u − v‖ / ‖v‖.
	Tol float64
	// MaxIter caps the iterations.
	MaxIter int
	// MaxTime caps the wall-clock time.
	MaxTime time.Duration
	// Progress, if set, is called after each iteration with its number
	// and the recurrence's relative residual.
	Progress func(iter int, residual float64)
}

func (o *CGOptions) withDefaults(n int) (CGOptions, error) {
	var r CGOptions
	if o != nil {
		r = *o
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	r.Tikhonov = cgTikhonov(&r)
	if r.Tol == 0 {
		r.Tol = DefaultCGTol
	}
	if r.MaxIter == 0 {
		r.MaxIter = min(2*n, DefaultCGMaxIter)
	}
	if r.MaxTime == 0 {
		r.MaxTime = DefaultCGMaxTime
	}
	return r, nil
}

// CGStats report a conjugate-gradient solve.
type CGStats struct {
	Iterations int
	Converged  bool
	// Capped names the cap that stopped the solve: "", "iterations" or
	// "time".
	Capped string
	// Residual is the final ‖(H + λI) u − v‖ / ‖v‖, recomputed, not the
	// recurrence's.
	Residual float64
	Reason   string // why it stopped
}

// CGResult is a block solve by conjugate gradients: the hvp.Result
// (hvp.MethodCG, and KindRefused: not an exact inverse product; its
// Residual that of the undamped H_ll) and the solve's stats.
type CGResult struct {
	*hvp.Result
	CG CGStats
}

// InvHvCG solves (H_ll + λI) u = v (v of block l's layout) by conjugate
// gradients on the exact block Hv, within the caps of o. The result is
// Certified when CG converged and, undamped, its residual passes the
// checks of hvp.Options. A solve that did not converge returns its result
// together with an *errs.LimitError (a cap reached) or an
// *errs.ConditionError (another reason, e.g. non-positive curvature).
func InvHvCG(p *hvp.Problem, l int, v *params.Vector, o *CGOptions) (res *CGResult, err error) {
	defer errs.Recover("solver.InvHvCG", &err)
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	if _, err := b.Hv(v); err != nil { // checks v, and the inputs
		return nil, err
	}
	apply := func(x []float64) ([]float64, error) {
		hx, err := b.Hv(params.FromFlat(b.Layout(), x))
		if err != nil {
			return nil, err
		}
		return hx.Flat(), nil
	}
	x, stats, err := cg(apply, v.Flat(), o)
	if err != nil {
		return nil, err
	}
	lambda := cgTikhonov(o)
	res = &CGResult{CG: *stats, Result: &hvp.Result{
		U:       params.FromFlat(b.Layout(), x),
		Kind:    hvp.KindRefused,
		Method:  hvp.MethodCG,
		Reasons: []string{fmt.Sprintf("conjugate gradients on the exact Hv, damping %g: an iterative solution, not an exact inverse product", lambda)},
		Note:    fmt.Sprintf("%s after %d iterations", stats.Reason, stats.Iterations),
	}}
	if err := b.Certify(v, res.Result, &hvp.Options{BestEffort: true}); err != nil {
		return nil, err
	}
	if lambda > 0 { // it solves the damped system: its own residual decides
		res.Certified = stats.Converged
	}
	res.Certified = res.Certified && stats.Converged
	return res, stats.err(b.Name(), l)
}

// block returns p's block l, or an *errs.ArgumentError for l out of range.
func block(p *hvp.Problem, l int) (*hvp.Block, error) {
	if l < 0 || l >= p.Blocks() {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", p.Blocks())}
	}
	return p.Block(l), nil
}

// err returns the error of a solve that did not converge.
func (s *CGStats) err(weight string, block int) error {
	switch {
	case s.Converged:
		return nil
	case s.Capped == "iterations":
		return &errs.LimitError{What: "conjugate gradients on " + weight, Resource: "iterations", Reached: true,
			Estimate: float64(s.Iterations), Limit: float64(s.Iterations), Hint: fmt.Sprintf("residual %.3g; raise CGOptions.MaxIter", s.Residual)}
	case s.Capped == "time":
		return &errs.LimitError{What: "conjugate gradients on " + weight, Resource: "time", Reached: true,
			Hint: fmt.Sprintf("after %d iterations, residual %.3g; raise CGOptions.MaxTime", s.Iterations, s.Residual)}
	}
	return &errs.ConditionError{Block: block, Weight: weight, Value: s.Residual,
		Reason: fmt.Sprintf("conjugate gradients: %s after %d iterations, residual %.3g", s.Reason, s.Iterations, s.Residual)}
}

// InvHvCGFull solves (H + λI) u = v for the full Hessian (all blocks
// jointly; v of p's layout) by conjugate gradients on the exact Hv. H may
// be indefinite across blocks: CG then stops at the first direction of
// non-positive curvature and says so. Not converging is an error as for
// InvHvCG, returned with u and the stats.
func InvHvCGFull(p *hvp.Problem, v *params.Vector, o *CGOptions) (u *params.Vector, stats *CGStats, err error) {
	defer errs.Recover("solver.InvHvCGFull", &err)
	if _, err := p.Hv(v); err != nil { // checks v and the inputs
		return nil, nil, err
	}
	apply := func(x []float64) ([]float64, error) {
		hx, err := p.Hv(params.FromFlat(p.Layout(), x))
		if err != nil {
			return nil, err
		}
		return hx.Flat(), nil
	}
	x, stats, err := cg(apply, v.Flat(), o)
	if err != nil {
		return nil, nil, err
	}
	return params.FromFlat(p.Layout(), x), stats, stats.err("the full Hessian", -1)
}

// cg solves (A + λI) x = b by (preconditioned) conjugate gradients.
func cg(apply func([]float64) ([]float64, error), b []float64, o *CGOptions) ([]float64, *CGStats, error) {
	n := len(b)
	opt, err := o.withDefaults(n)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	op := func(x []float64) ([]float64, error) {
		ax, err := apply(x)
		if err != nil {
			return nil, err
		}
		floats.AddScaled(ax, opt.Tikhonov, x)
		return ax, nil
	}
	precond := func(r []float64) []float64 {
		z := make([]float64, len(r))
		if opt.Precond == nil {
			copy(z, r)
		} else {
			opt.Precond(z, r)
		}
		return z
	}
	// Solved for b/‖b‖ and scaled back: the recurrences' dot products
	// neither overflow nor underflow for any finite b.
	bn := floats.Norm(b, 2)
	stats := &CGStats{}
	x := make([]float64, n)
	if bn == 0 {
		stats.Converged, stats.Reason = true, "v = 0"
		return x, stats, nil
	}
	b = append([]float64(nil), b...)
	for i := range b {
		b[i] /= bn
	}
	r := append([]float64(nil), b...)
	z := precond(r)
	d := append([]float64(nil), z...)
	rz := floats.Dot(r, z)
	for {
		if floats.Norm(r, 2) <= opt.Tol {
			stats.Converged, stats.Reason = true, "tolerance reached"
			break
		}
		if stats.Iterations >= opt.MaxIter {
			stats.Capped, stats.Reason = "iterations", fmt.Sprintf("iteration cap %d reached", opt.MaxIter)
			break
		}
		if el := time.Since(t0); el > opt.MaxTime {
			stats.Capped, stats.Reason = "time", fmt.Sprintf("time cap %v reached", opt.MaxTime)
			break
		}
		ad, err := op(d)
		if err != nil {
			return nil, nil, err
		}
		stats.Iterations++
		curv := floats.Dot(d, ad)
		if !(curv > 0) {
			stats.Reason = fmt.Sprintf("non-positive curvature dᵀ(H + λI)d = %.3g", curv)
			break
		}
		alpha := rz / curv
		floats.AddScaled(x, alpha, d)
		floats.AddScaled(r, -alpha, ad)
		z = precond(r)
		rzNew := floats.Dot(r, z)
		beta := rzNew / rz
		rz = rzNew
		floats.AddScaledTo(d, z, beta, d)
		if opt.Progress != nil {
			opt.Progress(stats.Iterations, floats.Norm(r, 2))
		}
	}
	// The true residual, not the recurrence's.
	ax, err := op(x)
	if err != nil {
		return nil, nil, err
	}
	floats.Sub(ax, b)
	stats.Residual = floats.Norm(ax, 2)
	if stats.Converged && stats.Residual > 10*opt.Tol {
		stats.Converged, stats.Reason = false, fmt.Sprintf("recurrence converged but the true residual is %.3g", stats.Residual)
	}
	floats.Scale(bn, x)
	return x, stats, nil
}

// InvHv is exact-else-CG: block l's certified B-pass product when it
// passes the checks of opt (and fits its caps), else conjugate gradients on the exact Hv with
// cgOpt (hvp.MethodCG), the result saying in Note why it fell back.
func InvHv(p *hvp.Problem, l int, v *params.Vector, opt *hvp.Options, cgOpt *CGOptions) (*hvp.Result, error) {
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	res, err := b.InvHv(v, opt)
	if err == nil && res.Certified {
		return res, nil
	}
	if err != nil && !errors.Is(err, errs.ErrCondition) && !errors.Is(err, errs.ErrNoInverse) && !errors.Is(err, errs.ErrLimit) {
		return nil, err
	}
	why := "the exact result is not certified"
	if err != nil {
		why = err.Error()
	}
	cgr, cgErr := InvHvCG(p, l, v, cgOpt)
	if cgr == nil {
		return nil, cgErr
	}
	cgr.Note = fmt.Sprintf("fell back to CG (%s); CG: %s", why, cgr.Note)
	if cgErr != nil && (opt == nil || !opt.BestEffort) {
		return nil, fmt.Errorf("%w (after falling back from: %s)", cgErr, why)
	}
	return cgr.Result, nil
}
