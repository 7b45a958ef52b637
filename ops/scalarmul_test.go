package ops_test

import (
	"math"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Multiplying or dividing by the constant 1 (the loss's seed) is the
// identity in every rounding, so ScalarMulOp's inverse and its JVP along X
// add no op for it — and still do for any other constant, whose inverse is
// checked against the closed form Y/s (one division: bit for bit).
func TestScalarMulByOneAddsNoOp(t *testing.T) {
	for _, c := range []float64{1, 2, -1.5} {
		for _, divide := range []bool{false, true} {
			g := G.NewGraph()
			s := g.Constant(G.NewF64(c))
			y := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("y"),
				G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, -2, 3.5, math.NaN(), 0, -7}))))
			op := ops.ScalarMulOp{Divide: divide}
			x, err := op.Inverse(1, []*G.Node{s, nil}, y)
			if err != nil {
				t.Fatal(err)
			}
			dx, err := op.JVP([]*G.Node{s, y}, y, []*G.Node{nil, y})
			if err != nil {
				t.Fatal(err)
			}
			if c == 1 {
				if x != y || dx != y {
					t.Errorf("s = 1, divide %v: inverse %v and JVP %v, want y itself", divide, x.Op(), dx.Op())
				}
				continue
			}
			if x == y || dx == y {
				t.Fatalf("s = %v, divide %v: inverse or JVP is the input itself", c, divide)
			}
			vals, err := graph.Compile("inverse", []*G.Node{x}).Run(nil)
			if err == nil {
				t.Fatalf("s = %v: a NaN in y gave no error", c) // ops check their results
			}
			y.Value().(*tensor.Dense).Float64s()[3] = 4
			if vals, err = graph.Compile("inverse", []*G.Node{x}).Run(nil); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals[x].Data().([]float64) {
				yi := y.Value().(*tensor.Dense).Float64s()[i]
				want := yi / c
				if divide {
					want = yi * c
				}
				if v != want {
					t.Errorf("s = %v, divide %v: X[%d] = %v, want %v", c, divide, i, v, want)
				}
			}
		}
	}
}
