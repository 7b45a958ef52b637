// Package graph is newtonia's rewriter and evaluator. Given a scalar loss
// node and weight nodes of a Gorgonia ExprGraph, it adds to the same graph:
//
//   - the gradient pass, by a reverse traversal that calls each op's VJP
//     rule (BuildGradient);
//   - forward-mode tangents of any set of nodes, by each op's JVP rule
//     (JVP). Applied to the forward and gradient passes with tangent V_k at
//     W_k this is Pearlmutter's R-pass, R{g} = H v; applied again to the
//     R-pass, the third directional derivative ∇³J[u, v];
//   - for one weight block W_l, the inverse pass g_l ↦ W_l, by walking the
//     gradient graph backwards from g_l and asking each op for its inverse
//     with respect to the one input that depends on W_l (BuildInverse: the
//     chain route, method.md §3). The JVP of the inverse pass seeded with v
//     at g_l is the B-pass, B{W_l} = H_ll⁻¹ v;
//   - the per-sample route of a layer of a row-separable loss (method.md
//     §9): RowSeparable proves from the ops' RowWiser claims that the loss
//     is a sum of per-sample terms of the layer's pre-activation, LayerOf
//     finds the layer h̃·W̃ of a weight from its uses (Uses, or UsesWithout
//     the penalty terms of the loss), and BuildPerSample builds the JVPs
//     that form each sample's M_i.
//
// The package knows nothing of layers or activations beyond that shape:
// every formula lives in an op's rules (package ops), found by type
// assertion. When a rule is missing, or the inverse pass meets a node with
// two inputs that depend on W_l (method.md §7), it returns a typed error
// naming the node and the op.
//
// Passes are evaluated by a Program (Compile): the nodes a set of roots
// needs, in order, run op by op in the calling goroutine (independent
// nodes concurrently when there is enough work), with the values bound per
// call (Values) rather than written into the graph, so that one compiled
// program serves concurrent callers. A failing op is a *errs.RunError
// naming its node. Built passes print as text (Pass.String) or Graphviz
// DOT (Pass.Dot).
package graph
