package spectral_test

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/floats"
)

// SLQ on H of the tanh net against the dense Hessian.
//
//   - Each vector's weights sum to 1 (they are the squared first row of an
//     orthogonal matrix): 1e-12.
//   - The broadened density integrates to 1: the grid reaches 6σ beyond the
//     extreme nodes (2e-9 of each Gaussian outside) and its spacing is
//     0.03σ, where the trapezoid rule on a Gaussian is exact to far below
//     that: 1e-8.
//   - Its first moment equals Mean() (the quadrature's Σ τθ, whatever σ:
//     a Gaussian is symmetric), to the same 1e-8 of the spectrum's width.
//   - Mean()·n is a Hutchinson estimate of tr(H): within 3 of its
//     stderr of the dense trace (a t-variable of 15 degrees of freedom
//     leaves ±3 0.9% of the time; seeded).
//   - The spectrum's ends: the extreme nodes approach the extreme dense
//     eigenvalues from inside (Ritz values interlace): within 1e-6 of ‖H‖
//     after 60 of 90 steps.
func TestSLQ(t *testing.T) {
	p := tanhNet(t, 1)
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	dense := eigs(t, hd)
	n := len(dense)
	d, err := spectral.SLQ(spectral.Hessian(p), &spectral.DensityOptions{Vectors: 16, Steps: 60, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for v, w := range d.Weights {
		if s := floats.Sum(w); math.Abs(s-1) > 1e-12 {
			t.Errorf("vector %d: weights sum to %.15g", v, s)
		}
	}
	sigma := d.Width()
	x, phi := d.Grid(4000, sigma)
	h := x[1] - x[0]
	if h > 0.05*sigma {
		t.Fatalf("grid spacing %.3g is not ≪ σ = %.3g", h, sigma)
	}
	var mass, first float64
	for i := range x {
		w := h
		if i == 0 || i == len(x)-1 {
			w = h / 2
		}
		mass += w * phi[i]
		first += w * phi[i] * x[i]
	}
	lo, hi := d.Range()
	if math.Abs(mass-1) > 1e-8 {
		t.Errorf("density integrates to %.12g, want 1", mass)
	}
	if math.Abs(first-d.Mean()) > 1e-8*(hi-lo) {
		t.Errorf("first moment %.12g, Mean %.12g", first, d.Mean())
	}
	tr := d.Trace()
	if exact := trace(hd); math.Abs(tr.Value-exact) > 3*tr.StdErr {
		t.Errorf("SLQ trace %.6g ± %.2g, exact %.6g", tr.Value, tr.StdErr, exact)
	}
	if math.Abs(tr.Value/float64(n)-d.Mean()) > 1e-12*math.Abs(d.Mean()) {
		t.Errorf("Trace/n %.15g, Mean %.15g", tr.Value/float64(n), d.Mean())
	}
	if tr.Products != 16*60 {
		t.Errorf("%d products, want %d", tr.Products, 16*60)
	}
	if e := math.Max(math.Abs(hi-dense[0]), math.Abs(lo-dense[n-1])); e > 1e-6*norm2(dense) {
		t.Errorf("nodes span [%.10g, %.10g], dense spectrum [%.10g, %.10g]", lo, hi, dense[n-1], dense[0])
	}
	t.Logf("SLQ: trace %.5g ± %.2g (exact %.5g), range [%.5g, %.5g]", tr.Value, tr.StdErr, trace(hd), lo, hi)
	img, err := d.PNG("H", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Errorf("PNG does not decode: %v", err)
	}
}

// Gauss quadrature with m nodes is exact for polynomials of degree up to
// 2m − 1 (Golub & Meurant): on diag(λ), λ the dense spectrum of a net's H,
// a Rademacher start z has z_i² = 1, so vᵀD^k v = Σ_i λ_i^k / n exactly,
// and the 5-node quadrature Σ_j τ_j θ_j^k must equal it for k ≤ 9: to
// 1e-10 relative, plus 1e-12·‖λ‖^k for moments that cancel to near 0
// (rounding of the basis).
func TestSLQMoments(t *testing.T) {
	p := tanhNet(t, 3)
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := hd.Dims()
	lam := eigs(t, hd)
	op := diag(lam)
	d, err := spectral.SLQ(op, &spectral.DensityOptions{Vectors: 1, Steps: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 9; k++ { // 5 nodes: exact up to degree 9
		var q, want float64
		for j, th := range d.Nodes[0] {
			q += d.Weights[0][j] * math.Pow(th, float64(k))
		}
		for _, l := range lam {
			want += math.Pow(l, float64(k)) / float64(n)
		}
		if math.Abs(q-want) > 1e-10*math.Abs(want)+1e-12*math.Pow(norm2(lam), float64(k)) {
			t.Errorf("moment %d: quadrature %.15g, exact %.15g", k, q, want)
		}
	}
}

// diagOp is the operator diag(λ).
type diagOp []float64

func diag(l []float64) diagOp    { return diagOp(l) }
func (d diagOp) Size() int       { return len(d) }
func (d diagOp) Symmetric() bool { return true }
func (d diagOp) Apply(dst, x []float64) error {
	for i, l := range d {
		dst[i] = l * x[i]
	}
	return nil
}
