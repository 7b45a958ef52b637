package spectral

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
)

// DefaultSamples is the number of operator products of a trace or diagonal
// estimate when TraceOptions.Samples is 0: a standard error of about
// ‖A‖_F·√(2/30) ≈ 0.26‖A‖_F for Hutchinson.
const DefaultSamples = 30

// DefaultMaxColumns caps the exact diagonal's and trace's products of a
// block without a per-sample route: n exact Hv columns for n parameters.
const DefaultMaxColumns = 4096

// TraceOptions control the trace and diagonal estimators. A nil
// *TraceOptions, like every zero field, means the default.
type TraceOptions struct {
	// Samples is the number of operator products (0: DefaultSamples): for
	// Hutchinson and Diagonal, Rademacher probes, at least 2 (for the
	// standard error); for Hutch++, m products, at least 6, split into
	// thirds (m/3 sketch, m/3 projected, m − 2·(m/3) probes).
	Samples int
	Seed    uint64 // seeds the Rademacher probes
}

func (o *TraceOptions) samples(least int, what string) (int, error) {
	m := DefaultSamples
	if o != nil && o.Samples != 0 {
		m = o.Samples
	}
	if m < least {
		return 0, &errs.ArgumentError{What: "TraceOptions.Samples for " + what, Value: m, Reason: fmt.Sprintf("must be at least %d (0: DefaultSamples)", least)}
	}
	return m, nil
}

func (o *TraceOptions) rng() *rand.Rand {
	var s uint64
	if o != nil {
		s = o.Seed
	}
	return rand.New(rand.NewPCG(s, 0x7ace))
}

// Estimate is a stochastic estimate with its standard error: the sample
// standard deviation of its probes over √(probes), conditional, for
// Hutch++, on the sketch.
type Estimate struct {
	Value    float64 `json:"estimate"`
	StdErr   float64 `json:"stderr"`
	Products int     `json:"products"`
}

func rademacher(rng *rand.Rand, z []float64) {
	for i := range z {
		z[i] = 1
		if rng.Uint64()&1 == 0 {
			z[i] = -1
		}
	}
}

// Hutchinson estimates tr(A) by Hutchinson's estimator (1989),
//
//	tr(A) ≈ (1/m) Σ_i z_iᵀ A z_i,   z_i Rademacher,
//
// of variance 2(‖A‖_F² − Σ A_jj²)/m, with the standard error from the
// probes' spread.
func Hutchinson(a Operator, opt *TraceOptions) (est Estimate, err error) {
	defer errs.Recover("spectral.Hutchinson", &err)
	if a == nil {
		return Estimate{}, errNilOperator
	}
	m, err := opt.samples(2, "Hutchinson")
	if err != nil {
		return Estimate{}, err
	}
	rng := opt.rng()
	n := a.Size()
	z, az := make([]float64, n), make([]float64, n)
	x := make([]float64, m)
	for i := range x {
		rademacher(rng, z)
		if err := a.Apply(az, z); err != nil {
			return Estimate{}, err
		}
		x[i] = floats.Dot(z, az)
	}
	return meanSE(x, m), nil
}

func meanSE(x []float64, products int) Estimate {
	mean, sd := stat.MeanStdDev(x, nil)
	return Estimate{Value: mean, StdErr: sd / math.Sqrt(float64(len(x))), Products: products}
}

// HutchPP estimates tr(A) by Hutch++ (Meyer, Musco, Musco & Woodruff 2021,
// Algorithm 1) with m products: Q an orthonormal basis of A S for m/3
// Rademacher columns S, then
//
//	tr(A) ≈ tr(Qᵀ A Q) + (1/p) Σ_i g_iᵀ (I − QQᵀ) A (I − QQᵀ) g_i
//
// over p = m − 2·(m/3) Rademacher probes g_i: exact on A's top-(m/3)
// range, Hutchinson on the rest, of variance O(1/m²) for a matrix of
// decaying spectrum against Hutchinson's O(1/m). The standard error is the
// probes' (the first term is exact given Q).
func HutchPP(a Operator, opt *TraceOptions) (est Estimate, err error) {
	defer errs.Recover("spectral.HutchPP", &err)
	if a == nil {
		return Estimate{}, errNilOperator
	}
	m, err := opt.samples(6, "HutchPP")
	if err != nil {
		return Estimate{}, err
	}
	rng := opt.rng()
	n := a.Size()
	s := m / 3
	p := m - 2*s
	var q [][]float64
	for range s {
		z, az := make([]float64, n), make([]float64, n)
		rademacher(rng, z)
		if err := a.Apply(az, z); err != nil {
			return Estimate{}, err
		}
		orthogonalise(az, q)
		if nz := floats.Norm(az, 2); nz > 1e-12*math.Sqrt(float64(n)) && len(q) < n {
			floats.Scale(1/nz, az)
			q = append(q, az)
		}
	}
	products := s
	top := 0.0
	aq := make([]float64, n)
	for _, qi := range q {
		if err := a.Apply(aq, qi); err != nil {
			return Estimate{}, err
		}
		top += floats.Dot(qi, aq)
	}
	products += len(q)
	g, ag := make([]float64, n), make([]float64, n)
	x := make([]float64, p)
	for i := range x {
		rademacher(rng, g)
		orthogonalise(g, q)
		if err := a.Apply(ag, g); err != nil {
			return Estimate{}, err
		}
		x[i] = floats.Dot(g, ag) // gᵀ(I−QQᵀ) A (I−QQᵀ)g, g projected
	}
	products += p
	e := meanSE(x, products)
	e.Value += top
	return e, nil
}

