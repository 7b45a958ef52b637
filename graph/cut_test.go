package graph_test

import (
	"slices"
	"testing"

	"github.com/newtonia/newtonia/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A split program's Cut, run on the Fixed program's frontier values,
// returns bit for bit what a full program (graph.Compile) returns for
// each direction v — the oracle: the same ops on the same values — and
// evaluates fewer nodes. The direction reads the fixed part directly and
// through a transpose.
func TestSplit(t *testing.T) {
	g := G.NewGraph()
	mat := func(name string, r, c int, d ...float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
	}
	x := mat("x", 2, 3, 0.1, -0.4, 0.7, 1.3, 0.2, -0.9)
	w := mat("w", 3, 2, 0.5, -1.1, 0.3, 0.8, -0.6, 0.2)
	v := mat("v", 2, 2, 1, 0, 0, 1)
	a := G.Must(G.Tanh(G.Must(G.Mul(x, w)))) // 2×2, fixed
	e := G.Must(G.Exp(a))
	out := G.Must(G.Add(G.Must(G.Mul(G.Must(G.Transpose(a)), v)), G.Must(G.HadamardProd(e, v))))
	s := graph.NewSplit("split", []*G.Node{out}, []*G.Node{v}, e)
	for k, dv := range [][]float64{{1, 0, 0, 1}, {0.3, -2, 0.5, 4}} {
		bind := graph.Values{v: tensor.New(tensor.WithShape(2, 2), tensor.WithBacking(dv))}
		fixed, err := s.Fixed.Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		cb := graph.Values{v: bind[v]}
		for _, n := range s.Frontier {
			cb[n] = fixed[n]
		}
		cut, err := s.Cut.Run(cb)
		if err != nil {
			t.Fatal(err)
		}
		full, err := graph.Compile("full", []*G.Node{out}, e).Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []*G.Node{out, e} {
			got, want := cut[n].Data().([]float64), full[n].Data().([]float64)
			if !slices.Equal(got, want) {
				t.Errorf("direction %d, node %v: cut %v, full %v", k, n, got, want)
			}
		}
	}
	if !(s.Cut.Len() < s.Fixed.Len()) {
		t.Errorf("the cut program evaluates %d nodes, the full one %d", s.Cut.Len(), s.Fixed.Len())
	}
}
