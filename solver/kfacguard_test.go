package solver_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// rnnNet is an LSTM-like recurrent net in charRNN's column convention:
// h_t = tanh(Wx·x_t + Wh·h_{t−1} + b) from h₀ = 0 over 5 steps, logits
// Wy·h_t + c, softmax cross-entropy of the next token, the weights tied
// over the steps (the bench's LSTM row without the gates). The inputs are
// named apart: Gorgonia hashes an input node by its name and shape, so
// five inputs named "x" would be one node.
func rnnNet(t *testing.T, scale float64) *hvp.Problem {
	t.Helper()
	const vocab, hid, steps = 5, 4, 5
	dt := tensor.Float64
	rng := rand.New(rand.NewPCG(5, 21))
	g := G.NewGraph()
	tokens := []int{1, 3, 0, 4, 2, 1}
	wx := G.NewMatrix(g, dt, G.WithShape(hid, vocab), G.WithName("Wx"), G.WithValue(gval(rng, dt, scale, hid, vocab)))
	wh := G.NewMatrix(g, dt, G.WithShape(hid, hid), G.WithName("Wh"), G.WithValue(gval(rng, dt, scale, hid, hid)))
	b := G.NewVector(g, dt, G.WithShape(hid), G.WithName("b"), G.WithValue(gval(rng, dt, 0.1, hid)))
	wy := G.NewMatrix(g, dt, G.WithShape(vocab, hid), G.WithName("Wy"), G.WithValue(gval(rng, dt, scale, vocab, hid)))
	c := G.NewVector(g, dt, G.WithShape(vocab), G.WithName("c"), G.WithValue(gval(rng, dt, 0.1, vocab)))
	oneHot := func(name string, k int) *G.Node {
		v := make([]float64, vocab)
		v[k] = 1
		return G.NewVector(g, dt, G.WithShape(vocab), G.WithName(name), G.WithValue(gtensor(dt, v, vocab)))
	}
	h := G.NewVector(g, dt, G.WithShape(hid), G.WithName("h0"), G.WithValue(gtensor(dt, make([]float64, hid), hid)))
	var total *G.Node
	for s := range steps {
		a := G.Must(G.Add(G.Must(G.Add(G.Must(G.Mul(wx, oneHot(fmt.Sprintf("x%d", s), tokens[s]))), G.Must(G.Mul(wh, h)))), b))
		h = G.Must(G.Tanh(a))
		lp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Add(G.Must(G.Mul(wy, h)), c))))))
		l := G.Must(G.Sum(G.Must(G.HadamardProd(oneHot(fmt.Sprintf("y%d", s), tokens[s+1]), lp))))
		if total == nil {
			total = l
		} else {
			total = G.Must(G.Add(total, l))
		}
	}
	cost := G.Must(G.Mul(gconst(dt, -1.0/steps, "mean"), total))
	p, err := hvp.New(cost, wx, wh, b, wy, c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// One K-FAC step on the recurrent net does not raise the loss, and every
// block — the tied Wx, Wh, Wy (column convention) and the tied biases b,
// c (A = [1], hvp's tied.go) — takes K-FAC's direction, no plain gradient.
// At the smaller weight scale (small hidden states, as in the bench's LSTM
// row) the unguarded step (α₀ = −⟨g, d⟩/⟨d, G d⟩,
// recomputed here from an independent gradient and GGNv along the step
// the guard took, d = Δw/α) raises the loss, and the guard's record says
// it backtracked. Oracles: LossAt at the new weights (a forward pass of its
// own), G.Grad-free: the loss before from Gradient. Tolerances: the loss
// comparisons are strict (a step either lowers it or not); the record's
// LossAfter equals the recomputed loss to 1e-12 (the same forward pass in
// float64, rounding only).
func TestKFACGuardOnRNN(t *testing.T) {
	for _, scale := range []float64{0.3, 1.5} {
		p := rnnNet(t, scale)
		base, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		f0, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		rec, det, err := kfacStep(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Fallbacks) != 0 {
			t.Errorf("scale %g: fallbacks %v, want every block with factors", scale, rec.Fallbacks)
		}
		f1, err := p.LossAt(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !(f1 < f0) || math.Abs(f1-rec.LossAfter) > 1e-12*math.Abs(f1) {
			t.Fatalf("scale %g: loss %.6g → %.6g (record %.6g)", scale, f0, f1, rec.LossAfter)
		}
		w1, _ := p.Current()
		d := w1.Clone()
		d.AddScaled(-1, base)
		d.Scale(1 / rec.StepSize)
		if err := p.SetWeights(base); err != nil {
			t.Fatal(err)
		}
		gd, err := p.GGNv(d)
		if err != nil {
			t.Fatal(err)
		}
		alpha0 := -g.Dot(d) / d.Dot(gd)
		ws := base.Clone()
		ws.AddScaled(alpha0, d)
		fu, err := p.LossAt(ws)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("scale %g: loss %.4g → %.4g (unguarded α₀ = %.3g: %.4g), α %.3g, backtracks %d, ρ %.3g, μ %.3g",
			scale, f0, f1, alpha0, fu, rec.StepSize, det.Backtracks, det.Rho, det.Damping)
		backtracked := det.Backtracks > 0
		if backtracked != (fu > f0) {
			t.Errorf("scale %g: backtracks %d, but the unguarded step's loss %.6g against %.6g", scale, det.Backtracks, fu, f0)
		}
		if backtracked && !strings.Contains(det.Note, "step guard backtracked") {
			t.Errorf("scale %g: backtracked without a note: %q", scale, det.Note)
		}
		if !backtracked && math.Abs(rec.StepSize-alpha0) > 1e-9*alpha0 {
			t.Errorf("scale %g: α %g, want the undamped model's %g (no damping yet)", scale, rec.StepSize, alpha0)
		}
		if scale < 1 && !backtracked { // small weights, small hidden states: the LSTM row's case
			t.Errorf("scale %g: want a net whose unguarded step raises the loss (the guard's case)", scale)
		}
	}
}
