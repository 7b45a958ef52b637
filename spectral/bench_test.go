package spectral_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/spectral"
)

// benchNet is the tanh net of docs/spectral.md's measurements: width 16
// with biases, batch 17, three layers, 816 parameters.
func benchNet(b *testing.B) *hvp.Problem {
	b.Helper()
	var layers []nets.Layer
	for range 3 {
		layers = append(layers, nets.Layer{Out: 16, Act: ops.TanhFunc{}, Bias: true})
	}
	m, err := nets.Build(nets.Spec{Batch: 17, In: 16, Layers: layers})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 1)), 1/math.Sqrt(16), 1); err != nil {
		b.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// The top 5 eigenvalues of H; products per run reported.
func BenchmarkLanczosTop5(b *testing.B) {
	p := benchNet(b)
	h := spectral.Hessian(p)
	var e *spectral.Eigen
	for b.Loop() {
		var err error
		if e, err = spectral.Lanczos(h, 5, spectral.LargestAlgebraic, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.Products), "Hv/op")
}

// The eigenvalue nearest 0 of the first block by shift-invert.
func BenchmarkShiftInvert(b *testing.B) {
	p := benchNet(b)
	var e *spectral.Eigen
	for b.Loop() {
		var err error
		if e, err = spectral.ShiftInvert(p.Block(0), 1, 0, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.Products), "B-passes/op")
}

// Hutch++ with 60 products on H.
func BenchmarkHutchPP(b *testing.B) {
	p := benchNet(b)
	h := spectral.Hessian(p)
	for b.Loop() {
		if _, err := spectral.HutchPP(h, &spectral.TraceOptions{Samples: 60}); err != nil {
			b.Fatal(err)
		}
	}
}

// SLQ with the defaults (8 vectors × 80 steps) on H.
func BenchmarkSLQ(b *testing.B) {
	p := benchNet(b)
	h := spectral.Hessian(p)
	for b.Loop() {
		if _, err := spectral.SLQ(h, nil); err != nil {
			b.Fatal(err)
		}
	}
}
