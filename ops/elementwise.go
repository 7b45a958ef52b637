package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScalarFunc is a scalar function known by its derivatives: the table of
// rules from which ElementwiseOp derives every rule of an activation.
type ScalarFunc interface {
	// String names the function and all its parameters (it is hashed).
	String() string
	// Deriv returns the order-th derivative at x (order 0 is the value);
	// ok is false when that derivative is not provided.
	Deriv(order int, x float64) (d float64, ok bool)
}

// InvertibleFunc is a ScalarFunc with a functional inverse.
type InvertibleFunc interface {
	ScalarFunc
	// Inverse returns f⁻¹, or an error saying why f is not injective.
	Inverse() (ScalarFunc, error)
	// InverseCondition states where f⁻¹ is defined.
	InverseCondition() string
}

// BranchInvertibleFunc is a ScalarFunc whose derivatives f⁽ᵏ⁾ are
// injective on each branch of x (e.g. each sign of x for x³): InverseAt
// builds, as graph nodes, x from y = f⁽ᵏ⁾(x) with the branch of at (the
// current x) frozen — the pattern inverse of method.md §3. It gives the
// inverse pass a way through the derivative of an activation, which the
// B-pass then differentiates like any other node.
type BranchInvertibleFunc interface {
	ScalarFunc
	InverseAt(order int, y, at *G.Node) (*G.Node, error)
	// InverseAtCondition states where the inverse of f⁽ᵏ⁾ is exact.
	InverseAtCondition(order int) string
}

// SliceFunc is an optional fast path of a ScalarFunc: DerivSlice writes
// the order-th derivative of every src element into dst and reports
// whether it could (false: use Deriv element by element).
type SliceFunc interface {
	DerivSlice(order int, dst, src []float64) bool
}

// PiecewiseLinearFunc is a ScalarFunc whose derivative is piecewise
// constant (f” = 0 almost everywhere).
type PiecewiseLinearFunc interface {
	ScalarFunc
	PiecewiseLinear() bool
}

// ElementwiseOp applies the Order-th derivative of F to each element:
// Y = F⁽ᵏ⁾(X). Order 0 is the activation itself; its backward and JVP rules
// use the node F⁽ᵏ⁺¹⁾(X), so second-order passes need F⁽ᵏ⁺²⁾, and so on.
//
//	backward:  X̄ = Ȳ ⊙ F⁽ᵏ⁺¹⁾(X)
//	JVP:       Ẏ = Ẋ ⊙ F⁽ᵏ⁺¹⁾(X)
//	inverse:   X = (F⁻¹)(Y)  (order 0, F an InvertibleFunc), or, for a
//	           piecewise-linear F, X = Y ⊘ F'(X₀) with the pattern of the
//	           current input X₀ frozen (InverseAt)
//
// For a piecewise-linear F every derivative op (k ≥ 1) is piecewise
// constant: its tangent is zero and the inverse pass freezes it.
type ElementwiseOp struct {
	Unary
	F     ScalarFunc
	Order int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	PatternInverter
	PiecewiseConstanter
	RowWiser
} = ElementwiseOp{}

// Map returns the node f(x), applied elementwise.
func Map(f ScalarFunc, x *G.Node) (*G.Node, error) { return Apply(ElementwiseOp{F: f}, x) }

func (o ElementwiseOp) String() string {
	if o.Order == 0 {
		return o.F.String()
	}
	return fmt.Sprintf("%s⁽%d⁾", o.F, o.Order)
}
func (o ElementwiseOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ElementwiseOp) Hashcode() uint32      { return Hashcode(o) }
func (o ElementwiseOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return EqualShapes(o, 1, in)
}

