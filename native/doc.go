// Package native lets newtonia work on graphs built with Gorgonia's own
// API (G.Mul, G.BroadcastAdd, G.Tanh, G.SoftMax, G.Mean, …) and on float32
// graphs.
//
// Model is what package hvp holds of a user's graph: the loss and weights
// every pass is built from — the user's own nodes for a graph of
// newtonia's float64 ops, else their private translation — and, for each
// run, the binding of the user's inputs, the one verification of the
// translation against Gorgonia's values and the checks of every input
// (Model.Prepare); errors and messages come back in the user's terms
// (Model.UserError, Model.Annotate).
//
// Translate copies the part of the user's graph that the loss reads into
// a private ExprGraph, node by node, with newtonia's ops (which carry the
// VJP, JVP and inverse rules the passes need). Every pass — the gradient
// pass, R-pass, inverse passes and B-passes — is then built in that
// private graph: the user's graph gets no node and no value, and a
// TapeMachine made from it before or after keeps giving its own results.
// (A graph built only with newtonia's float64 ops is not translated: its
// passes are added to its own graph, whose existing nodes they never
// change.)
//
// How the translation works:
//
//   - Each Gorgonia op is identified by its Go type, its printed form and
//     its inputs' shapes (Gorgonia's op types are unexported), and the
//     identification is checked by what the op computes: Verify runs the
//     user's graph with Gorgonia's own ops and the translation with
//     newtonia's, at the current inputs, and compares every translated
//     node (float64 to 1e-8, float32 to 1e-3 relative, in norm).
//   - Composite constructions are recognised whole, so that the exact
//     routes of method.md §3 and §9 apply: G.Rectify (x ⊙ (x ≥ 0)) is a
//     ReLU, G.LeakyRelu (8 nodes) a leaky ReLU, x·W + repeat(b) from
//     G.BroadcastAdd a layer with a bias (ops.BiasAddOp), and a sum or
//     mean of y ⊙ log softmax(z) a fused softmax cross-entropy
//     (ops.SoftmaxCEOp). Gorgonia itself rewrites log(softmax(z)) into one
//     log-softmax node, in place, when the graph is built.
//   - Nodes that depend on no input (constants, G.Mean's counts, sizes)
//     are folded into constants, evaluated with Gorgonia's own ops. A
//     random node (G.UniformRandomNode, G.GaussianRandomNode,
//     G.BinomialRandomNode, G.Dropout) is never folded: Gorgonia draws it
//     anew on every run, so it is refused, with how to hold a fixed draw
//     in an input node instead.
//   - A 1-D vector of length n becomes a 1×n row where it is broadcast
//     over rows (a bias) and an n×1 column elsewhere (G.Mul's matrix ×
//     vector); weights and directions keep the user's shapes at the API.
//   - A scalar weight (G.NewScalar, a logistic regression's bias) is a
//     1×1 matrix inside, read as a scalar by its sum; at the API its
//     gradient, products and directions are tensors of the user's shape,
//     (), holding one element (a direction of shape (1) or (1, 1) is
//     accepted too), and it is a block of its own (hvp.MethodScalar).
//   - float32 values are promoted to float64 exactly, so the passes run
//     in float64 on the float32 problem; results are rounded to float32 on
//     the way out (package hvp).
//
// What has no translation is reported at once, every such node named by
// the user's name for it, in an *errs.UntranslatedError; Register adds a
// translation for another Gorgonia op.
//
// Errors name the user's nodes: the private graph numbers its nodes from
// 2³² (far from the user's ids), and Translation.UserError re-points the
// nodes of typed errors to the user's nodes they compute and rewrites
// their messages (Annotate), a node of newtonia's passes named by what it
// computes, e.g. "newtonia's log⁽1⁾(%2 A × B(%0 x, %1 W))".
package native
