package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kronecker's factors against what they are by definition, computed here
// from the net's own values: the first layer's input rows are [X, 1], so
// A_0 = [X 1]ᵀ[X 1]/B; the output layer (identity, half squared error
// summed) has δ = h_L − Y, so DD_last = (h_L − Y)ᵀ(h_L − Y). The loss and
// gradient equal Gradient's.
func TestKroneckerFactors(t *testing.T) {
	const batch, in, hidden, out = 7, 4, 5, 3
	m, err := nets.Build(nets.Spec{Batch: batch, In: in, Layers: []nets.Layer{
		{Out: hidden, Act: ops.TanhFunc{}, Bias: true}, {Out: out, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(4, 4)), 0.7, 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	loss, g, fs := kf.Loss, kf.Grad, kf.Factors
	wantLoss, wantG, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if loss != wantLoss || flatRelDiff(g.Flat(), wantG.Flat()) != 0 {
		t.Errorf("loss/gradient differ from Gradient's: %v vs %v", loss, wantLoss)
	}
	if len(fs) != 2 || fs[0] == nil || fs[1] == nil || kf.Err[0] != nil || kf.Err[1] != nil {
		t.Fatalf("factors %v (%v)", fs, kf.Err)
	}
	x := m.X.Value().(*tensor.Dense).Float64s()
	worst := 0.0
	for i := 0; i <= in; i++ {
		for j := 0; j <= in; j++ {
			var s float64
			for r := range batch {
				xi, xj := 1.0, 1.0
				if i < in {
					xi = x[r*in+i]
				}
				if j < in {
					xj = x[r*in+j]
				}
				s += xi * xj
			}
			worst = math.Max(worst, math.Abs(fs[0].A.At(i, j)-s/batch))
		}
	}
	vals, err := graph.Compile("out", []*G.Node{m.Out}).Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, y := vals[m.Out].(*tensor.Dense).Float64s(), m.Y.Value().(*tensor.Dense).Float64s()
	for i := range out {
		for j := range out {
			var s float64
			for r := range batch {
				s += (h[r*out+i] - y[r*out+i]) * (h[r*out+j] - y[r*out+j])
			}
			worst = math.Max(worst, math.Abs(fs[1].DD.At(i, j)-s)/math.Max(1, math.Abs(s)))
		}
	}
	if worst > 1e-13 { // the same sums in another order: rounding only
		t.Errorf("factors differ from their definitions by %.3g", worst)
	}
}

// A dense layer's Rows and Delta give its gradient, h̃ᵀδ = ∇W̃ (the
// oracle: Gradient's reverse pass; KroneckerRows gives the same rows and
// no grams), and Rows' first layer is [X, 1]; on a
// softmax cross-entropy averaged over the batch (δ carries the 1/B) with
// statistics on 3 of the 7 samples (Rows and Delta are still the whole
// batch's).
func TestKroneckerRowsGiveGradient(t *testing.T) {
	const batch, in, hidden, out = 7, 4, 5, 3
	m, err := nets.Build(nets.Spec{Batch: batch, In: in, Loss: nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean, Layers: []nets.Layer{
		{Out: hidden, Act: ops.TanhFunc{}, Bias: true}, {Out: out, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(5, 4)), 0.7, 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.KroneckerSample(3)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := p.KroneckerRows(3) // the same rows, no grams
	if err != nil {
		t.Fatal(err)
	}
	x := m.X.Value().(*tensor.Dense).Float64s()
	for l, f := range kf.Factors {
		if r := kr.Factors[l]; r == nil || r.A != nil || r.DD != nil || r.Samples != 3 || f.Samples != 3 ||
			!mat.Equal(r.Rows, f.Rows) || !mat.Equal(r.Delta, f.Delta) {
			t.Errorf("block %d: KroneckerRows' factors are not KroneckerSample's rows without grams", l)
		}
		if f == nil || f.Rows == nil || f.Delta == nil {
			t.Fatalf("block %d: no rows (%v)", l, kf.Err[l])
		}
		if r, _ := f.Rows.Dims(); r != batch {
			t.Errorf("block %d: %d rows, want the batch's %d", l, r, batch)
		}
		var gw mat.Dense
		gw.Mul(f.Rows.T(), f.Delta)
		// The same sums in another order: rounding only, 1e-13.
		if diff := flatRelDiff(gw.RawMatrix().Data, g.Block(l).Flat()); !(diff < 1e-13) {
			t.Errorf("block %d: h̃ᵀδ differs from the gradient by %.3g", l, diff)
		}
	}
	for r := range batch {
		for j := 0; j <= in; j++ {
			want := 1.0 // the bias's column
			if j < in {
				want = x[r*in+j]
			}
			if got := kf.Factors[0].Rows.At(r, j); got != want {
				t.Errorf("Rows[%d, %d] = %g, want the input's %g", r, j, got, want)
			}
		}
	}
}
