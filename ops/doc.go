// Package ops holds newtonia's Gorgonia ops, one file per op with every
// rule it registers: its forward computation (Do), and, as graph-building
// methods, its backward rule (VJP), its forward-mode rule (JVP, Pearlmutter's
// R{·}) and its functional inverse with respect to each input (Inverse),
// with the condition under which that inverse is exact.
//
// # Rules are small interfaces
//
// An op is a gorgonia.Op. It gains abilities by implementing optional
// interfaces, found by type assertion, so that an op can have a JVP and no
// inverse (ReLU), or a backward rule and nothing else:
//
//	VJPer               backward: in̄_i = (∂out/∂in_i)ᵀ adj
//	JVPer               forward mode: R{out} = Σ_i (∂out/∂in_i) tan_i (nil = zero)
//	Inverter            in_wrt from out and the other inputs, and its condition
//	InverseKinder       how much of its input the inverse recovers (bijective,
//	                    left inverse, minimum-norm, lossy), for the conditions report
//	PatternInverter     the inverse with the current activation pattern frozen
//	PiecewiseConstanter a derivative mask: zero tangent, frozen in inverse passes
//	Conditioner         rank and condition of a matrix the op factorises
//
// An elementwise activation needs only a ScalarFunc (its derivatives by
// order; optionally InvertibleFunc, PiecewiseLinearFunc, SliceFunc):
// ElementwiseOp derives every rule from it.
//
// # The ops
//
//	MatMulOp, TransposeOp, AddOp, SubOp, MulOp, DivOp, ScaleOp, ScalarMulOp,
//	InnerOp, HalfSSEOp, ElementwiseOp (LeakyReLUFunc, ReLUFunc, IdentityFunc,
//	TanhFunc, AtanhFunc), MatInvOp and SolveOp (LU), PInvOp (QR when of full
//	rank, else SVD).
//
// Every Do allocates its output, never writes an input, and returns an
// error wrapping ErrNotFinite rather than a NaN or an Inf; LU-based ops
// refuse numerically singular matrices with a *SingularError. Factorisations
// are cached by matrix contents, so an evaluation factorises each matrix
// once however many solves use it.
//
// Package opcheck checks an op's rules against finite differences and its
// inverse by a round trip.
package ops
