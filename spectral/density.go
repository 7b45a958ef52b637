package spectral

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/internal/plots"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Defaults of DensityOptions.
const (
	DefaultVectors = 8  // random start vectors, averaged
	DefaultSteps   = 80 // Lanczos steps per vector (at most the operator's size)
	// DefaultWidth is the Gaussian broadening σ relative to the width of the
	// spectrum found (the largest Ritz value minus the smallest).
	DefaultWidth = 0.01
)

// DensityOptions control SLQ. A nil *DensityOptions, like every zero
// field, means the default.
type DensityOptions struct {
	Vectors  int    // random start vectors (0: DefaultVectors)
	Steps    int    // Lanczos steps per vector (0: DefaultSteps; at most n)
	Seed     uint64 // seeds the Rademacher start vectors
	MaxBytes int64  // caps the Krylov basis, (Steps+1)·n float64s (0: the default cap)
}

// Density is a spectral density by stochastic Lanczos quadrature: for each
// start vector v (Rademacher, normalised), the Gauss quadrature of the
// Lanczos tridiagonal T = S Θ Sᵀ, nodes θ_j and weights τ_j = S_1j²
// (Σ_j τ_j = 1), so that vᵀ f(A) v ≈ Σ_j τ_j f(θ_j) (Golub & Meurant), and
// the density is their average (Ghorbani, Krishnan & Xiao 2019; Lin, Saad &
// Yang 2016),
//
//	φ(t) = (1/V) Σ_v Σ_j τ_vj g_σ(t − θ_vj),   g_σ the normal density of width σ.
//
// It integrates to 1, and its mean Σ τ θ / V is the Hutchinson estimate of
// tr(A)/n with the same start vectors (vᵀAv with v = z/√n).
type Density struct {
	Size     int         // n, the operator's size
	Nodes    [][]float64 // θ_vj: per start vector, the Ritz values (ascending)
	Weights  [][]float64 // τ_vj
	Products int
}

// SLQ returns the spectral density of a symmetric operator by stochastic
// Lanczos quadrature (see Density), each start vector's basis fully
// reorthogonalised. Its errors are those of Lanczos: a non-symmetric
// operator or bad options an *errs.ArgumentError, a basis above MaxBytes an
// *errs.LimitError, a failed product its error.
func SLQ(a Operator, opt *DensityOptions) (d *Density, err error) {
	defer errs.Recover("spectral.SLQ", &err)
	if a == nil {
		return nil, errNilOperator
	}
	if !a.Symmetric() {
		return nil, &errs.ArgumentError{What: "operator", Value: fmt.Sprint(a), Reason: "SLQ needs a symmetric operator"}
	}
	var o DensityOptions
	if opt != nil {
		o = *opt
	}
	if o.Vectors < 0 || o.Steps < 0 || o.MaxBytes < 0 {
		return nil, &errs.ArgumentError{What: "DensityOptions", Value: o, Reason: "Vectors, Steps and MaxBytes must be ≥ 0 (0: the default)"}
	}
	if o.Vectors == 0 {
		o.Vectors = DefaultVectors
	}
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	n := a.Size()
	steps := min(o.Steps, n)
	if err := budget.Check("the SLQ Lanczos basis", 8*float64(steps+1)*float64(n), o.MaxBytes, "(DensityOptions.Steps+1)·n float64s; lower Steps or raise MaxBytes"); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x51c))
	d = &Density{Size: n}
	z := make([]float64, n)
	for range o.Vectors {
		rademacher(rng, z)
		kr := newKrylov(a, z, rng, false, DefaultTol)
		for len(kr.alpha) < steps && !kr.done {
			if err := kr.step(); err != nil {
				return nil, err
			}
		}
		d.Products += kr.products
		theta, s, err := kr.ritz()
		if err != nil {
			return nil, err
		}
		m := len(theta)
		tau := make([]float64, m)
		for j := range tau {
			tau[j] = s[j] * s[j] // S[0][j]²: first components
		}
		d.Nodes = append(d.Nodes, theta)
		d.Weights = append(d.Weights, tau)
	}
	return d, nil
}

// Range returns the smallest and largest node.
func (d *Density) Range() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, th := range d.Nodes {
		for _, t := range th {
			lo, hi = math.Min(lo, t), math.Max(hi, t)
		}
	}
	return lo, hi
}

