// Package solver trains and solves with newtonia's products:
//
//	InvHvCG, InvHvCGFull   conjugate gradients on the exact Hv (block, full), bounded in iterations and time
//	InvHv                  exact-else-CG: the certified B-pass, or CG saying why
//	Newton                 block-Newton steps (a gorgonia.Solver)
//	Problem                loss and gradient as a gonum optimize.Problem (LBFGS, BFGS baselines)
//	ValueGrads             newtonia's gradients for Gorgonia's own solvers (SGD, Adam)
package solver
