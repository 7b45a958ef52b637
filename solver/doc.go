// Package solver trains and solves with newtonia's products.
//
// # Optimizers
//
// Every optimizer is an Optimizer: Step takes one step on the inputs as
// bound and binds the new weights, returning a Step record in the same
// terms for every method — the losses before and after, the step size
// and length, its Cost in data rows (hvp.Stats.Rows, gradient-equivalents:
// gradients, line-search losses and curvature products counted the same
// way everywhere), every block that fell back and why, and a
// method-specific Detail. Build them by name from the registry:
//
//	opt, err := solver.New("newton", p, nil) // nil: the defaults
//	step, err := opt.Step()
//
//	name             type          settings               Detail
//	newton           DampedNewton  *DampedNewtonSettings  *NewtonDetail  damped exact block steps, the best measured candidate, LM damping per block; never increases the loss
//	newton-subspace  BlockNewton   *BlockNewtonSettings   *NewtonDetail  classic block Newton, Combine: CombineSubspace
//	newton-sum       BlockNewton   *BlockNewtonSettings   *NewtonDetail  … CombineSum (block-Jacobi)
//	newton-cyclic    BlockNewton   *BlockNewtonSettings   *NewtonDetail  … CombineCyclic (one block per step)
//	hf-ggn           HF            *HFSettings            *HFDetail      Hessian-free (Martens 2010) on exact Gauss–Newton products
//	hf-kron          HF            *HFSettings            *HFDetail      … CG preconditioned by the per-sample curvature's Kronecker factors
//	kfac             KFAC          *KFACSettings          *KFACDetail    Kronecker-factored directions (Martens & Grosse 2015), exact Gauss–Newton step length
//	sgd, adam        (Gorgonia's)  *GorgoniaSettings      nil            Gorgonia's VanillaSolver and AdamSolver on newtonia's gradients
//	lbfgs, bfgs      (gonum's)     *GonumSettings         nil            gonum's methods on Problem, one Step per major iteration
//
// Names lists them, Defaults gives a name's settings with their defaults
// filled in, and Register adds a name. AsSolver makes any Optimizer a
// gorgonia.Solver.
//
// # Line search
//
// LineSearch is the one Armijo backtracking search of the package
// (BlockNewton's, DampedNewton's gradient fallback, HF's), with a
// documented cap on its trials; gonum's methods use gonum's.
//
// # Products and adapters
//
//	InvHvCG, InvHvCGFull   conjugate gradients on the exact Hv (block, full), bounded in iterations and time
//	InvHv                  exact-else-CG: the certified B-pass, or CG saying why
//	Method                 DampedNewton's block direction as a gonum optimize.Method (gonum's line search)
//	Problem                loss and gradient as a gonum optimize.Problem
//	ValueGrads             newtonia's gradients for Gorgonia's own solvers
//
// # Settings
//
// Every settings struct (DampedNewtonSettings, BlockNewtonSettings,
// HFSettings, KFACSettings, GorgoniaSettings, GonumSettings, LineSearch,
// CGOptions) means its defaults when nil or zero, field by field, each
// default documented beside its field, and validates itself: Validate
// returns the first field outside its domain as an *errs.ArgumentError
// naming it, and the constructors (NewDampedNewton, …, New) call it
// before anything is computed. Each damping field is named by the
// operator it adds: LMDamping λ·h̃ᵀh̃ ⊗ I (method.md §9), Tikhonov λI (HF,
// CG), FactorDamping K-FAC's damping of each Kronecker factor by its mean
// eigenvalue. A damping whose default is on is turned off with NoDamping
// (zero keeps meaning "the default"); NoDamping is accepted by every
// damping field.
package solver
