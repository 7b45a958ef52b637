// Package gorgoniax reads and primes two unexported fields of Gorgonia
// v0.9.18's graph, because its exported interface makes building passes
// quadratic in the number of nodes:
//
//   - a node's inputs: g.From(n.ID()) looks the node up by id, and the
//     first lookup of an id scans the graph's whole node list
//     (ExprGraph.node, graph.go:529);
//   - every node added by gorgonia.ApplyOp is looked up that way once, by
//     SetEdge's Has check on the new node (graph.go:223): a scan per node.
//     Measured on a 1000-layer net: 79% of building time in that scan, and
//     200 layers took 178 s before any of this.
//
// Children reads Node.children directly; PrimeNextID records, before a
// node is added, the index it will get, so that the lookup finds it
// without a scan. Both check the fields' names and types at start-up and
// fall back to the exported, slow path if this version of Gorgonia lays
// them out otherwise. TestAgainstExported checks them against Gorgonia's
// own lookups on every node of a net and its passes.
//
// StartIDs makes a new graph number its nodes from a given id, so that
// the ids of two graphs (a user's and newtonia's private translation of
// it) never meet in one message.
package gorgoniax

import (
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
)

const none = ^uintptr(0)

func field(t reflect.Type, name string, want reflect.Type) uintptr {
	f, ok := t.FieldByName(name)
	if !ok || f.Type != want {
		return none
	}
	return f.Offset
}

var (
	nodeT  = reflect.TypeOf(G.Node{})
	graphT = reflect.TypeOf(G.ExprGraph{})

	childrenOff = field(nodeT, "children", reflect.TypeOf(G.Nodes(nil)))
	allOff      = field(graphT, "all", reflect.TypeOf(G.Nodes(nil)))
	byIDOff     = field(graphT, "byID", reflect.TypeOf(map[int64]int(nil)))
	counterOff  = field(graphT, "counter", reflect.TypeOf(uint(0)))
)

// Children returns n's inputs in argument order (nil for an input node).
// The slice is n's own: do not modify it.
func Children(n *G.Node) []*G.Node {
	if childrenOff != none {
		return *(*G.Nodes)(unsafe.Add(unsafe.Pointer(n), childrenOff))
	}
	return ChildrenFrom(n)
}

// ChildrenFrom is Children by Gorgonia's exported graph interface.
func ChildrenFrom(n *G.Node) []*G.Node {
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

// PrimeNextID records in g's id index that the next node added will have
// id g.counter at index len(g.all), which is what ExprGraph.addToAll gives
// it. If no node is added (hash-consing returns an existing one), the
// entry stays valid for the next: Gorgonia ignores an index past the end
// of its list. Callers must not add nodes to g concurrently (Gorgonia's
// graphs are not safe for that anyway).
func PrimeNextID(g *G.ExprGraph) {
	if g == nil || allOff == none || byIDOff == none || counterOff == none {
		return
	}
	base := unsafe.Pointer(g)
	byID := *(*map[int64]int)(unsafe.Add(base, byIDOff))
	if byID == nil {
		return
	}
	counter := *(*uint)(unsafe.Add(base, counterOff))
	all := *(*G.Nodes)(unsafe.Add(base, allOff))
	byID[int64(counter)] = len(all)
}

// StartIDs makes the empty graph g give its nodes the ids first, first+1,
// … (Gorgonia numbers a graph's nodes from 0: ExprGraph.addToAll gives a
// node the graph's counter). It reports false, changing nothing, if g
// already has nodes or this version of Gorgonia lays the fields out
// otherwise.
func StartIDs(g *G.ExprGraph, first uint) bool {
	if g == nil || allOff == none || counterOff == none {
		return false
	}
	base := unsafe.Pointer(g)
	if len(*(*G.Nodes)(unsafe.Add(base, allOff))) > 0 {
		return false
	}
	*(*uint)(unsafe.Add(base, counterOff)) = first
	return true
}
