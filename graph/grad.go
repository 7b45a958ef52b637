package graph

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Gradient is the reverse pass of a scalar loss: Grads[i] = ∂Loss/∂Wrt[i].
type Gradient struct {
	Pass
	Loss  *G.Node
	Wrt   []*G.Node
	Grads []*G.Node
	Seed  *G.Node // the constant 1 = ∂Loss/∂Loss
	// Adjoints maps each node the weights influence to its adjoint
	// ∂Loss/∂node in the gradient pass (for a layer's pre-activation, the
	// δ of method.md §1).
	Adjoints map[*G.Node]*G.Node
	// Inverses maps the VJP contribution of each op with an "inverse of
	// this subgraph" rule (ops.GradientInverter) to the rule's use, for
	// BuildInverse.
	Inverses map[*G.Node]SubgraphInverse
}

// SubgraphInverse is where an op's GradientInverter rule applies: Node's
// op, solved for its input Wrt from the value of its VJP contribution,
// with adjoint Adj.
type SubgraphInverse struct {
	Node *G.Node
	Wrt  int
	Adj  *G.Node
}

func isFrozen(n *G.Node) bool { return n.Op() != nil && ops.IsPiecewiseConstant(n.Op()) }

// BuildGradient adds to loss's graph the gradient of loss with respect to
// each node of wrt, which must be distinct input nodes, by a reverse
// traversal that calls each op's VJP rule and sums the contributions of a
// node's uses. Unlike gorgonia.Grad it can be called any number of times
// and its result differentiated again.
func BuildGradient(loss *G.Node, wrt []*G.Node) (*Gradient, error) {
	if loss == nil || len(wrt) == 0 {
		return nil, &errs.ArgumentError{What: "graph.BuildGradient", Value: fmt.Sprintf("loss %v, %d weights", loss, len(wrt)), Reason: "a loss and at least one weight are needed"}
	}
	if !loss.Shape().IsScalar() {
		return nil, &errs.ShapeError{What: "loss " + errs.Label(loss), Got: loss.Shape(), Want: []int{}, Reason: fmt.Sprintf("shape %v, want a scalar", loss.Shape())}
	}
	seen := map[*G.Node]bool{}
	for _, w := range wrt {
		if w == nil || w.Op() != nil {
			return nil, &errs.ShapeError{What: "weight " + errs.Label(w), Reason: "a weight must be an input node (no op)"}
		}
		if seen[w] {
			return nil, &errs.ShapeError{What: "weight " + errs.Label(w), Reason: "listed twice"}
		}
		seen[w] = true
	}
	order := topo(loss)
	needs := dependents(order, wrt...)
	grad := &Gradient{Loss: loss, Wrt: wrt, Grads: make([]*G.Node, len(wrt)), Inverses: map[*G.Node]SubgraphInverse{}}
	g := loss.Graph()
	var err error
	grad.Pass, err = record(g, "gradient", func() error {
		grad.Seed = g.Constant(G.NewF64(1))
		adj := map[*G.Node]*G.Node{loss: grad.Seed}
		for i := len(order) - 1; i >= 0; i-- {
			n := order[i]
			a := adj[n]
			if a == nil || n.Op() == nil || !needs[n] {
				continue
			}
			in := Children(n)
			if len(in) == 0 {
				continue
			}
			vjp, ok := n.Op().(ops.VJPer)
			if !ok {
				return &errs.NoRuleError{Node: n, Op: n.Op(), Rule: "VJP"}
			}
			flags := make([]bool, len(in))
			for j, c := range in {
				flags[j] = needs[c]
			}
			contrib, err := vjp.VJP(in, n, a, flags)
			if err != nil {
				return &errs.NoRuleError{Node: n, Op: n.Op(), Rule: "VJP", Err: err}
			}
			_, whole := n.Op().(ops.GradientInverter)
			for j, c := range in {
				if !flags[j] || j >= len(contrib) || contrib[j] == nil {
					continue
				}
				if whole {
					grad.Inverses[contrib[j]] = SubgraphInverse{Node: n, Wrt: j, Adj: a}
				}
				if prev := adj[c]; prev != nil {
					if contrib[j], err = ops.Add(prev, contrib[j]); err != nil {
						return &errs.NoRuleError{Node: n, Op: n.Op(), Rule: "VJP", Err: err}
					}
				}
				adj[c] = contrib[j]
			}
		}
		grad.Adjoints = adj
		for i, w := range wrt {
			if grad.Grads[i] = adj[w]; grad.Grads[i] == nil {
				return &errs.ShapeError{What: "weight " + errs.Label(w), Reason: "the loss does not depend on it"}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return grad, nil
}
