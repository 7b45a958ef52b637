package graph

import (
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
)

// childrenOffset is the offset of gorgonia.Node's unexported children
// field (its inputs, in argument order), or -1 if this version of
// Gorgonia has no such field of type gorgonia.Nodes.
//
// Why: the exported way, g.From(n.ID()), looks the node up by id, and the
// first lookup of every node scans the graph's node list from the start
// (ExprGraph.node, graph.go:529 in v0.9.18): building the passes of a
// deep net was quadratic in the number of nodes (200 layers of width 2:
// 178 s, 82% of it in that scan). Reading the field is O(1).
// TestChildrenMatchFrom checks the two agree on every node of a net.
var childrenOffset = func() uintptr {
	f, ok := reflect.TypeOf(G.Node{}).FieldByName("children")
	if !ok || f.Type != reflect.TypeOf(G.Nodes(nil)) {
		return ^uintptr(0)
	}
	return f.Offset
}()

// Children returns n's inputs in argument order (nil for an input node).
// The slice is n's own: do not modify it.
func Children(n *G.Node) []*G.Node {
	if childrenOffset != ^uintptr(0) {
		return *(*G.Nodes)(unsafe.Add(unsafe.Pointer(n), childrenOffset))
	}
	return childrenFrom(n)
}

// childrenFrom is Children by Gorgonia's exported graph interface.
func childrenFrom(n *G.Node) []*G.Node {
	it := n.Graph().From(n.ID())
	if it == nil {
		return nil
	}
	out := make([]*G.Node, 0, it.Len())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}
