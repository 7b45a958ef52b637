package graph

import (
	"errors"
	"fmt"

	"github.com/newtonia/newtonia/errs"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Step is one op inverted by an inverse pass: Node's op solved for its
// input Wrt (the one that depends on the weight), giving Inverse.
type Step struct {
	Node      *G.Node
	Wrt       int
	Inverse   *G.Node
	Condition string          // when the op's inverse is exact, from its rule
	Kind      ops.InverseKind // how much of the input the inverse recovers
	Why       string          // the op's reason for Kind
	// Backward is set for ops of the gradient pass (they depend on the
	// loss's seed), unset for ops of the forward pass.
	Backward bool
}

// InversePass is the inverse pass of one block's gradient map
// G_l: W_l ↦ g_l (every other input held fixed), started at Root:
// Result = G_l⁻¹(Root).
type InversePass struct {
	Pass
	Weight, Grad, Root, Result *G.Node
	// Steps runs from Grad back to Weight, in the order the ops were
	// inverted.
	Steps []Step
}

// BuildInverse adds to the graph the inverse pass of block l of the
// gradient gp, grad = ∂J/∂weight with weight = gp.Wrt[l], evaluated at
// root (grad itself, or any node of grad's shape standing for another
// gradient value).
//
// Following method.md §7, nodes that depend on weight are marked, treating
// piecewise-constant ops as constants; the marked nodes from weight to
// grad must form a chain in which every op has exactly one marked input.
// The walk from grad asks each op of the chain for its inverse with
// respect to that input, given its output and its other inputs (their
// current values: constants of the pass); a piecewise-linear op is inverted
// with the activation pattern of the current point (ops.PatternInverter).
// A missing inverse rule gives an *errs.NoRuleError; two marked inputs an
// *errs.DependencyLoopError.
//
// With functional set, piecewise-linear ops are inverted by their plain
// functional inverse instead (the pattern follows the reconstructed
// values): the inverse map G_l⁻¹ itself, for finite differences. Its
// derivative at root = g_l equals the B-pass's where the inverse pass
// reproduces the current point (exact blocks).
func BuildInverse(gp *Gradient, l int, root *G.Node, functional bool) (*InversePass, error) {
	if l < 0 || l >= len(gp.Wrt) {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", len(gp.Wrt))}
	}
	grad, weight := gp.Grads[l], gp.Wrt[l]
	if !grad.Shape().Eq(weight.Shape()) || !root.Shape().Eq(grad.Shape()) {
		return nil, &errs.ShapeError{What: "root " + errs.Label(root), Reason: fmt.Sprintf("shapes of gradient %v, weight %v and root %v differ",
			grad.Shape(), weight.Shape(), root.Shape())}
	}
	order := topo(grad)
	marked := dependents(order, weight)
	backward := dependents(order, gp.Seed)
	if !marked[grad] {
		return nil, &errs.NoInverseError{Op: "gradient map of " + errs.Label(weight), Input: l,
			Reason: "the gradient does not depend on the weight (the loss is linear in it: its Hessian block is zero)"}
	}
	inv := &InversePass{Weight: weight, Grad: grad, Root: root}
	var err error
	inv.Pass, err = record(grad.Graph(), "inverse "+weight.Name(), func() error {
		cur, value := grad, root
		for cur != weight {
			if si, ok := gp.Inverses[cur]; ok { // an "inverse of this subgraph" rule
				next, err := subgraphStep(si, marked, weight, value)
				if err != nil {
					return err
				}
				inv.Steps = append(inv.Steps, next)
				cur, value = Children(si.Node)[si.Wrt], next.Inverse
				continue
			}
			in := Children(cur)
			var wrt []int
			for i, c := range in {
				if marked[c] {
					wrt = append(wrt, i)
				}
			}
			if len(wrt) != 1 {
				return &errs.DependencyLoopError{Node: cur, Op: cur.Op(), Inputs: wrt, Weight: weight}
			}
			i := wrt[0]
			r, ok := cur.Op().(ops.Inverter)
			if !ok {
				return &errs.NoRuleError{Node: cur, Op: cur.Op(), Rule: "inverse"}
			}
			known := make([]*G.Node, len(in))
			copy(known, in)
			known[i] = nil
			var next *G.Node
			var err error
			pr, pattern := cur.Op().(ops.PatternInverter)
			if pattern && !functional {
				next, err = pr.InverseAt(i, known, value, in[i])
			} else if next, err = r.Inverse(i, known, value); pattern && errors.Is(err, errs.ErrNoInverse) {
				// Invertible only branch by branch: the functional inverse
				// is the one of the current point's branch.
				next, err = pr.InverseAt(i, known, value, in[i])
			}
			if err != nil {
				return &errs.NoRuleError{Node: cur, Op: cur.Op(), Rule: "inverse", Err: err}
			}
			step := Step{Node: cur, Wrt: i, Inverse: next, Condition: r.InverseCondition(i), Backward: backward[cur]}
			if k, ok := r.(ops.InverseKinder); ok {
				step.Kind, step.Why = k.InverseKind(i, known, value)
			}
			inv.Steps = append(inv.Steps, step)
			cur, value = in[i], next
		}
		inv.Result = value
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// subgraphStep applies an "inverse of this subgraph" rule (method.md §3
// for a whole gradient map): the op's input si.Wrt from value, the value
// of its VJP contribution.
func subgraphStep(si SubgraphInverse, marked map[*G.Node]bool, weight, value *G.Node) (Step, error) {
	in := Children(si.Node)
	r := si.Node.Op().(ops.GradientInverter)
	var loop []int
	for i, c := range in {
		if i != si.Wrt && marked[c] {
			loop = append(loop, i)
		}
	}
	if marked[si.Adj] || len(loop) > 0 {
		return Step{}, &errs.DependencyLoopError{Node: si.Node, Op: si.Node.Op(), Inputs: append(loop, si.Wrt), Weight: weight}
	}
	known := append([]*G.Node(nil), in...)
	known[si.Wrt] = nil
	x, err := r.InverseGradient(si.Wrt, known, si.Adj, value, in[si.Wrt])
	if err != nil {
		return Step{}, &errs.NoRuleError{Node: si.Node, Op: si.Node.Op(), Rule: "inverse", Err: fmt.Errorf("gradient map inverted as a whole: %w", err)}
	}
	return Step{Node: si.Node, Wrt: si.Wrt, Inverse: x, Condition: r.InverseGradientCondition(si.Wrt), Backward: true,
		Why: "the op's gradient map inverted as a whole"}, nil
}
