package hvp_test

import (
	"math"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ModelLossAt is the loss Gorgonia's TapeMachine computes (float32 ops,
// bit for bit: the same ops on the same values), where LossAt is
// newtonia's float64: at the initial weights they agree to float32
// rounding; with the output layer scaled 1000× the float32 LogSoftMax
// underflows (its logits ~1000s apart), the TapeMachine's loss and
// ModelLossAt are not finite, LossAt's is.
func TestModelLossAtIsTheTapeMachines(t *testing.T) {
	n := gnets[2].build(t, tensor.Float32, 9) // tanh 4-4-3 softmax CE
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	tape := func() float64 {
		m := G.NewTapeMachine(n.g) // anew after a G.Let
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return testnet.ScalarOf(n.loss.Value())
	}
	w, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, scale := range []float64{1, 1000} {
		ws := w.Clone()
		last := ws.Weight(len(n.weights) - 2) // W2 of W1, b1, W2, b2
		for i := range last {
			last[i] *= scale
		}
		if err := p.SetWeights(ws); err != nil {
			t.Fatal(err)
		}
		want := tape()
		got, err := p.ModelLossAt(nil)
		if err != nil {
			t.Fatal(err)
		}
		at, err := p.ModelLossAt(ws) // the same, with the weights given
		if err != nil {
			t.Fatal(err)
		}
		mine, err := p.LossAt(nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("scale %g: TapeMachine %v, ModelLossAt %v, LossAt %v", scale, want, got, mine)
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if !same(got, want) || !same(at, want) {
			t.Fatalf("scale %g: ModelLossAt %v (given the weights: %v), the TapeMachine's %v", scale, got, at, want)
		}
		finite := !math.IsNaN(want) && !math.IsInf(want, 0)
		switch {
		case scale == 1 && !(finite && math.Abs(mine-want) <= 1e-6*math.Abs(want)): // a few ε₃₂ over ~20 ops
			t.Fatalf("LossAt %v, the TapeMachine's %v: not within float32 rounding", mine, want)
		case scale > 1 && (finite || math.IsNaN(mine) || math.IsInf(mine, 0)):
			t.Fatalf("scale %g: TapeMachine %v, LossAt %v: the overflow this test is about is not reached", scale, want, mine)
		}
	}
}
