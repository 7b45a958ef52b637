package ops

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/internal/gorgoniax"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The rules an op may register. Each is a separate small interface, found by
// type assertion, so an op can have a JVP and no inverse (ReLU), or a
// backward rule and nothing else. Every rule builds graph nodes, never
// numbers: the passes it contributes to can themselves be differentiated.

// VJPer is an op with a reverse-mode (vector-Jacobian) rule.
type VJPer interface {
	// VJP returns, for each input i with need[i] set, the adjoint
	//	in̄_i = (∂out/∂in_i)ᵀ adj
	// where adj is the adjoint of the output (same shape as out). Entries
	// for inputs not needed, or whose adjoint is zero, may be nil.
	VJP(in []*G.Node, out, adj *G.Node, need []bool) ([]*G.Node, error)
}

// JVPer is an op with a forward-mode (Jacobian-vector, Pearlmutter's R{·})
// rule.
type JVPer interface {
	// JVP returns R{out} = Σ_i (∂out/∂in_i) tan_i. A nil tangent means zero;
	// a nil result means the output's tangent is zero.
	JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error)
}

// Inverter is an op that can be solved for one of its inputs given its
// output and its other inputs (its functional inverse with respect to that
// input).
type Inverter interface {
	// Inverse returns a node computing in_wrt from out and the other
	// inputs; in[wrt] is nil. It returns a *NoInverseError when no inverse
	// with respect to wrt exists for these shapes or parameters.
	Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error)
	// InverseCondition states, for people, when the inverse built by
	// Inverse is exact.
	InverseCondition(wrt int) string
}

// PatternInverter is an Inverter of a piecewise-linear op whose inverse
// can be taken with the activation pattern of the current point frozen
// (method.md §3: B{·} = 0 for the activation pattern). InverseAt builds
// in_wrt from out using at, the current value of in_wrt, only through
// piecewise-constant ops (its pattern). The rewriter prefers it to
// Inverse: where the inverse pass does not reproduce the current point
// (pseudo-inverse and Newton-only blocks), the pattern of the
// reconstructed point differs from the current one and the plain inverse
// would be linearised at the wrong place.
type PatternInverter interface {
	InverseAt(wrt int, in []*G.Node, out, at *G.Node) (*G.Node, error)
}

// GradientInverter is the "inverse of this subgraph" rule: for an op f
// whose gradient map x ↦ ∇f(x) has a functional inverse as a whole though
// the ops its VJP builds have none one by one (f = x₁x₂x₃: every
// coordinate of the gradient depends on two inputs), it builds that
// inverse at once. The rewriter uses it in the inverse pass where the
// walk from g_l reaches the node of the op's VJP contribution
// c = (∂f/∂in_wrt)ᵀ adj, and the B-pass differentiates the nodes it
// builds like any other.
type GradientInverter interface {
	// InverseGradient builds in_wrt from value, a node standing for c, the
	// adjoint adj (which must not depend on the weight) and the other
	// inputs (in[wrt] is nil); at is in_wrt's current value, for the
	// branch (signs) of a function whose gradient map is injective only
	// branch by branch.
	InverseGradient(wrt int, in []*G.Node, adj, value, at *G.Node) (*G.Node, error)
	// InverseGradientCondition states where the inverse is exact.
	InverseGradientCondition(wrt int) string
}

// PiecewiseConstanter is an op whose output is locally constant almost
// everywhere (an activation's derivative mask, a comparison). Its tangent is
// zero, no adjoint flows through it, and the inverse pass treats its node as
// a constant (method.md §7: "frozen").
type PiecewiseConstanter interface {
	PiecewiseConstant() bool
}

// FlopCounter is implemented by ops that count their floating-point
// operations from their input shapes (matrix products, factorisations,
// solves); graph.Program counts any other op as one operation per element
// of its result. The counts are for reporting speed (GFlop/s), not for
// deciding anything.
type FlopCounter interface {
	Flops(in []tensor.Shape) float64
}

// TransposeFuser is implemented by ops that read an input transposed
// without the transpose being formed: DoTransposed(trans, v...) is Do(v...)
// with each v[i] for which trans[i] holds replaced by v[i]ᵀ. The evaluator
// (graph.Program) feeds such an op the input of a TransposeOp node
// directly, so the transpose becomes a flag of the matrix product.
type TransposeFuser interface {
	DoTransposed(trans []bool, v ...G.Value) (G.Value, error)
}

