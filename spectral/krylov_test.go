package spectral

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// The measurement behind ShiftInvert's claim (docs/spectral.md): the Hv
// products plain Lanczos on H_ll needs before one of its Ritz values is the
// block's smallest-magnitude eigenvalue to 1e-8 relative (known from the
// dense block), against the B-passes shift-invert needs for the same. The
// smallest-magnitude eigenvalue of an indefinite block sits inside the
// spectrum, where Lanczos converges last: plain Lanczos must need more
// products than shift-invert (the test fails otherwise), typically the
// whole space.
func TestPlainLanczosNearestZero(t *testing.T) {
	widths := []int{5, 16}
	if testing.Short() {
		widths = widths[:1]
	}
	for _, w := range widths {
		testPlainLanczos(t, w)
	}
}

// testPlainLanczos measures on a tanh net of width w with biases and
// batch w + 1 (every block exact, (w+1)·w parameters).
func testPlainLanczos(t *testing.T, w int) {
	tanh := ops.TanhFunc{}
	var layers []nets.Layer
	for range 3 {
		layers = append(layers, nets.Layer{Out: w, Act: tanh, Bias: true})
	}
	m, err := nets.Build(nets.Spec{Batch: w + 1, In: w, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 1)), 1/math.Sqrt(float64(w)), 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		b := p.Block(l)
		hl, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := hl.Dims()
		var eig mat.EigenSym
		sym := mat.NewSymDense(n, nil)
		for i := range n {
			for j := range n {
				sym.SetSym(i, j, (hl.At(i, j)+hl.At(j, i))/2)
			}
		}
		if !eig.Factorize(sym, false) {
			t.Fatal("eigendecomposition failed")
		}
		target := math.Inf(1)
		for _, v := range eig.Values(nil) {
			if math.Abs(v) < math.Abs(target) {
				target = v
			}
		}
		rng := rand.New(rand.NewPCG(5, 0x1a9c205))
		start := make([]float64, n)
		for i := range start {
			start[i] = rng.NormFloat64()
		}
		kr := newKrylov(BlockHessian(b), start, rng, true, DefaultTol)
		plain := 0
		for plain == 0 {
			if err := kr.step(); err != nil {
				t.Fatal(err)
			}
			// Eigenvalues alone (Dsterf, O(m²)): the Ritz values.
			m := len(kr.alpha)
			theta := append([]float64(nil), kr.alpha...)
			e := append(make([]float64, 0, m), kr.beta[:m-1]...)
			if !(gonum.Implementation{}).Dsterf(m, theta, append(e, 0)) {
				t.Fatal("Dsterf failed")
			}
			for _, th := range theta {
				if math.Abs(th-target) <= 1e-8*math.Abs(target) {
					plain = kr.products
				}
			}
			if kr.done && plain == 0 {
				t.Fatalf("block %s: plain Lanczos never reached %.10g", b.Name(), target)
			}
		}
		e, err := ShiftInvert(b, 1, 0, &Options{Seed: 5}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(e.Values[0]-target) / math.Abs(target); d > 1e-8 || e.Products > 30 {
			t.Errorf("block %s: shift-invert %.12g, dense %.12g (relative %.2g) in %d B-passes, want 1e-8 in ≤ 30", b.Name(), e.Values[0], target, d, e.Products)
		}
		if plain <= e.Products {
			t.Errorf("block %s: plain Lanczos %d Hv, shift-invert %d B-passes: no gain", b.Name(), plain, e.Products)
		}
		t.Logf("block %s (n %d): smallest |λ| = %.6g to 1e-8: plain Lanczos %d Hv, shift-invert %d B-passes (+%d Hv certificate)", b.Name(), n, target, plain, e.Products, e.HvProducts)
	}
}
