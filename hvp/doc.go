// Package hvp gives exact Hessian-vector and block inverse-Hessian-vector
// products for a scalar loss built with newtonia's ops in a Gorgonia
// ExprGraph, and the finite-difference and dense references to compare
// them with.
//
// # Products
//
// New builds, once, in the loss's own graph: the gradient pass, the R-pass
// (Pearlmutter 1994) and, for every weight block W_l, the inverse pass of
// the block gradient map G_l: W_l ↦ g_l and its B-pass. Each product then
// runs a TapeMachine compiled for just the nodes it needs; new weights,
// inputs (set with gorgonia.Let) and directions need no rebuilding.
//
//	Hv       H v = (R{g_1}, …, R{g_L})                  exact
//	BlockHv  H_ll v_l                                   exact
//	InvHv    H_ll⁻¹ v_l = B{W_l}                        exact when method.md §4 holds
//	HvFD     (g(w + r v) − g(w − r v)) / 2r             O(r²) + O(ε/r)
//	InvHvFD  (G_l⁻¹(g_l + r v) − G_l⁻¹(g_l − r v)) / 2r   the seed's method
//
// Every inverse product carries its residual ‖H_ll u − v‖ / ‖v‖, computed
// with the exact Hv, so that a violated condition shows as a large
// residual and not as a wrong step.
//
// # Vectorisation
//
// Dense Hessians index parameters block by block in the order the weights
// were given, each matrix in row-major order.
package hvp
