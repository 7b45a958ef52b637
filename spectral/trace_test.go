package spectral_test

import (
	"errors"
	"math"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/mat"
)

// The exact diagonals — BlockDiagonal from the per-sample curvature, and
// ExactDiagonal from unit-vector products of H — against the dense
// Hessian's diagonal from exact R-pass columns (reference): the same
// numbers summed in another order, so 1e-12 of the largest entry.
func TestExactDiagonal(t *testing.T) {
	p := tanhNet(t, 1)
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := hd.Dims()
	want := make([]float64, n)
	top := 0.0
	for j := range want {
		want[j] = hd.At(j, j)
		top = math.Max(top, math.Abs(want[j]))
	}
	full, err := spectral.ExactDiagonal(spectral.Hessian(p), 0)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for l := range p.Blocks() {
		b := p.Block(l)
		d, err := spectral.BlockDiagonal(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range d {
			if e := math.Abs(v - want[off+j]); e > 1e-12*top {
				t.Errorf("block %s diagonal %d: %.15g, dense %.15g", b.Name(), j, v, want[off+j])
			}
		}
		off += len(d)
	}
	for j, v := range full {
		if e := math.Abs(v - want[j]); e > 1e-12*top {
			t.Errorf("H diagonal %d: %.15g, dense %.15g", j, v, want[j])
		}
	}
	if _, err := spectral.ExactDiagonal(spectral.Hessian(p), 10); !errors.Is(err, errs.ErrLimit) {
		t.Errorf("cap 10 on 90 columns: %v, want ErrLimit", err)
	}
}

func trace(h *mat.Dense) float64 {
	n, _ := h.Dims()
	s := 0.0
	for j := range n {
		s += h.At(j, j)
	}
	return s
}

// Hutchinson and Hutch++ on H and on a block, 20 seeds each of 60 products,
// against the exact trace of the dense Hessian. The error over the
// reported standard error is about a t-variable of 59 (Hutchinson) or 19
// (Hutch++'s 20 probes) degrees of freedom, beyond ±3 0.4% and 0.7% of the
// time, beyond ±4.5 0.003% and 0.02%: of each 20 seeded runs at most one
// may lie beyond 3 stderr (two or more: probability < 1%), none beyond 4.5,
// and the average |error|/stderr must be O(1) (0.3 to 1.5: a reported
// error far too large would pass the first checks alone).
// Hutch++ with the same products must not be worse on average than
// Hutchinson on H's spectrum of a few large outliers.
func TestTraceEstimators(t *testing.T) {
	p := tanhNet(t, 1)
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := reference.DenseBlock(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name  string
		op    spectral.Operator
		exact float64
	}{
		{"H", spectral.Hessian(p), trace(hd)},
		{"H_00", spectral.BlockHessian(p.Block(0)), trace(hl)},
	}
	type est func(spectral.Operator, *spectral.TraceOptions) (spectral.Estimate, error)
	for _, o := range ops {
		errSum := map[string]float64{}
		for _, m := range []struct {
			name string
			f    est
		}{{"Hutchinson", spectral.Hutchinson}, {"Hutch++", spectral.HutchPP}} {
			z, beyond := 0.0, 0
			for seed := range uint64(20) {
				e, err := m.f(o.op, &spectral.TraceOptions{Samples: 60, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				if e.Products != 60 {
					t.Errorf("%s %s: %d products, want 60", o.name, m.name, e.Products)
				}
				d := math.Abs(e.Value - o.exact)
				if d > 3*e.StdErr {
					beyond++
					t.Logf("%s %s seed %d: %.6g ± %.2g, exact %.6g: %.1f stderr off", o.name, m.name, seed, e.Value, e.StdErr, o.exact, d/e.StdErr)
				}
				if d > 4.5*e.StdErr {
					t.Errorf("%s %s seed %d: %.6g ± %.2g, exact %.6g: %.1f stderr off", o.name, m.name, seed, e.Value, e.StdErr, o.exact, d/e.StdErr)
				}
				z += d / e.StdErr / 20
				errSum[m.name] += d / 20
			}
			if beyond > 1 {
				t.Errorf("%s %s: %d of 20 seeds beyond 3 stderr, want at most 1", o.name, m.name, beyond)
			}
			if z < 0.3 || z > 1.5 {
				t.Errorf("%s %s: mean |error|/stderr %.2f, want O(1)", o.name, m.name, z)
			}
			t.Logf("%s %s: mean |error| %.3g (exact %.6g), mean |error|/stderr %.2f", o.name, m.name, errSum[m.name], o.exact, z)
		}
		if errSum["Hutch++"] > errSum["Hutchinson"] {
			t.Errorf("%s: Hutch++ mean error %.3g above Hutchinson's %.3g", o.name, errSum["Hutch++"], errSum["Hutchinson"])
		}
	}
	if _, err := spectral.HutchPP(ops[0].op, &spectral.TraceOptions{Samples: 5}); !errors.Is(err, errs.ErrArgument) {
		t.Errorf("Hutch++ with 5 products: %v, want ErrArgument", err)
	}
}

// Hutchinson's diagonal estimator against the exact diagonal: entry j's
// error over its stderr is about a t-variable of 199 degrees of freedom, so
// their root mean square over the 30 entries is 1 ± 0.3 and none exceeds 4.5
// (4.5σ: once in 1.5e5 entries).
func TestDiagonalEstimator(t *testing.T) {
	p := tanhNet(t, 1)
	b := p.Block(1)
	exact, err := spectral.BlockDiagonal(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := spectral.Diagonal(spectral.BlockHessian(b), &spectral.TraceOptions{Samples: 200, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	rms := 0.0
	for j, v := range d.Values {
		z := math.Abs(v-exact[j]) / d.StdErr[j]
		if z > 4.5 {
			t.Errorf("diagonal %d: %.6g ± %.2g, exact %.6g", j, v, d.StdErr[j], exact[j])
		}
		rms += z * z / float64(len(exact))
	}
	if rms = math.Sqrt(rms); rms < 0.7 || rms > 1.3 {
		t.Errorf("rms error/stderr %.2f, want 1 ± 0.3", rms)
	}
}
