package solver

// K-FAC's amortisation (Martens & Grosse 2015 §8; kfac-jax's
// "inverse_update_period" and "curvature_update_period"): the factors'
// statistics are gathered every StatsEvery steps and folded into their
// moving averages, the damped factors inverted every Refresh steps, and a
// direction between refreshes is two matrix products with the inverses
// (Dgemm on fastblas) instead of two triangular solves.

import (
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// gather returns the loss and gradient at the bound inputs and the
// factors this step uses: hvp.Kronecker's on a statistics step (every
// StatsEvery steps, and the first), otherwise the last ones gathered,
// with only the gradient computed (hvp.Problem.Gradient: no per-sample
// pass). stats says whether the factors are this step's own, to be
// folded into the moving averages.
func (k *KFAC) gather() (loss float64, g *params.Vector, fs []*hvp.Factors, stats bool, err error) {
	if k.last == nil || k.steps%k.s.StatsEvery == 0 {
		kf, err := k.p.KroneckerSample(k.s.StatsSamples)
		if err != nil {
			return 0, nil, nil, false, err
		}
		k.last = kf.Factors
		return kf.Loss, kf.Grad, kf.Factors, true, nil
	}
	loss, g, err = k.p.Gradient()
	return loss, g, k.last, false, err
}

// dampedInverse returns (m + c·(tr m/n)·I)⁻¹ as a dense matrix, from the
// Cholesky factor dampedCholesky finds (raising the damping while
// rounding leaves it not positive definite), or why not.
func dampedInverse(m *mat.SymDense, c float64) (*mat.Dense, string) {
	ch, reason := dampedCholesky(m, c)
	if reason != "" {
		return nil, reason
	}
	n := m.SymmetricDim()
	eye := mat.NewDense(n, n, nil)
	for i := range n {
		eye.Set(i, i, 1)
	}
	var inv mat.Dense // two triangular solves (Dtrsm on fastblas): at 785×785 several times faster than Cholesky.InverseTo's Potri
	if err := ch.SolveTo(&inv, eye); err != nil {
		return nil, "its inverse: " + err.Error()
	}
	return &inv, ""
}

// emaSym sets avg to decay·avg + (1 − decay)·f in place (both symmetric,
// of one size; the upper triangles, which SymDense stores).
func emaSym(avg, f *mat.SymDense, decay float64) {
	a, b := avg.RawSymmetric(), f.RawSymmetric()
	for i := range a.N {
		ra, rb := a.Data[i*a.Stride+i:i*a.Stride+a.N], b.Data[i*b.Stride+i:i*b.Stride+b.N]
		for j := range ra {
			ra[j] = decay*ra[j] + (1-decay)*rb[j]
		}
	}
}

// applyInverses returns Ã⁻¹·gr·D̃⁻¹, the row-major vec of
// (Ã ⊗ D̃)⁻¹ vec(gr), as two matrix products.
func applyInverses(ia, id, gr *mat.Dense) *mat.Dense {
	var t, y mat.Dense
	t.Mul(ia, gr)
	y.Mul(&t, id)
	return &y
}
