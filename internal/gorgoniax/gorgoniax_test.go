package gorgoniax_test

import (
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/gorgoniax"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Children and the primed id index agree with Gorgonia's exported lookups
// on every node of a net and of all its passes (built through ops.Apply,
// which primes the index before each node).
func TestAgainstExported(t *testing.T) {
	m, err := nets.NewMLP(3, 3, []nets.Layer{{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 3, Act: ops.TanhFunc{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 1)), 1, 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Weights...)
	if err != nil {
		t.Fatal(err)
	}
	p.Conditions() // builds every block's passes
	all := m.Graph.AllNodes()
	if len(all) < 50 {
		t.Fatalf("only %d nodes", len(all))
	}
	for i, n := range all {
		if got := m.Graph.Node(n.ID()); got.(*G.Node) != n {
			t.Fatalf("node %d (id %d): the id index gives another node", i, n.ID())
		}
		want := gorgoniax.ChildrenFrom(n)
		got := gorgoniax.Children(n)
		if len(got) != len(want) {
			t.Fatalf("node %v: %d children, From gives %d", n, len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("node %v: child %d differs", n, j)
			}
		}
	}
}

// A graph numbered from a large id works as one numbered from 0: every
// node gets its id in order, Gorgonia's lookups by id find it, Children
// agrees with them, and a TapeMachine computes the same value.
func TestStartIDs(t *testing.T) {
	const first = 1 << 32
	run := func(offset bool) float64 {
		g := G.NewGraph()
		if offset && !gorgoniax.StartIDs(g, first) {
			t.Fatal("StartIDs refused an empty graph")
		}
		x := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
		y := G.Must(ops.MatMul(x, x))
		loss := G.Must(G.Sum(G.Must(G.Tanh(y))))
		for i, n := range g.AllNodes() {
			want := int64(i)
			if offset {
				want += first
			}
			if n.ID() != want || g.Node(n.ID()).(*G.Node) != n {
				t.Fatalf("node %d: id %d, want %d (or not found by it)", i, n.ID(), want)
			}
			if a, b := gorgoniax.Children(n), gorgoniax.ChildrenFrom(n); len(a) != len(b) {
				t.Fatalf("node %v: %d children, From gives %d", n, len(a), len(b))
			}
		}
		if gorgoniax.StartIDs(g, first) {
			t.Fatal("StartIDs renumbered a graph with nodes")
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return loss.Value().Data().(float64)
	}
	if a, b := run(true), run(false); a != b {
		t.Fatalf("loss %v numbered from 2³², %v from 0", a, b)
	}
}
