// Package solver trains and solves with newtonia's products:
//
//	InvHvCG, InvHvCGFull   conjugate gradients on the exact Hv (block, full), bounded in iterations and time
//	InvHv                  exact-else-CG: the certified B-pass, or CG saying why
//	Newton                 block-Newton steps (a gorgonia.Solver); by default damped exact block steps,
//	                       the best measured candidate, LM damping per block, never increasing the loss
//	HF                     Hessian-free (Martens 2010) on exact Gauss–Newton products
//	KFAC                   Kronecker-factored directions (Martens & Grosse 2015, hvp.Kronecker's factors),
//	                       step length from the exact Gauss–Newton model; for minibatch training
//	Method                 the block-Newton direction as a gonum optimize.Method
//	Problem                loss and gradient as a gonum optimize.Problem (LBFGS, BFGS baselines)
//	ValueGrads             newtonia's gradients for Gorgonia's own solvers (SGD, Adam)
//
// # Settings
//
// Every settings struct (NewtonSettings, HFSettings, KFACSettings,
// CGOptions) means its defaults when nil or zero, field by field, each
// default documented beside its field, and validates itself: Validate
// returns the first field outside its domain as an *errs.ArgumentError
// naming it, and the solvers call it before they compute anything. A
// damping whose default is on is turned off with NoDamping (zero keeps
// meaning "the default"); NoDamping is accepted by every damping field.
// The records (StepRecord, HFRecord, KFACRecord) say what each step did,
// including every block that fell back and why.
package solver
