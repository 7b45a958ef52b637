// Package hvp gives exact Hessian-vector and block inverse-Hessian-vector
// products for a scalar loss in a Gorgonia ExprGraph.
//
// # Products
//
// New builds, once: the gradient pass and the R-pass (Pearlmutter 1994);
// and, for every weight block (a weight, or a weight and its bias), on
// first use, the route to H_ll⁻¹: the inverse pass of the block gradient
// map and its B-pass (method.md §3), or the per-sample route (§9). Each
// product evaluates the nodes it needs with graph.Program; new weights,
// inputs (set with gorgonia.Let) and directions need no rebuilding.
//
//	Hv       H v = (R{g_1}, …, R{g_L})                  exact
//	BlockHv  H_ll v_l                                   exact
//	InvHv    H_ll⁻¹ v_l = B{W_l}, or (H_ll + λ h̃ᵀh̃⊗I)⁻¹ v_l   exact under method.md §4 / §9, certified
//
// Every inverse product carries its residual ‖H_ll u − v‖ / ‖v‖, computed
// with the exact Hv, so that a violated condition shows as a refusal and
// not as a wrong step. Finite-difference and dense references are in
// package reference, solvers in package solver.
//
// # Which graphs
//
// A loss built with newtonia's ops (package ops, nets) gets its passes in
// its own graph, as new nodes. A loss built with Gorgonia's own ops
// (G.Mul, G.BroadcastAdd, G.Tanh, G.SoftMax, …), or in float32, is
// translated into a private graph of newtonia ops (package native) where
// every pass is built: the user's graph is not modified. Weights,
// directions and results keep the user's shapes (a bias stays an (n)
// vector) and dtype: float32 products are the float64 products of the
// float32 model, rounded (Result.RoundedResidual).
//
// # Errors and limits
//
// Every function and method that returns an error reports bad arguments —
// a block index out of range, a nil result, a zero Curvature, a setting
// out of its range — as an *errs.ArgumentError (shapes and values as the
// other typed errors of package errs) and never panics. The accessors
// that return no error (Block, BlockName, BlockOf, Scatter) panic, with a
// message beginning "newtonia: hvp: ", when given a block index out of
// range [0, Blocks()): a programmer's error, like a slice index.
//
// Allocations that grow with the batch beyond the gradient's own (the
// per-sample route's n JVP columns, a few times batch·n² values, and
// Curvature.Dense) are estimated before they are made and refused above a
// cap, Options.MaxBytes for the inverse products and the default of
// package internal/budget (a quarter of physical memory) otherwise, with
// an *errs.LimitError naming the block and the bytes. Building a route
// (New, Conditions) allocates nothing of that size.
//
// # Vectorisation
//
// Dense Hessians index parameters block by block in the order the weights
// were given, each matrix in row-major order.
package hvp
