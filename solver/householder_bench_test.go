package solver_test

import (
	"math"
	"testing"
	"time"

	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
)

type writeupFunction struct {
	name  string
	f     func(*G.Node) (*G.Node, error)
	x0, c []float64
}

// writeupFunctions are the writeup's functions with examples/householder's starts and linear terms.
func writeupFunctions() []writeupFunction {
	return []writeupFunction{
		{"sum-cubes", func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }, []float64{1.1, -1.3, 2.2}, []float64{3, 6.75, 12}},
		{"product", ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}},
	}
}

// BenchmarkIterateBlock measures a whole run to ‖g‖ ≤ 1e-12 of each
// method on the writeup's functions (the starts of examples/householder),
// for profiles of where a step's time goes (docs/householder.md):
//
//	go test ./solver -run '^$' -bench IterateBlock -benchtime 2000x -count 3
func BenchmarkIterateBlock(b *testing.B) {
	for _, fn := range writeupFunctions() {
		for _, m := range []solver.Householder{solver.HouseholderNewton, solver.HouseholderHalley, solver.HouseholderChebyshev} {
			b.Run(fn.name+"/"+m.String(), func(b *testing.B) {
				p := cubicProblem(b, fn.f, fn.x0, fn.c)
				w0, err := p.Current()
				if err != nil {
					b.Fatal(err)
				}
				run := func() {
					if err := p.SetWeights(w0); err != nil {
						b.Fatal(err)
					}
					if _, err := solver.IterateBlock(p, 0, m, 30, 1e-12, nil); err != nil {
						b.Fatal(err)
					}
				}
				run() // builds the passes
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					run()
				}
			})
		}
	}
}

// BenchmarkStepProducts measures, on the writeup's functions, each product
// of a Householder step at new weights (each iteration moves them), as
// IterateBlock calls them: the gradient G, the certified B-pass B₁, the
// Third T, the repeated B-pass B₂ after B₁ (its reuse), the fused B-pass
// and Third F (hvp.Block.InvHvThird) and B₂ after F. It reports the
// fastest of b.N per product in µs (the machine's noise and the garbage
// collector only add to a time; the mean ns/op is of the whole sequence):
//
//	go test ./solver -run '^$' -bench StepProducts -benchtime 3000x
func BenchmarkStepProducts(b *testing.B) {
	for _, fn := range writeupFunctions() {
		b.Run(fn.name, func(b *testing.B) {
			p := cubicProblem(b, fn.f, fn.x0, fn.c)
			w0, err := p.Current()
			if err != nil {
				b.Fatal(err)
			}
			blk := p.Block(0)
			names := []string{"G", "B1", "T", "B2", "F", "B2afterF"}
			best := make([]float64, len(names))
			for i := range best {
				best[i] = math.Inf(1)
			}
			for k := range b.N + 1 { // the first builds the passes
				w := w0.Clone()
				w.Flat()[0] += 1e-3 * float64(k%7+1)
				must(b, p.SetWeights(w))
				last := time.Now()
				lap := func(i int, err error) {
					must(b, err)
					now := time.Now()
					if k > 0 {
						best[i] = math.Min(best[i], now.Sub(last).Seconds()*1e6)
					}
					last = now
				}
				_, g, err := p.Gradient()
				lap(0, err)
				gl := g.Block(0).Clone()
				last = time.Now()
				res, err := blk.InvHv(gl, nil)
				lap(1, err)
				tuu, err := blk.Third(res.U, res.U)
				lap(2, err)
				_, err = blk.InvHv(tuu, nil)
				lap(3, err)
				w.Flat()[1] += 1e-9 // new weights for the fused pass
				must(b, p.SetWeights(w))
				last = time.Now()
				_, tf, err := blk.InvHvThird(gl, nil)
				lap(4, err)
				_, err = blk.InvHv(tf, nil)
				lap(5, err)
			}
			for i, n := range names {
				b.ReportMetric(best[i], n+"-µs")
			}
		})
	}
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}
