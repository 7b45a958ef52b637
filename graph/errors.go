package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Label names a node in messages: its id and its name (or, unnamed, its
// op applied to its inputs' ids).
func Label(n *G.Node) string {
	if n == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%%%x %s", n.ID(), n.Name())
}

// NoRuleError reports an op that lacks the rule a pass needs ("VJP", "JVP"
// or "inverse"), or whose rule failed.
type NoRuleError struct {
	Node *G.Node
	Op   G.Op
	Rule string
	Err  error // the rule's own error, if it had one
}

func (e *NoRuleError) Error() string {
	msg := fmt.Sprintf("node %s: op %v (%T) has no %s rule", Label(e.Node), e.Op, e.Op, e.Rule)
	if e.Err != nil {
		msg = fmt.Sprintf("node %s: %s rule of op %v failed: %v", Label(e.Node), e.Rule, e.Op, e.Err)
	}
	return msg
}

func (e *NoRuleError) Unwrap() error { return e.Err }

// DependencyLoopError reports a node on the inverse pass's chain with more
// than one input depending on the weight being inverted for: there is no
// op-by-op inverse (method.md §4 and §7). Smooth activations, weights used
// twice and skip connections lead here.
type DependencyLoopError struct {
	Node   *G.Node
	Op     G.Op
	Inputs []int // the indices of the inputs that depend on Weight
	Weight *G.Node
}

func (e *DependencyLoopError) Error() string {
	return fmt.Sprintf("node %s: op %v has inputs %v that all depend on %s: no op-by-op inverse (a dependency loop, method.md §4)",
		Label(e.Node), e.Op, e.Inputs, Label(e.Weight))
}

// ShapeError reports nodes whose shapes or kinds do not fit a pass.
type ShapeError struct {
	Node   *G.Node
	Reason string
}

func (e *ShapeError) Error() string { return fmt.Sprintf("node %s: %s", Label(e.Node), e.Reason) }
