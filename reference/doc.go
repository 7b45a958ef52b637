// Package reference computes the references newtonia's exact products are
// compared with, each labelled by what it is:
//
//	HvFD            central differences of the gradient               O(r²) + O(ε‖g‖/r)
//	InvHvFD         central differences of the functional inverse     ≈ ε·cond/r, pattern flips
//	DenseBlock      H_ll, column j = H_ll e_j by the exact R-pass     exact up to rounding
//	DenseHessian    H, the same for all blocks jointly                exact up to rounding
//	DenseBlockFD    H_ll by Richardson-extrapolated central           exact up to rounding for piecewise-
//	                differences of the block gradient                 linear nets, O(r⁴) otherwise
//	DenseHessianFD  H the same way                                    O(r⁴) (method.md §8)
//	MinNormSolve    H⁺v of a dense reference, its rank chosen above the noise of its entries
//	MinNormSolveWithin  the same within Limits: memory and time (SolveTime) estimated first
//
// Dense references are bounded (Limits): their memory and time are
// estimated before building and refused above the caps, with the estimate
// in the *errs.LimitError; building stops when it exceeds its time cap.
// Their solve is bounded the same way before it starts (MinNormSolveWithin:
// the eigendecomposition's 9n³ flops at a rate measured on this machine),
// since it cannot be stopped part-way.
package reference
