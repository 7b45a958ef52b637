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
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
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
		kf, err := k.p.KroneckerRows(k.s.StatsSamples) // a dense layer's grams folded by update (emaRows)
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

// rowsOf returns block l's factors of this step when their rows give its
// gradient as h̃ᵀδ (hvp.Factors.Rows: a dense layer, the factors
// gathered this step; no penalty, whose gradient h̃ᵀδ leaves out), else
// nil.
func (k *KFAC) rowsOf(l int) *hvp.Factors {
	if k.fresh == nil {
		return nil
	}
	f := k.fresh[l]
	if f == nil || f.Rows == nil || f.Delta == nil || f.Transposed || f.Penalty != nil || f.PenaltyErr != nil {
		return nil
	}
	return f
}

// rowsCheaper reports whether (Ã⁻¹h̃ᵀ)(δD̃⁻¹), B·(n_A² + n_D² + n_A·n_D)
// multiply-adds, costs fewer than Ã⁻¹·∇W̃·D̃⁻¹'s n_A·n_D·(n_A + n_D) for
// the n_A × n_D gradient (on MNIST's first layer, B = 128, n_A = 785,
// n_D = 256: 113 million against 209).
func rowsCheaper(f *hvp.Factors, nA, nD int) bool {
	b, ra := f.Rows.Dims()
	if bd, rd := f.Delta.Dims(); bd != b || ra != nA || rd != nD {
		return false
	}
	return b*(nA*nA+nD*nD+nA*nD) < nA*nD*(nA+nD)
}

// applyInversesRows returns Ã⁻¹·h̃ᵀδ·D̃⁻¹ = (Ã⁻¹h̃ᵀ)(δD̃⁻¹), which is
// applyInverses on the gradient h̃ᵀδ up to rounding.
func applyInversesRows(ia, id, rows, delta *mat.Dense) *mat.Dense {
	var ah, dd, y mat.Dense
	ah.Mul(ia, rows.T())
	dd.Mul(delta, id)
	y.Mul(&ah, &dd)
	return &y
}

// factorDims returns the sizes of f's factors: A's and DD's, or for a
// dense layer's rows without grams (hvp.Problem.KroneckerRows) the
// columns of Rows and Delta.
func factorDims(f *hvp.Factors) (nA, nD int) {
	if f.A == nil {
		_, nA = f.Rows.Dims()
		_, nD = f.Delta.Dims()
		return nA, nD
	}
	return f.A.SymmetricDim(), f.DD.SymmetricDim()
}

// emaRows folds a dense layer's statistics from its rows into the moving
// averages, avg ← decay·avg + (1 − decay)·X_sᵀX_s·scale for the first s
// = f.Samples rows (A: X = h̃, scale 1/s; DD: X = δ, scale B/s, 1 for
// s = B: hvp.KroneckerSample's factors), one Dgemm with β = decay each and
// no gram of its own; a nil average (the first statistics) is the
// factor itself. It returns the averages.
func emaRows(a, dd *mat.SymDense, f *hvp.Factors, decay float64) (*mat.SymDense, *mat.SymDense) {
	b, _ := f.Rows.Dims()
	s := f.Samples
	ddScale := 1.0
	if s < b {
		ddScale = float64(b) / float64(s)
	}
	return emaGram(a, f.Rows, s, 1/float64(s), decay), emaGram(dd, f.Delta, s, ddScale, decay)
}

// emaGram returns avg updated to decay·avg + (1 − decay)·scale·X_sᵀX_s, X_s
// the first s rows of x (nil avg: scale·X_sᵀX_s, a new matrix), written
// whole (both triangles) by one Dgemm, as hvp's grams are.
func emaGram(avg *mat.SymDense, x *mat.Dense, s int, scale, decay float64) *mat.SymDense {
	raw := x.RawMatrix()
	xs := blas64.General{Rows: s, Cols: raw.Cols, Stride: raw.Stride, Data: raw.Data[:(s-1)*raw.Stride+raw.Cols]}
	alpha, beta := (1-decay)*scale, decay
	if avg == nil {
		avg = mat.NewSymDense(raw.Cols, nil)
		alpha, beta = scale, 0
	}
	rs := avg.RawSymmetric()
	out := blas64.General{Rows: rs.N, Cols: rs.N, Stride: rs.Stride, Data: rs.Data}
	blas64.Gemm(blas.Trans, blas.NoTrans, alpha, xs, xs, beta, out)
	return avg
}
