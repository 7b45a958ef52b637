// Package compare is the comparison engine of cmd/newtonia and
// examples/classifier: every Hessian product of an hvp.Problem by every
// method that computes it, side by side.
//
//	Hv     exact (R-pass)   fd r=… (reference.HvFD)    dense, dense-fd (a dense matrix times v)
//	InvHv  exact (B-pass)   fd r=… (reference.InvHvFD)  cg (solver.InvHvCG)  dense, dense-fd (minimum-norm solve)
//
// An Engine computes one product by one method per call (HvExact, HvFD,
// HvDense, InvHvExact, InvHvFD, InvHvCG, InvHvDense), each returning an
// *Entry with the value, its timing and what it is. Run computes every
// product of every block and of the whole Hessian for one direction, in
// the order of the command's report, then fills each entry's relative
// differences and says which blocks' exact inverse is missing.
//
// The dense matrix of a block or of the full Hessian, from exact R-pass
// columns (Dense) or finite differences (DenseFD), is built once per
// Engine (shared with its Damped copies), on first use, and reused by
// every product and direction after (Stats counts the builds); one that
// failed or was refused is not tried again, later entries saying "no
// dense block (see its Hv entry)". Every build and solve is bounded before it
// starts: Settings.DenseMax parameters, then reference.Limits of
// DenseMem and DenseTime (memory and time estimated first; the time cap
// holds for building and, separately, for the factorisation of the
// solve). A refusal is a typed error in the entry: *SkippedError (which
// unwraps to an *errs.LimitError) for DenseMax, *errs.LimitError for the
// estimates.
//
// Labels are honest: an InvHv entry's Method is "exact" only for a
// certified exact or pseudo-inverse B-pass result; a certified solution
// of H u = v that is not H⁺v is "newton-only", a refused or failed B-pass
// computed anyway "uncertified".
//
// Messages name the settings by the command's flags (-dense-max,
// -dense-time, -dense-mem, -exact-damping). An Engine is not safe for
// concurrent use.
package compare
