// Package hvp gives exact Hessian-vector and block inverse-Hessian-vector
// products for a scalar loss in a Gorgonia ExprGraph.
//
// # Problem and blocks
//
// New builds, once, a Problem: the gradient pass and the R-pass
// (Pearlmutter 1994) for a loss and its weights, grouped into blocks (a
// layer's weight and its bias; NewBlocks chooses them). Each block's
// route to H_ll⁻¹ — the inverse pass of the block gradient map and its
// B-pass (method.md §3), the per-sample route (§9), for a block of one
// parameter v/h, or, for a block whose weights a penalty term of the loss
// reads (weight decay λ·Σ W², §11), the penalized route — is built on
// first use. Penalty terms (scalars of the weights alone added to the
// loss) are recognised once: blocks are made on the data term, so a
// decayed weight still pairs with its bias. Each product evaluates the
// nodes it needs with graph.Program: new weights, inputs (set with
// gorgonia.Let, or SetWeights) and directions need no rebuilding.
//
//	Problem.Hv            H v = (R{g_1}, …, R{g_L})                 exact
//	Problem.GGNv          J_zᵀ (∂²J/∂z²) J_z v (+ penalties' Hessian)  exact
//	Problem.InvHvAll      every block's InvHv in one program
//	Block.Hv              H_ll v_l                                 exact
//	Problem.Third         ∇³J[u, v], the derivative of H v along u (a JVP of the R-pass)   exact
//	Block.Third           T_ll[u, v], block l's part                exact
//	Block.InvHv           H_ll⁻¹ v_l = B{W_l}, or (H_ll + λ h̃ᵀh̃⊗I)⁻¹ v_l   exact under method.md §4 / §9 / §11, certified
//	Block.Certify         the residual and checks of a result computed another way
//	Block.Curvature       H_ll = Σ_i h̃_iᵀh̃_i ⊗ M_i (+ an L2 penalty's diagonal), for a dense solve
//	Problem.Conditions    what each block's InvHv computes, decided before anything runs
//
// Every inverse product carries its residual ‖H_ll u − v‖ / ‖v‖, computed
// with the exact Hv, so that a violated condition shows as a refusal and
// not as a wrong step. A Result says what U is (Kind: exact,
// pseudo-inverse, Newton-only or refused) and who computed it (Method:
// a route of the B-pass, or conjugate gradients, finite differences, a
// dense solve — the last three never exact); Result.Label prints both.
// Finite-difference and dense references are in package reference,
// solvers in package solver.
//
// # Vectors
//
// Weights, directions, gradients and products are *params.Vector: flat
// float64 values with the layout of the problem's weights
// (Problem.Layout: their names, their shapes and dtype as the user's
// nodes have them, their blocks). A block's vectors are of
// Layout().Block(l); v.Block(l) is block l's part of a whole vector, a
// view, and whole.Block(l).CopyFrom(u) puts a block's u back. Tensors
// appear only at the edge: params.FromTensors and Vector.Tensors. A
// vector given of another layout is an *errs.ShapeError naming the
// weight, a non-finite value an *errs.NotFiniteError.
//
// # Which graphs
//
// A loss built with newtonia's ops (package ops, nets) gets its passes in
// its own graph, as new nodes. A loss built with Gorgonia's own ops
// (G.Mul, G.BroadcastAdd, G.Tanh, G.SoftMax, …), or in float32, is
// translated into a private graph of newtonia ops (package native, whose
// Model the Problem holds) where every pass is built: the user's graph is
// not modified. Layouts keep the user's shapes (a bias stays an (n)
// vector, a scalar weight ()) and dtype: float32 products are the float64
// products of the float32 model, rounded to float32 values
// (Result.RoundedResidual).
//
// # Cost
//
// A Problem made with WithStats adds what its products run to a Stats:
// data rows in gradient-equivalents (the table in Stats's documentation),
// flops and runs by kind; Result.Flops is one inverse product's. Nothing
// is shared between calls otherwise.
//
// # Errors and limits
//
// Every function and method that returns an error reports bad arguments
// — a vector of another layout, a nil result, a zero Curvature, a setting
// out of its range — as a typed error of package errs and never panics.
// Problem.Block, which returns no error, panics with a message beginning
// "hvp: block" when given an index out of range [0, Blocks()): a
// programmer's error, like a slice index.
//
// Allocations that grow with the batch beyond the gradient's own (the
// per-sample route's n JVP columns, a few times batch·n² values, and
// Curvature.Dense, the penalized route's LU) are estimated before they are
// made and refused above a cap, Options.MaxBytes for the inverse products
// and the default of package internal/budget (a quarter of physical
// memory) otherwise, with an *errs.LimitError naming the block and the
// bytes; the penalized route's flops are capped by Options.MaxFlops. Building a route
// (New, Conditions) allocates nothing of that size.
//
// # Reuse at the same weights
//
// A B-pass keeps, per program, the values that do not depend on its
// direction (the forward and gradient passes, the inverse pass's values;
// the dense route's formed H_ll and its factorisation), with the bits of
// every other input they came from: weights, data, random draws, λ. A
// later B-pass at bitwise equal inputs evaluates only what depends on the
// direction and returns bit for bit what a full run returns; any change
// (SetWeights, gorgonia.Let, Redraw, another damping) runs in full. The
// kept values (about one run's forward values per B-pass program) stay
// with the Problem and are not counted by Options.MaxBytes.
//
// # Vectorisation
//
// Dense Hessians index parameters in params.Vector's flat order: weight
// by weight in the order given to New, each in row-major order.
package hvp
