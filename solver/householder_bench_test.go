package solver_test

import (
	"testing"

	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
)

// BenchmarkIterateBlock measures a whole run to ‖g‖ ≤ 1e-12 of each
// method on the writeup's functions (the starts of examples/householder),
// for profiles of where a step's time goes (docs/householder.md):
//
//	go test ./solver -run '^$' -bench IterateBlock -benchtime 2000x -count 3
func BenchmarkIterateBlock(b *testing.B) {
	fns := []struct {
		name  string
		f     func(*G.Node) (*G.Node, error)
		x0, c []float64
	}{
		{"sum-cubes", func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }, []float64{1.1, -1.3, 2.2}, []float64{3, 6.75, 12}},
		{"product", ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}},
	}
	for _, fn := range fns {
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
