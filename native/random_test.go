package native_test

import (
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Random nodes of every shape newtonia holds: a scalar
// G.UniformRandomNode scaling a product, a vector G.GaussianRandomNode and
// a G.Dropout of a bias vector, broadcast over the rows. The first product
// verifies the translation against Gorgonia's own run at Gorgonia's draw;
// each draw comes back in its node's shape, the uniform one in [1, 2),
// the mask 0 or 1.
func TestRandomScalarAndVectorNodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 3, 2)))
	b := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("b"), G.WithValue(randT(rng, tensor.Float64, false, 2)))
	s := G.UniformRandomNode(g, tensor.Float64, 1, 2)
	noise := G.GaussianRandomNode(g, tensor.Float64, 0, 1, 2)
	d := mustN(G.Dropout(b, 0.3))
	loss := mustN(G.Sum(mustN(G.Tanh(mustN(G.BroadcastAdd(mustN(G.Mul(w, s)), mustN(G.Add(d, noise)), nil, []byte{0}))))))
	p, err := hvp.New(loss, w, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); err != nil {
		t.Fatal(err)
	}
	if len(p.Random()) != 3 {
		t.Fatalf("Random() = %v, want 3 nodes", p.Random())
	}
	for _, n := range []*G.Node{s, noise, d} {
		v, err := p.Draw(n)
		if err != nil {
			t.Fatal(err)
		}
		if !sameShape(v.Shape(), n.Shape()) {
			t.Errorf("draw of %s: shape %v, want %v", n.Name(), v.Shape(), n.Shape())
		}
		for _, x := range v.Float64s() {
			switch {
			case n == s && (x < 1 || x >= 2):
				t.Errorf("uniform draw %v outside [1, 2)", x)
			case n == d && x != 0 && x != 1:
				t.Errorf("mask entry %v, want 0 or 1", x)
			}
		}
	}
}

func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Gorgonia's own gradient through G.Dropout is wrong in v0.9.18: its
// dropoutDiffOp divides the kept entries' adjoint by p instead of 1 − p
// (op_dropout.go), so central differences of G.Grad are no oracle for a
// model with dropout. newtonia's gradient of Σ Dropout(W, p) at a draw is
// the closed form m/(1 − p), m the draw's mask (exact: one division);
// G.Grad's, at its own draw, is 1/p on the kept entries.
func TestDropoutGradientClosedForm(t *testing.T) {
	const p = 0.3
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	d := mustN(G.Dropout(w, p))
	loss := mustN(G.Sum(d))
	prob, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	_, grad, err := prob.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	mask, err := prob.Draw(d)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range mask.Float64s() {
		if got, want := grad.Flat()[i], m/(1-p); got != want {
			t.Errorf("gradient entry %d: %v, want m/(1 − p) = %v", i, got, want)
		}
	}
	gg, err := G.Grad(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, x := range gg[0].Value().(*tensor.Dense).Float64s() {
		if x != 0 && x != 1/p {
			t.Logf("G.Grad's entry %v: Gorgonia's dropout gradient is no longer 1/p", x)
		}
	}
	t.Logf("G.Grad at Gorgonia's own draw: %v (kept entries 1/p = %.4g, the derivative is 1/(1 − p) = %.4g)", gg[0].Value().(*tensor.Dense).Float64s(), 1/p, 1/(1-p))
}