func (o ElementwiseOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ElementwiseOp) do(v ...G.Value) (G.Value, error) {
	if f, ok := o.F.(SliceFunc); ok {
		x, s, err := floats(v[0])
		if err != nil {
			return nil, err
		}
		out := alloc(len(x))
		if f.DerivSlice(o.Order, out, x) {
			return newValue(s, out), nil // non-finite results are caught by Do
		}
		release(out)
	}
	return mapValue(v[0], func(x float64) (float64, error) {
		d, ok := o.F.Deriv(o.Order, x)
		if !ok {
			return 0, &errs.NoRuleError{Op: o, Rule: fmt.Sprintf("derivative of order %d", o.Order)}
		}
		if !finite(d) && finite(x) {
			return 0, &errs.NotFiniteError{What: fmt.Sprintf("%v at x = %g", o, x), Index: -1, Value: d}
		}
		return d, nil
	})
}

// PiecewiseConstant reports whether the output is locally constant: a
// derivative of a piecewise-linear function.
func (o ElementwiseOp) PiecewiseConstant() bool {
	p, ok := o.F.(PiecewiseLinearFunc)
	return o.Order >= 1 && ok && p.PiecewiseLinear()
}

func (o ElementwiseOp) derivative(x *G.Node, b *Builder) *G.Node {
	return b.Apply(ElementwiseOp{F: o.F, Order: o.Order + 1}, x)
}

func (o ElementwiseOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	if o.PiecewiseConstant() {
		return []*G.Node{nil}, nil
	}
	var b Builder
	return []*G.Node{b.Mul(adj, o.derivative(in[0], &b))}, b.Err
}

func (o ElementwiseOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil || o.PiecewiseConstant() {
		return nil, nil
	}
	var b Builder
	return b.Mul(tan[0], o.derivative(in[0], &b)), b.Err
}

func (o ElementwiseOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	if _, ok := o.F.(BranchInvertibleFunc); ok {
		return nil, noInverse(o, wrt, "%v is inverted on the branch of the current point only (InverseAt)", o.F)
	}
	if o.Order != 0 {
		return nil, noInverse(o, wrt, "a derivative of an activation is not inverted")
	}
	f, ok := o.F.(InvertibleFunc)
	if !ok {
		return nil, noInverse(o, wrt, "%v is not injective (no InvertibleFunc rule)", o.F)
	}
	inv, err := f.Inverse()
	if err != nil {
		return nil, noInverse(o, wrt, "%v", err)
	}
	var b Builder
	return b.Apply(ElementwiseOp{F: inv}, out), b.Err
}

// InverseAt, for a piecewise-linear F with F(0) = 0 (so F(x) = F'(x)·x),
// is X = Y ⊘ F'(X₀) with the derivative taken at the current input X₀: the
// inverse with the activation pattern frozen. A BranchInvertibleFunc
// inverts any of its derivatives on the branch of X₀. Other functions use
// Inverse.
func (o ElementwiseOp) InverseAt(wrt int, in []*G.Node, out, at *G.Node) (*G.Node, error) {
	if f, ok := o.F.(BranchInvertibleFunc); ok {
		x, err := f.InverseAt(o.Order, out, at)
		if err != nil {
			return nil, noInverse(o, wrt, "%v", err)
		}
		return x, nil
	}
	p, ok := o.F.(PiecewiseLinearFunc)
	if f0, _ := o.F.Deriv(0, 0); !ok || !p.PiecewiseLinear() || f0 != 0 || o.Order != 0 {
		return o.Inverse(wrt, in, out)
	}
	if _, err := o.Inverse(wrt, in, out); err != nil { // not injective: refuse alike
		return nil, err
	}
	var b Builder
	return b.Div(out, o.derivative(at, &b)), b.Err
}

func (o ElementwiseOp) InverseCondition(int) string {
	if f, ok := o.F.(BranchInvertibleFunc); ok {
		return f.InverseAtCondition(o.Order)
	}
	if f, ok := o.F.(InvertibleFunc); ok && o.Order == 0 {
		return f.InverseCondition()
	}
	return "none"
}

// RowWise: elementwise.
func (ElementwiseOp) RowWise(in []*G.Node, marked []bool) bool { return true }
