package graph

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The concurrent schedule computes what the serial one does, bit for bit
// (every op is deterministic), on a gradient program with independent
// branches; and a failing op stops it with the same RunError. (Run takes
// this path only past parallelWork with several CPUs; it is called
// directly here.)
func TestProgramParallelMatchesSerial(t *testing.T) {
	m, err := nets.Build(nets.Spec{Batch: 9, In: 6, Layers: []nets.Layer{
		{Out: 7, Act: ops.TanhFunc{}, Bias: true}, {Out: 5, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(3, 3)), 0.8, 1); err != nil {
		t.Fatal(err)
	}
	g, err := BuildGradient(m.Loss, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	p := Compile("gradient", append([]*G.Node{m.Loss}, g.Grads...))
	for run := range 20 { // different interleavings
		want, err := p.Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.runParallel(nil)
		if err != nil {
			t.Fatal(err)
		}
		for n, v := range want {
			a, b := values(v), values(got[n])
			for i := range a {
				if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
					t.Fatalf("run %d, node %v element %d: serial %v, parallel %v", run, n, i, a[i], b[i])
				}
			}
		}
	}
	bad := tensor.New(tensor.WithShape(9, 6), tensor.WithBacking(make([]float64, 54)))
	bad.Float64s()[0] = math.Inf(1) // tanh(Inf·w) is finite, but the product h·W is not
	_, err = p.runParallel(Values{m.X: bad})
	var re *errs.RunError
	if !errors.As(err, &re) {
		t.Errorf("non-finite input: %v, want a RunError", err)
	}
}

func values(v G.Value) []float64 {
	switch x := v.(type) {
	case *tensor.Dense:
		return x.Float64s()
	case *G.F64:
		return []float64{float64(*x)}
	}
	return nil
}
