package gorgoniax_test

import (
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/gorgoniax"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
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