// DiagonalEstimate is an estimate of diag(A), entry by entry, in flat order.
type DiagonalEstimate struct {
	Values   []float64
	StdErr   []float64
	Products int
}

// Diagonal estimates diag(A) by Hutchinson's diagonal estimator (Bekas,
// Kokiopoulou & Saad 2007) with Rademacher probes (z ⊙ z = 1):
//
//	diag(A) ≈ (1/m) Σ_i z_i ⊙ A z_i,
//
// entry j of variance Σ_{k≠j} A_jk² / m, with each entry's standard error
// from the probes' spread.
func Diagonal(a Operator, opt *TraceOptions) (de *DiagonalEstimate, err error) {
	defer errs.Recover("spectral.Diagonal", &err)
	if a == nil {
		return nil, errNilOperator
	}
	m, err := opt.samples(2, "Diagonal")
	if err != nil {
		return nil, err
	}
	rng := opt.rng()
	n := a.Size()
	z, az := make([]float64, n), make([]float64, n)
	sum, sum2 := make([]float64, n), make([]float64, n)
	for range m {
		rademacher(rng, z)
		if err := a.Apply(az, z); err != nil {
			return nil, err
		}
		for j := range az {
			v := z[j] * az[j]
			sum[j] += v
			sum2[j] += v * v
		}
	}
	d := &DiagonalEstimate{Values: make([]float64, n), StdErr: make([]float64, n), Products: m}
	fm := float64(m)
	for j := range sum {
		mean := sum[j] / fm
		v := math.Max(0, (sum2[j]-fm*mean*mean)/(fm-1))
		d.Values[j], d.StdErr[j] = mean, math.Sqrt(v/fm)
	}
	return d, nil
}

// ExactDiagonal returns diag(A) from n products with the unit vectors e_j
// (exact for the exact operators of this package), refusing an operator
// of more than maxColumns (0: DefaultMaxColumns) columns with an
// *errs.LimitError before any product.
func ExactDiagonal(a Operator, maxColumns int) (diag []float64, err error) {
	defer errs.Recover("spectral.ExactDiagonal", &err)
	if a == nil {
		return nil, errNilOperator
	}
	if maxColumns < 0 {
		return nil, &errs.ArgumentError{What: "maxColumns", Value: maxColumns, Reason: "must be ≥ 0 (0: DefaultMaxColumns)"}
	}
	if maxColumns == 0 {
		maxColumns = DefaultMaxColumns
	}
	n := a.Size()
	if n > maxColumns {
		return nil, &errs.LimitError{What: fmt.Sprintf("the exact diagonal of %v", a), Resource: "parameters", Estimate: float64(n), Limit: float64(maxColumns), Hint: "raise maxColumns, or estimate with Diagonal"}
	}
	d := make([]float64, n)
	e, ae := make([]float64, n), make([]float64, n)
	for j := range d {
		e[j] = 1
		if err := a.Apply(ae, e); err != nil {
			return nil, err
		}
		e[j] = 0
		d[j] = ae[j]
	}
	return d, nil
}

// BlockDiagonal returns diag(H_ll) of a block exactly. With a per-sample
// route it is read from the block's per-sample curvature (Block.Curvature,
// H_ll = Σ_i h̃_iᵀh̃_i ⊗ M_i), at the cost of n_l + 1 gradients for a layer
// of n_l outputs and no matrix of the block's size:
//
//	H_ll[(a,b),(a,b)] = Σ_i h̃_ia² (M_i)_bb;
//
// otherwise from the block's exact Hv columns, at most maxColumns (0:
// DefaultMaxColumns) of them (ExactDiagonal's *errs.LimitError above).
// Its sum is the block's exact trace.
func BlockDiagonal(b *hvp.Block, maxColumns int) (diag []float64, err error) {
	defer errs.Recover("spectral.BlockDiagonal", &err)
	if cv, err := b.Curvature(); err == nil {
		return curvatureDiagonal(cv, b.Layout().Len())
	}
	return ExactDiagonal(BlockHessian(b), maxColumns)
}

func curvatureDiagonal(cv *hvp.Curvature, size int) ([]float64, error) {
	rows, k := cv.Rows.Dims()
	if len(cv.M) != rows || rows == 0 {
		return nil, &errs.ArgumentError{What: "Curvature", Value: len(cv.M), Reason: "needs one M_i per row of h̃"}
	}
	n, _ := cv.M[0].Dims()
	if k*n != size {
		return nil, &errs.ShapeError{What: "per-sample curvature", Got: []int{k, n}, Want: []int{size}}
	}
	d := make([]float64, k*n)
	for i := range rows {
		for a := range k {
			h := cv.Rows.At(i, a)
			h2 := h * h
			for c := range n {
				d[a*n+c] += h2 * cv.M[i].At(c, c)
			}
		}
	}
	return d, nil
}
