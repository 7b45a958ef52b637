package graph

import (
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Split divides the program computing roots (and keep) at the nodes that
// depend on vary: Fixed is a program computing, besides roots and keep,
// the values of Frontier — the op nodes that do not depend on any node
// of vary and are read by one that does, or are roots or kept — and Cut
// computes roots and keep from those values, bound as inputs of each
// run, evaluating only the nodes that depend on vary. Fixed's values of
// Frontier can so be computed once and reused for every value of vary
// (the B-pass's factorisations and inverse values for every direction,
// hvp's reuse cache); Cut's results equal Fixed's exactly, op for op.
type Split struct {
	Fixed, Cut *Program
	Frontier   []*G.Node
}

// NewSplit returns the split of the program computing roots and keep at
// the nodes that depend on vary (inputs of the graph).
func NewSplit(name string, roots, vary []*G.Node, keep ...*G.Node) *Split {
	order := topo(append(append([]*G.Node{}, roots...), keep...)...)
	varies := map[*G.Node]bool{}
	for _, n := range vary {
		varies[n] = true
	}
	for _, n := range order { // topological: inputs first
		for _, c := range Children(n) {
			if varies[c] {
				varies[n] = true
			}
		}
	}
	cut, seen := map[*G.Node]bool{}, map[*G.Node]bool{}
	var frontier []*G.Node
	add := func(n *G.Node) {
		if n.Op() != nil && !varies[n] && !seen[n] {
			seen[n] = true
			cut[n] = true
			frontier = append(frontier, n)
		}
	}
	for _, n := range order {
		if !varies[n] {
			continue
		}
		for _, c := range Children(n) {
			add(c)
			if _, ok := c.Op().(ops.TransposeOp); ok { // a product may read its input, fused
				add(Children(c)[0])
			}
		}
	}
	for _, n := range append(append([]*G.Node{}, roots...), keep...) {
		add(n)
	}
	return &Split{
		Fixed:    compile(name, roots, nil, append(append([]*G.Node{}, keep...), frontier...)),
		Cut:      compile(name+"/cut", roots, cut, keep),
		Frontier: frontier,
	}
}

// isInput reports whether node i of p takes its value from the run's
// binding: an input of the graph, or a node cut off (compile).
func (p *Program) isInput(i int) bool {
	return p.nodes[i].Op() == nil || (p.cut != nil && p.cut[i])
}

// Inputs returns the graph inputs p reads (nodes without an op), in
// program order.
func (p *Program) Inputs() []*G.Node {
	var out []*G.Node
	for _, n := range p.nodes {
		if n.Op() == nil {
			out = append(out, n)
		}
	}
	return out
}
