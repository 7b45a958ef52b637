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
// inverse (ReLU), or a backward rule and nothing else. Each op file asserts,
// at compile time, every interface its op claims (a misspelled rule method
// is a compile error, not a rule silently missing):
//
//	VJPer               backward: in̄_i = (∂out/∂in_i)ᵀ adj
//	JVPer               forward mode: R{out} = Σ_i (∂out/∂in_i) tan_i (nil = zero)
//	Inverter            in_wrt from out and the other inputs, and its condition
//	InverseKinder       how much of its input the inverse recovers (bijective,
//	                    left inverse, minimum-norm, lossy), for the conditions
//	                    report; an Inverter without it is taken to be bijective
//	PatternInverter     the inverse with the current activation pattern frozen
//	GradientInverter    the inverse of the op's whole gradient map, where no
//	                    op-by-op inverse exists (ProductOp)
//	PiecewiseConstanter a derivative mask: zero tangent, frozen in inverse passes
//	RowWiser            whether the op acts row by row (sample by sample) on
//	                    the inputs that depend on a block: without it a node
//	                    is taken to mix samples, and the per-sample route
//	                    (method.md §9) — every smooth net's exact inverse —
//	                    refuses the block
//	Conditioner         rank and condition of a matrix the op factorises
//	FlopCounter         floating-point operations, for reporting speed
//	TransposeFuser      reads an input transposed without forming it
//
// An elementwise function needs only a ScalarFunc (its derivatives by
// order; optionally InvertibleFunc, BranchInvertibleFunc,
// PiecewiseLinearFunc, SliceFunc): ElementwiseOp derives every rule from
// it.
//
// # The ops
//
//	linear algebra   MatMulOp, TransposeOp, MatInvOp and SolveOp (LU),
//	                 PInvOp (QR when of full rank, else SVD), RowSolveOp
//	                 (per-sample symmetric solves)
//	elementwise      AddOp, SubOp, MulOp, DivOp, ScaleOp, ScalarMulOp,
//	                 ElementwiseOp
//	shapes           BiasAddOp, RepeatOp, SliceOp (strided), PadOp and
//	                 SpreadOp (their adjoints), ConcatOp, ElementOp, SumOp,
//	                 RowSumOp, FillOp, StopOp, ReshapeOp and PermuteOp (any rank)
//	images           Im2ColOp and its adjoint Col2ImOp (Conv2d: im2col and
//	                 one matrix product), MaxPoolOp with its frozen argmax
//	                 pattern (PoolArgmaxOp, PoolGatherOp, PoolScatterOp)
//	reductions and   InnerOp, HalfSSEOp, SoftmaxOp, SoftmaxCEOp, SigmoidBCEOp,
//	losses           ProductOp
//	scalar functions LeakyReLUFunc, ReLUFunc, IdentityFunc, TanhFunc,
//	                 AtanhFunc, SigmoidFunc, LogitFunc, SoftplusFunc,
//	                 SoftplusInvFunc, ExpFunc, LogFunc, SquareFunc, SqrtFunc,
//	                 AbsFunc, PowFunc (with ElementwiseOp)
//
// Every Do allocates its output, never writes an input, and returns an
// error wrapping errs.ErrNotFinite rather than a NaN or an Inf; LU-based
// ops (SolveOp, MatInvOp) refuse a numerically singular matrix (condition
// estimate above SingularCond) with an *errs.ConditionError. Factorisations
// are cached by matrix contents, so an evaluation factorises each matrix
// once however many solves use it. Results are recycled across runs
// (Release, Recyclable).
//
// # Writing an op
//
// An elementwise function is a ScalarFunc: a String, its derivatives, and,
// to be invertible, Inverse and InverseCondition (an InvertibleFunc); apply
// it with Map. Any other op writes its name, shape, computation and rules,
// and takes the Gorgonia plumbing from this package: it embeds Unary,
// Binary or Pure (arity, type, purity) and its WriteHash, Hashcode and Do
// are one line each (WriteHash, Hashcode, Checked). Its String must name
// every parameter: it is hashed, and Gorgonia merges nodes of equal hash.
// Rules are written with a Builder, whose helpers (MatMul, T, Mul, Div,
// ScalarMul, Inner, Scale, Add, Sub) build nodes of this package's ops and
// keep the first error; an op bilinear in two inputs gets both its JVP
// and its VJP from a Bilinear. examples/customop writes one of each.
//
// Package opcheck checks an op's rules against finite differences and the
// adjoint identity, its inverses by a round trip, and its InverseKind and
// RowWise claims numerically.
package ops