// RowWiser is an op that can say whether it preserves row separability
// (method.md §9). Rows are samples: a matrix "depends on the block row by
// row" when its row i depends only on sample i's row of the block's
// pre-activation; a scalar does when it is a sum over samples of terms
// each depending on one sample's row. RowWise reports whether the output
// depends on the block row by row when the inputs flagged in marked do
// (and the others do not depend on the block at all).
//
// Examples: A·B is row-wise when only A is marked; elementwise ops are;
// a sum of two marked scalars is, their product is not; a transpose is not.
type RowWiser interface {
	RowWise(in []*G.Node, marked []bool) bool
}

// IsPiecewiseConstant reports whether op declares itself piecewise constant.
func IsPiecewiseConstant(op G.Op) bool {
	p, ok := op.(PiecewiseConstanter)
	return ok && p.PiecewiseConstant()
}

func noInverse(op fmt.Stringer, wrt int, format string, args ...any) error {
	return &errs.NoInverseError{Op: op.String(), Input: wrt, Reason: fmt.Sprintf(format, args...)}
}

// Apply is gorgonia.ApplyOp with panics turned into errors.
func Apply(op G.Op, in ...*G.Node) (n *G.Node, err error) {
	for i, x := range in {
		if x == nil {
			return nil, &errs.ShapeError{What: fmt.Sprintf("ops: %v", op), Reason: fmt.Sprintf("input %d is nil", i)}
		}
	}
	if len(in) > 0 {
		gorgoniax.PrimeNextID(in[0].Graph()) // so that Gorgonia finds the new node without a scan
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, &errs.ShapeError{What: fmt.Sprintf("ops: applying %v", op), Reason: fmt.Sprint(r)}
		}
	}()
	return G.ApplyOp(op, in...)
}

// Builder applies ops one after another and keeps the first error (Err),
// so that a rule reads as its formula. After an error every call returns
// nil.
type Builder struct{ Err error }

// Apply is Apply, unless an earlier call failed.
func (b *Builder) Apply(op G.Op, in ...*G.Node) *G.Node {
	if b.Err != nil {
		return nil
	}
	n, err := Apply(op, in...)
	if err != nil {
		b.Err = err
	}
	return n
}

// The graph-building helpers a rule is written with: each applies one op
// of this package, so that the rule's nodes have rules of their own (a
// pass built from them can be differentiated again). MatMul, T, Mul, Div,
// ScalarMul and Inner take non-nil nodes (a nil input is an error, kept in
// Err); Scale, Add and Sub read nil as a zero tangent or adjoint and skip
// the op.

// MatMul returns the matrix product x·y (MatMulOp).
func (b *Builder) MatMul(x, y *G.Node) *G.Node { return b.Apply(MatMulOp{}, x, y) }

// T returns the transpose xᵀ (TransposeOp).
func (b *Builder) T(x *G.Node) *G.Node { return b.Apply(TransposeOp{}, x) }

// Mul returns the elementwise product x ⊙ y (MulOp).
func (b *Builder) Mul(x, y *G.Node) *G.Node { return b.Apply(MulOp{}, x, y) }

// Div returns the elementwise quotient x ⊘ y (DivOp).
func (b *Builder) Div(x, y *G.Node) *G.Node { return b.Apply(DivOp{}, x, y) }

// ScalarMul returns s·x for a scalar node s (ScalarMulOp).
func (b *Builder) ScalarMul(s, x *G.Node) *G.Node { return b.Apply(ScalarMulOp{}, s, x) }

// Inner returns the scalar ⟨x, y⟩ = Σ x ⊙ y (InnerOp).
func (b *Builder) Inner(x, y *G.Node) *G.Node { return b.Apply(InnerOp{}, x, y) }

// Scale returns c·x (ScaleOp): x itself when c is 1, nil when x is nil.
func (b *Builder) Scale(c float64, x *G.Node) *G.Node {
	if x == nil {
		return nil
	}
	if c == 1 {
		return x
	}
	return b.Apply(ScaleOp{C: c}, x)
}