// Width returns σ = DefaultWidth·(hi − lo) (1 when every node is equal).
func (d *Density) Width() float64 {
	lo, hi := d.Range()
	if w := DefaultWidth * (hi - lo); w > 0 {
		return w
	}
	return 1
}

// Mean returns ∫ t φ(t) dt = (1/V) Σ τ θ: the Hutchinson estimate of
// tr(A)/n from the start vectors (whatever σ).
func (d *Density) Mean() float64 {
	s := 0.0
	for v, th := range d.Nodes {
		for j, t := range th {
			s += d.Weights[v][j] * t
		}
	}
	return s / float64(len(d.Nodes))
}

// At returns φ(t) broadened by σ (σ ≤ 0: Width()).
func (d *Density) At(t, sigma float64) float64 {
	if !(sigma > 0) {
		sigma = d.Width()
	}
	s := 0.0
	c := 1 / (sigma * math.Sqrt(2*math.Pi))
	for v, th := range d.Nodes {
		for j, x := range th {
			u := (t - x) / sigma
			s += d.Weights[v][j] * c * math.Exp(-u*u/2)
		}
	}
	return s / float64(len(d.Nodes))
}

// Grid returns φ at points equally spaced points from 6σ below the
// smallest node to 6σ above the largest (σ ≤ 0: Width()), where all but
// 2e-9 of every Gaussian's mass lies.
func (d *Density) Grid(points int, sigma float64) (t, phi []float64) {
	if !(sigma > 0) {
		sigma = d.Width()
	}
	points = max(points, 2)
	lo, hi := d.Range()
	lo, hi = lo-6*sigma, hi+6*sigma
	t, phi = make([]float64, points), make([]float64, points)
	for i := range t {
		t[i] = lo + (hi-lo)*float64(i)/float64(points-1)
		phi[i] = d.At(t[i], sigma)
	}
	return t, phi
}

// PNG plots φ (broadened by σ; σ ≤ 0: Width()) on a log axis, as the
// spectra of Hessians (a bulk near zero and a few outliers) are shown,
// and returns the image PNG-encoded. title heads the plot.
func (d *Density) PNG(title string, sigma float64) (img []byte, err error) {
	defer errs.Recover("spectral.Density.PNG", &err)
	if d == nil || len(d.Nodes) == 0 {
		return nil, &errs.ArgumentError{What: "density", Value: nil, Reason: "has no quadrature nodes (make it with SLQ)"}
	}
	if !(sigma > 0) {
		sigma = d.Width()
	}
	t, phi := d.Grid(1000, sigma)
	peak := 0.0
	for _, y := range phi {
		peak = math.Max(peak, y)
	}
	floor := peak * 1e-8
	if !(floor > 0) {
		return nil, &errs.ArgumentError{What: "density", Value: peak, Reason: "has no positive value to plot"}
	}
	xy := make(plotter.XYs, len(t))
	for i := range t {
		xy[i].X, xy[i].Y = t[i], math.Max(phi[i], floor)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s\nSLQ: %d vectors × %d steps, Gaussian σ = %.3g", title, len(d.Nodes), len(d.Nodes[0]), sigma)
	p.X.Label.Text = "eigenvalue"
	p.Y.Label.Text = "density"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plots.Decades{Every: 2}
	p.Y.Min, p.Y.Max = floor, peak*2
	line, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	p.Add(line)
	return plots.PNG([][]*plot.Plot{{p}}, 16*vg.Centimeter, 10*vg.Centimeter)
}

// Trace returns n·Mean(), the estimate of tr(A) from the start vectors
// (Hutchinson's, each vector's quadrature Σ_j τ_j θ_j = zᵀAz/n), with the
// standard error of their spread.
func (d *Density) Trace() Estimate {
	x := make([]float64, len(d.Nodes))
	for v, th := range d.Nodes {
		for j, t := range th {
			x[v] += d.Weights[v][j] * t * float64(d.Size)
		}
	}
	if len(x) < 2 {
		return Estimate{Value: x[0], StdErr: math.NaN(), Products: d.Products}
	}
	return meanSE(x, d.Products)
}
