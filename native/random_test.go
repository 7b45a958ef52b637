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