// Add returns x + y (AddOp), where nil means zero.
func (b *Builder) Add(x, y *G.Node) *G.Node {
	switch {
	case x == nil:
		return y
	case y == nil:
		return x
	}
	return b.Apply(AddOp{}, x, y)
}

// Sub returns x − y (SubOp), where nil means zero (−y is Scale(−1, y)).
func (b *Builder) Sub(x, y *G.Node) *G.Node {
	switch {
	case y == nil:
		return x
	case x == nil:
		return b.Scale(-1, y)
	}
	return b.Apply(SubOp{}, x, y)
}

// Bilinear is the rule table of an op bilinear in its two inputs,
// y = f(a, c) (JAX's defbilinear): written once, it gives both rules,
//
//	JVP:       ẏ = f(ȧ, c) + f(a, ċ)          (the product rule; nil tangents skipped)
//	backward:  ā = AdjA(ȳ, c),  c̄ = AdjC(a, ȳ)
//
// where AdjA is the adjoint of the linear map a ↦ f(a, c) and AdjC that
// of c ↦ f(a, c). For the matrix product, f = MatMul, AdjA(ȳ, c) = ȳ cᵀ,
// AdjC(a, ȳ) = aᵀ ȳ. Its JVP and VJP methods are those of JVPer and VJPer,
// so an op's rules are one line each:
//
//	func (MatMulOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) { return matMulRule.JVP(in, out, tan) }
type Bilinear struct {
	F    func(b *Builder, a, c *G.Node) *G.Node   // the op itself
	AdjA func(b *Builder, adj, c *G.Node) *G.Node // ā from ȳ and the second input
	AdjC func(b *Builder, a, adj *G.Node) *G.Node // c̄ from the first input and ȳ
}

// JVP is the product rule.
func (r Bilinear) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	var y *G.Node
	if tan[0] != nil {
		y = r.F(&b, tan[0], in[1])
	}
	if tan[1] != nil {
		y = b.Add(y, r.F(&b, in[0], tan[1]))
	}
	return y, b.Err
}

// VJP applies the two adjoints, for the inputs needed.
func (r Bilinear) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = r.AdjA(&b, adj, in[1])
	}
	if need(needs, 1) {
		g[1] = r.AdjC(&b, in[0], adj)
	}
	return g, b.Err
}

// need returns whether the i-th flag is set (a nil slice needs everything).
func need(flags []bool, i int) bool { return flags == nil || (i < len(flags) && flags[i]) }

// InverseKind says how much of its input an op's inverse recovers, for
// the forward map x ↦ op(…, x, …) with the other inputs fixed.
type InverseKind int

const (
	// Bijective: the map is invertible; the inverse is exact.
	Bijective InverseKind = iota
	// LeftInverse: the map is injective, not surjective (a tall factor):
	// the inverse recovers x from any output in its range.
	LeftInverse
	// MinNorm: the map is surjective, not injective (a wide factor): the
	// inverse returns the minimum-norm preimage.
	MinNorm
	// Lossy: neither; the inverse is a least-squares guess.
	Lossy
)

func (k InverseKind) String() string {
	switch k {
	case Bijective:
		return "bijective"
	case LeftInverse:
		return "left inverse (injective)"
	case MinNorm:
		return "minimum-norm (not injective)"
	}
	return "lossy"
}

// InverseKinder is an Inverter that can say, from the shapes of its
// operands, which InverseKind its inverse with respect to wrt is, and why.
// An Inverter that does not implement it is taken to be Bijective.
type InverseKinder interface {
	InverseKind(wrt int, in []*G.Node, out *G.Node) (InverseKind, string)
}

// MatrixCondition describes a matrix an op factorises.
type MatrixCondition struct {
	Rows, Cols int
	Rank       int     // numerical rank
	Cond       float64 // condition number estimate (on the range, for SVD-based ops)
	Method     string  // "LU (1-norm estimate)" or "SVD (2-norm)"
	// Samples, when > 0, is the number of per-sample Rows×Cols matrices
	// summarised (RowSolveOp): Rank is then the smallest rank among them
	// and Cond the largest condition number.
	Samples int
}

// Conditioner is an op that factorises one of its inputs and can report
// that matrix's rank and condition from the input values.
type Conditioner interface {
	Condition(in []G.Value) (MatrixCondition, error)
}
