// Package graph is newtonia's rewriter. Given a scalar loss node and weight
// nodes of a Gorgonia ExprGraph, it adds to the same graph:
//
//   - the gradient pass, by a reverse traversal that calls each op's VJP
//     rule (Gradient);
//   - forward-mode tangents of any set of nodes, by each op's JVP rule
//     (JVP). Applied to the forward and gradient passes with tangent V_k at
//     W_k this is Pearlmutter's R-pass, R{g} = H v;
//   - for one weight block W_l, the inverse pass g_l ↦ W_l, by walking the
//     gradient graph backwards from g_l and asking each op for its inverse
//     with respect to the one input that depends on W_l (Inverse). The JVP
//     of the inverse pass seeded with v at g_l is the B-pass,
//     B{W_l} = H_ll⁻¹ v.
//
// The package knows nothing of layers or activations: every formula lives
// in an op's rules (package ops), found by type assertion. When a rule is
// missing, or the inverse pass meets a node with two inputs that depend on
// W_l (method.md §7), it returns a typed error naming the node and the op.
//
// Built passes print as text (Pass.String) or Graphviz DOT (Pass.Dot).
package graph
