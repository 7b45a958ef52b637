// Package spectral computes spectra and traces of newtonia's curvature
// operators: the Hessian H and the Gauss–Newton matrix of a Problem, a
// block's H_ll, their shifted and damped forms, and a block's exact
// inverse by the B-pass.
//
// # Operators
//
// An Operator applies a symmetric linear map to flat vectors (params.Vector's
// flat order): Hessian, GGN, BlockHessian, BlockDamped (H_ll + λ·h̃ᵀh̃ ⊗ I,
// what hvp.Options.Damping inverts), Shift (A + s·I) and BlockInverse
// ((H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ by certified exact B-passes, refused for a block
// whose inverse is not exact). Every estimator takes any Operator.
//
// # Eigenvalues
//
//	Lanczos       k largest / smallest algebraic or largest-magnitude eigenpairs,
//	              full reorthogonalisation, residuals ‖Ax − λx‖ as certificates
//	ShiftInvert   a block's k eigenvalues nearest σ = 0, Lanczos on H_ll⁻¹ (B-pass)
//
// Only σ = 0 is supported by ShiftInvert: the B-pass inverts H_ll and
// H_ll + λ·h̃ᵀh̃ ⊗ I, and h̃ᵀh̃ ⊗ I is not the identity, so no exact product
// gives (H_ll − σI)⁻¹ for σ ≠ 0.
//
// # Traces and diagonals
//
//	Hutchinson     tr(A) from m Rademacher probes, with its standard error
//	HutchPP        Hutch++ (Meyer et al. 2021): exact on a sketch of A's range, Hutchinson on the rest
//	Diagonal       diag(A) by Hutchinson's diagonal estimator, entry by entry with standard errors
//	ExactDiagonal  diag(A) from n unit-vector products, under a cap
//	BlockDiagonal  a block's exact diag(H_ll), from its per-sample curvature where it has one
//
// # Spectral density
//
// SLQ estimates the spectral density by stochastic Lanczos quadrature
// (Ghorbani, Krishnan & Xiao 2019): Density.At and Grid evaluate it
// Gaussian-broadened, Density.PNG plots it.
//
// # Errors
//
// Bad arguments are *errs.ArgumentError, a basis or exact diagonal over its
// cap an *errs.LimitError before anything runs, Lanczos unconverged at its
// step cap an *errs.LimitError (Reached) with the pairs found, a block
// without an exact inverse an *errs.ConditionError naming it; the errors of
// the products (package hvp) pass through. Nothing panics.
package spectral
