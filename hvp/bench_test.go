package hvp_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"gorgonia.org/tensor"
)

// benchNet is a square 3-layer leaky-ReLU net with batch = width = n.
func benchNet(b *testing.B, n int) (*nets.MLP, *hvp.Products, []*tensor.Dense) {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	m, p := square(b, rng, 3, n)
	_, g, err := p.Gradient()
	if err != nil {
		b.Fatal(err)
	}
	// Compile every machine outside the timed loops.
	if _, err := p.Hv(g); err != nil {
		b.Fatal(err)
	}
	if _, err := p.InvHvAll(g); err != nil {
		b.Fatal(err)
	}
	return m, p, g
}

var benchSizes = []int{16, 64, 256}

// BenchmarkProducts times each product on its own.
func BenchmarkProducts(b *testing.B) {
	for _, n := range benchSizes {
		_, p, g := benchNet(b, n)
		b.Run(fmt.Sprintf("n=%d/gradient", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/Hv", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Hv(g); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/InvHvAll", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.InvHvAll(g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRatio runs a gradient and a certified InvHv for all blocks
// alternately in one loop and reports their time ratio (robust to machine
// noise, unlike ratios of separate benchmarks).
func BenchmarkRatio(b *testing.B) {
	for _, n := range benchSizes {
		_, p, g := benchNet(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var tg, ti, th time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := p.Hv(g); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := p.InvHvAll(g); err != nil {
					b.Fatal(err)
				}
				tg, th, ti = tg+t1.Sub(t0), th+t2.Sub(t1), ti+time.Since(t2)
			}
			b.ReportMetric(float64(th)/float64(tg), "Hv/grad")
			b.ReportMetric(float64(ti)/float64(tg), "InvHvAll/grad")
			b.ReportMetric(float64(tg.Microseconds())/float64(b.N), "grad-µs")
		})
	}
}
