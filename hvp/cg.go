package hvp

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// CGOptions configure conjugate gradients on the exact Hv (the
// Hessian-free method, Martens 2010). The zero value means: no damping, no
// preconditioner, Tol 1e-8, at most 2n iterations for n unknowns.
type CGOptions struct {
	// Damping λ ≥ 0 solves (H + λI) u = v instead of H u = v.
	Damping float64
	// Precond, if set, applies a symmetric positive definite M⁻¹:
	// dst = M⁻¹ r, both in Flatten order.
	Precond func(dst, r []float64)
	// Tol is the target relative residual ‖(H + λI) u − v‖ / ‖v‖.
	Tol float64
	// MaxIter caps the iterations (each one Hessian-vector product).
	MaxIter int
}

// CGStats report a conjugate-gradient solve.
type CGStats struct {
	Iterations int
	Converged  bool
	Residual   float64 // final ‖(H + λI) u − v‖ / ‖v‖, recomputed, not the recurrence's
	Reason     string  // why it stopped
}

// InvHvCG solves (H_ll + λI) u = v by conjugate gradients on the exact
// block Hv. The result's Residual is that of the undamped H_ll; it is
// certified when CG converged. Not converging is a *ConditionError
// carrying the result.
func (p *Products) InvHvCG(l int, v *tensor.Dense, o *CGOptions) (*Inverse, error) {
	return p.invHvCG(l, v, o, Options{})
}

func (p *Products) invHvCG(l int, v *tensor.Dense, o *CGOptions, checks Options) (res *Inverse, err error) {
	defer recoverTo(&err)
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	if err := check(p.Weights[l], v, "direction"); err != nil {
		return nil, err
	}
	apply := func(x []float64) ([]float64, error) {
		hx, err := p.BlockHv(l, newDense(v.Shape(), x))
		if err != nil {
			return nil, err
		}
		return denseData(hx), nil
	}
	u, stats, err := cg(apply, denseData(v), o)
	if err != nil {
		return nil, err
	}
	ut := newDense(v.Shape(), u)
	hu, err := p.BlockHv(l, ut)
	if err != nil {
		return nil, err
	}
	res = &Inverse{U: ut, Kind: KindCG, Method: fmt.Sprintf("conjugate gradients, damping %g", damping(o)),
		Residual: relDiff(hu, v), CG: stats}
	return res, p.certify(l, res, checks)
}

// InvHvCGFull solves (H + λI) u = v for the full Hessian (all blocks
// jointly) by conjugate gradients on the exact Hv. H may be indefinite
// across blocks: CG then stops at the first direction of non-positive
// curvature and says so.
func (p *Products) InvHvCGFull(v []*tensor.Dense, o *CGOptions) (u []*tensor.Dense, stats *CGStats, err error) {
	defer recoverTo(&err)
	if err := p.checkAll(v, "direction"); err != nil {
		return nil, nil, err
	}
	apply := func(x []float64) ([]float64, error) {
		xs, err := Unflatten(x, p.Weights)
		if err != nil {
			return nil, err
		}
		hx, err := p.Hv(xs)
		if err != nil {
			return nil, err
		}
		return Flatten(hx), nil
	}
	x, stats, err := cg(apply, Flatten(v), o)
	if err != nil {
		return nil, nil, err
	}
	u, err = Unflatten(x, p.Weights)
	return u, stats, err
}

func damping(o *CGOptions) float64 {
	if o == nil {
		return 0
	}
	return o.Damping
}

// cg solves (A + λI) x = b by (preconditioned) conjugate gradients.
func cg(apply func([]float64) ([]float64, error), b []float64, o *CGOptions) ([]float64, *CGStats, error) {
	var opt CGOptions
	if o != nil {
		opt = *o
	}
	if opt.Tol == 0 {
		opt.Tol = 1e-8
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 2 * len(b)
	}
	if opt.Damping < 0 || math.IsNaN(opt.Damping) || opt.Tol < 0 || opt.MaxIter < 0 {
		return nil, nil, &ShapeError{What: "CG options", Reason: fmt.Sprintf("damping %v, tol %v, max iterations %d: want all ≥ 0", opt.Damping, opt.Tol, opt.MaxIter)}
	}
	op := func(x []float64) ([]float64, error) {
		ax, err := apply(x)
		if err != nil {
			return nil, err
		}
		for i := range ax {
			ax[i] += opt.Damping * x[i]
		}
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
	n := len(b)
	bn := norm2(b)
	stats := &CGStats{}
	x := make([]float64, n)
	if bn == 0 {
		stats.Converged, stats.Reason = true, "v = 0"
		return x, stats, nil
	}
	r := append([]float64(nil), b...)
	z := precond(r)
	d := append([]float64(nil), z...)
	rz := dot(r, z)
	stats.Reason = "iteration cap reached"
	for stats.Iterations < opt.MaxIter {
		if norm2(r)/bn <= opt.Tol {
			stats.Converged, stats.Reason = true, "tolerance reached"
			break
		}
		ad, err := op(d)
		if err != nil {
			return nil, nil, err
		}
		stats.Iterations++
		curv := dot(d, ad)
		if !(curv > 0) {
			stats.Reason = fmt.Sprintf("non-positive curvature dᵀ(H + λI)d = %.3g", curv)
			break
		}
		alpha := rz / curv
		for i := range x {
			x[i] += alpha * d[i]
			r[i] -= alpha * ad[i]
		}
		z = precond(r)
		rzNew := dot(r, z)
		beta := rzNew / rz
		rz = rzNew
		for i := range d {
			d[i] = z[i] + beta*d[i]
		}
	}
	// The true residual, not the recurrence's.
	ax, err := op(x)
	if err != nil {
		return nil, nil, err
	}
	for i := range ax {
		ax[i] -= b[i]
	}
	stats.Residual = norm2(ax) / bn
	if stats.Converged && stats.Residual > 10*opt.Tol {
		stats.Converged, stats.Reason = false, fmt.Sprintf("recurrence converged but the true residual is %.3g", stats.Residual)
	}
	return x, stats, nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm2(a []float64) float64 { return math.Sqrt(dot(a, a)) }
