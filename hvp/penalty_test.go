package hvp_test

import (
	"fmt"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// withPenalty adds to n's loss λ·Σ_W pen(W) over its matrix weights, as a
// Gorgonia user writes weight decay: G.Mul(λ, G.Sum(G.Square(W))) (kind
// "l2") or G.Sum(G.Abs(W)) (kind "l1").
func withPenalty(t testing.TB, n *gnet, dt tensor.Dtype, lam float64, kind string) {
	t.Helper()
	for _, w := range n.weights {
		if len(w.Shape()) != 2 {
			continue
		}
		var sq *G.Node
		switch kind {
		case "l2":
			sq = G.Must(G.Square(w))
		case "l1":
			sq = G.Must(G.Abs(w))
		default:
			t.Fatalf("penalty %q", kind)
		}
		var c *G.Node
		if dt == tensor.Float32 {
			c = G.NewConstant(float32(lam), G.WithName(fmt.Sprintf("λ%s", w.Name())))
		} else {
			c = G.NewConstant(lam, G.WithName(fmt.Sprintf("λ%s", w.Name())))
		}
		n.loss = G.Must(G.Add(n.loss, G.Must(G.Mul(c, G.Must(G.Sum(sq))))))
	}
}

func TestPenaltyExplore(t *testing.T) {
	s := gspec{name: "mlp", batch: 6, sizes: []int{4, 5, 3}, act: "tanh", loss: "ce"}
	n := s.build(t, tensor.Float64, 1)
	withPenalty(t, n, tensor.Float64, 0.01, "l2")
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(p.Conditions())
}
