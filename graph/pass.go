package graph

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/internal/gorgoniax"

	"github.com/newtonia/newtonia/errs"

	G "gorgonia.org/gorgonia"
)

// Pass is a set of nodes a rewrite added to a graph, in creation order
// (which is a topological order).
type Pass struct {
	Name  string
	Nodes []*G.Node
}

// record runs build and returns the nodes it added to g as a Pass.
func record(g *G.ExprGraph, name string, build func() error) (Pass, error) {
	before := len(g.AllNodes())
	err := build()
	all := g.AllNodes()
	nodes := make([]*G.Node, len(all)-before)
	copy(nodes, all[before:])
	return Pass{Name: name, Nodes: nodes}, err
}

// String prints the pass one node a line: %id = op(%input, …) :: shape.
func (p Pass) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %d nodes\n", p.Name, len(p.Nodes))
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "%%%x = %v(", n.ID(), n.Op())
		for i, c := range Children(n) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%%%x", c.ID())
		}
		fmt.Fprintf(&b, ") :: %v\n", n.Shape())
	}
	return b.String()
}

// Dot prints the pass as a Graphviz digraph: its nodes boxed, the nodes
// they read from outside the pass as ellipses, edges from input to use.
func (p Pass) Dot() string {
	var b strings.Builder
	in := make(map[*G.Node]bool, len(p.Nodes))
	for _, n := range p.Nodes {
		in[n] = true
	}
	fmt.Fprintf(&b, "digraph %q {\n\trankdir=BT;\n", p.Name)
	outside := map[*G.Node]bool{}
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "\tn%d [shape=box,label=%q];\n", n.ID(), fmt.Sprintf("%%%x %v %v", n.ID(), n.Op(), n.Shape()))
		for _, c := range Children(n) {
			if !in[c] && !outside[c] {
				outside[c] = true
				fmt.Fprintf(&b, "\tn%d [shape=ellipse,label=%q];\n", c.ID(), errs.Label(c))
			}
			fmt.Fprintf(&b, "\tn%d -> n%d;\n", c.ID(), n.ID())
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// topo returns the ancestry of roots, inputs before the nodes using them
// (iteratively: a deep graph does not deepen the stack).
func topo(roots ...*G.Node) []*G.Node {
	var order []*G.Node
	seen := map[*G.Node]bool{}
	type frame struct {
		n    *G.Node
		next int
	}
	var stack []frame
	for _, r := range roots {
		if seen[r] {
			continue
		}
		seen[r] = true
		stack = append(stack[:0], frame{n: r})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			kids := Children(f.n)
			if f.next < len(kids) {
				c := kids[f.next]
				f.next++
				if !seen[c] {
					seen[c] = true
					stack = append(stack, frame{n: c})
				}
				continue
			}
			order = append(order, f.n)
			stack = stack[:len(stack)-1]
		}
	}
	return order
}

// dependents returns the nodes among order (topologically sorted) that
// depend on any of srcs through ops that are not piecewise constant.
func dependents(order []*G.Node, srcs ...*G.Node) map[*G.Node]bool {
	dep := make(map[*G.Node]bool, len(order))
	for _, s := range srcs {
		dep[s] = true
	}
	for _, n := range order {
		if dep[n] || n.Op() == nil || isFrozen(n) {
			continue
		}
		for _, c := range Children(n) {
			if dep[c] {
				dep[n] = true
				break
			}
		}
	}
	return dep
}

// Inputs returns the input nodes (nodes without an op) that roots depend
// on, in topological order.
func Inputs(roots ...*G.Node) []*G.Node {
	var in []*G.Node
	for _, n := range topo(roots...) {
		if n.Op() == nil {
			in = append(in, n)
		}
	}
	return in
}

// Children returns n's inputs in argument order (nil for an input node),
// in O(1) (package internal/gorgoniax says why not g.From). The slice is
// n's own: do not modify it.
func Children(n *G.Node) []*G.Node { return gorgoniax.Children(n) }

// Uses returns, for every node root depends on, the nodes among them that
// use it as an input (in topological order).
func Uses(root *G.Node) map[*G.Node][]*G.Node { return UsesWithout(root) }

// UsesWithout is Uses with the cut nodes taken as leaves: what only they
// read is not visited, and their own reading is no use. With the penalty
// terms of a loss cut (weight decay λ·Σ W² added to it), these are the
// uses in the data term: a weight read by its layer and by its penalty is
// used once.
func UsesWithout(root *G.Node, cut ...*G.Node) map[*G.Node][]*G.Node {
	isCut := make(map[*G.Node]bool, len(cut))
	for _, c := range cut {
		isCut[c] = true
	}
	uses := map[*G.Node][]*G.Node{}
	seen := map[*G.Node]bool{root: true}
	stack := []*G.Node{root}
	for len(stack) > 0 { // the nodes root reads other than through a cut node
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if isCut[n] {
			continue
		}
		for _, c := range Children(n) {
			if !seen[c] {
				seen[c] = true
				stack = append(stack, c)
			}
		}
	}
	for _, n := range topo(root) { // in topological order
		if !seen[n] || isCut[n] {
			continue
		}
		for _, c := range Children(n) {
			uses[c] = append(uses[c], n)
		}
	}
	return uses
}

// Sorted returns the roots and their ancestors, every node after its
// inputs.
func Sorted(roots ...*G.Node) []*G.Node { return topo(roots...) }
