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
// # The table of rules
//
// Each node of the user's graph with an op is translated by the first rule
// of one ordered table that matches it (Rules lists their names in
// order). A Rule matches by what the op is: its Go type as %T prints it
// (Gorgonia's op types are unexported, but their names are stable in
// v0.9.18), then its printed form, op.String(), only where one type
// stands for several functions (elemUnaryOp is tanh, sin, …; linAlgBinOp
// is A × B, A × b, a ⋅ b), then a Match on the node, its inputs' shapes
// and constant operands. A composite construction is a rule whose Match
// looks below the node and whose translation reads the nodes below the
// ones it replaces. The 41 built-in rules, in order (each of Gorgonia's
// unary functions is one):
//
//	random                 G.UniformRandomNode, G.GaussianRandomNode,
//	                       G.BinomialRandomNode: an input holding one draw;
//	                       G.Dropout(x, p): x ⊙ m / (1 − p), m a 0/1 mask input
//	                       (Gorgonia's scaling). Never folded: every product of
//	                       one draw sees the same values, Redraw draws anew
//	                       (random.go); refused only where the op's parameters
//	                       cannot be read or p ≥ 1
//	constant               a node depending on no input (constants, G.Mean's
//	                       counts, sizes), evaluated with Gorgonia's own ops
//	leaky relu, relu       G.LeakyRelu (8 nodes), G.Rectify (x ⊙ (x ≥ 0))
//	softmax cross-entropy  Σ of y ⊙ log softmax(z) (ops.SoftmaxCEOp);
//	                       Gorgonia itself rewrites log(softmax(z)) into one
//	                       log-softmax node when the graph is built
//	bias                   x + repeat₀(b) from G.BroadcastAdd (ops.BiasAddOp)
//	row bias               G.Add(G.Mul(v, W), b), b a weight vector: the bias of a
//	                       layer of one sample (ops.BiasAddOp)
//	scalar bias            G.Add(x·w, b), b a G.NewScalar weight: a layer's bias of
//	                       width 1 (ops.BiasAddOp of its 1×1)
//	neg, square … abs      Gorgonia's elementwise functions by printed form;
//	other functions        says that no newtonia function computes the rest
//	power                  x ^ c, c a constant
//	scale                  x ⊙ c, c ⊙ x, x ÷ c: G.Mean, a product by a constant
//	scalar operand         + − ⊙ ÷ with a scalar operand
//	elementwise            + − ⊙ ÷ of tensors (comparisons are refused: a
//	                       mask is translated only inside relu)
//	A × B, A × b, Aᵀ × b,  G.Mul; Aᵀ × b is G.Mul(vector, matrix), computed as the
//	a ⋅ b                  vector as a row times the matrix (h·W); other
//	                       products says what to do instead
//	A × Bᵀ                 G.Conv2d's patches times its kernels
//	transpose              of a matrix, or any permutation of the axes of a
//	                       value of more dimensions (ops.PermuteOp)
//	sum                    over all axes or one; of a value of more
//	                       dimensions, over any of its axes
//	softmax                and log-softmax, over rows or columns
//	reshape                between a vector and a row or column; any other
//	                       of as many elements (ops.ReshapeOp)
//	repeat                 a row over rows, a column over columns
//	im2col                 G.Conv2d's patches (ops.Im2ColOp), every kernel,
//	                       pad, stride and dilation argument
//	max pool               G.MaxPool2D (ops.MaxPoolOp, its argmax frozen like
//	                       a ReLU's mask); 2- and 4-element pads
//	element                G.Slice(m, S(i), S(j)): one element of a matrix
//	                       (ops.ElementOp, a term of sample i's row)
//	slice                  G.Slice of a vector or matrix, any index: S(i) (the
//	                       axis dropped), S(a, b), S(a, b, step) (ops.SliceOp)
//	concat                 G.Concat of vectors, of matrices along either axis
//	                       (ops.ConcatOp)
//
// Composites come before the rules that would match their last node (relu
// before elementwise), refusals and constants before everything. A node
// that no rule matches is refused with the first reason a rule's Match
// gave (e.g. "no newtonia function computes "sin""), after its inputs are
// translated, so that every untranslated node is listed.
//
// Register appends a rule after every rule registered before it (so after
// the built-ins, registered at start-up through the same Register): a
// built-in rule is never overridden, and a name that exists, or a rule an
// earlier one always pre-empts, is an *errs.ArgumentError.
//
// To add a rule (to the built-ins in rules.go or with Register): set Type
// to the %T the *errs.UntranslatedError prints for the op; set Printed if
// the type stands for several functions; write a Match for what else must
// hold (return Skip for a node that is not the rule's, an error saying why
// for one it cannot translate, nil for one it does; call Site.Reads for a
// composite); write a Translate that applies newtonia ops to s.In(i) (a
// 1-D vector is an n×1 column) and returns the node of the user's value.
// A rule of a few lines needs no other edit.
//
// # Checked by value
//
// A rule is trusted by what it computes, not by how it was matched: Verify
// runs the user's graph with Gorgonia's own ops and the translation with
// newtonia's, at the current inputs, and compares every translated node
// (float64 to 1e-8, float32 to 1e-3 relative, in norm); a rule that
// computes another function is reported at the first product, naming the
// node (package hvp runs Verify before the first product).
//
// # Values
//
//   - Matrices and values of more dimensions (a batch of images
//     (B, C, H, W), a convolution kernel (K, C, KH, KW)) keep the user's
//     shape; a weight of any rank is a block.
//   - A 1-D vector of length n becomes a 1×n row where it is broadcast
//     over rows (a bias), where it is the vector of G.Mul(vector, matrix)
//     or a weight added to one, and an n×1 column elsewhere (G.Mul's
//     matrix × vector); a row of a matrix (G.Slice(x, S(i))) is a row, a
//     column a column; weights and directions keep the user's shapes at
//     the API.
//   - A scalar weight (G.NewScalar, a logistic regression's bias) is a
//     1×1 matrix inside, read as a scalar by its sum; at the API its
//     gradient, products and directions are tensors of the user's shape,
//     (), holding one element (a direction of shape (1) or (1, 1) is
//     accepted too), and it is a block of its own (hvp.MethodScalar).
//   - float32 values are promoted to float64 exactly, so the passes run
//     in float64 on the float32 problem; results are rounded to float32 on
//     the way out (package hvp).
//
// # Errors
//
// What has no translation is reported at once, every such node named by
// the user's name for it, in an *errs.UntranslatedError.
//
// Errors name the user's nodes: the private graph numbers its nodes from
// 2³² (far from the user's ids), and Translation.UserError re-points the
// nodes of typed errors to the user's nodes they compute and rewrites
// their messages (Annotate), a node of newtonia's passes named by what it
// computes, e.g. "newtonia's log⁽1⁾(%2 A × B(%0 x, %1 W))".
package native
