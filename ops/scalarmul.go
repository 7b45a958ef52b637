package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScalarMulOp multiplies a value by a scalar node: Y = s·X, or Y = X / s
// when Divide is set (s = 0 is then an error). Its main use is the
// backward rule of a scalar loss, where s is the loss's adjoint.
//
//	backward:  X̄ = s·Ȳ            s̄ = ⟨Ȳ, X⟩
//	           X̄ = Ȳ / s  (Divide) s̄ = −⟨Ȳ, Y⟩ / s
//	JVP:       Ẏ = ṡ·X + s·Ẋ       Ẏ = (Ẋ − ṡ·Y) / s  (Divide)
//	inverse:   X = Y / s  (s ≠ 0),  X = s·Y  (Divide); none for s
//
// For a constant s = 1 (the loss's seed), the inverse and the JVP along X
// are X and Ẋ themselves: no op is added.
type ScalarMulOp struct {
	Binary
	Divide bool
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = ScalarMulOp{}

// ScalarMul returns the node s·x (s a scalar node).
func ScalarMul(s, x *G.Node) (*G.Node, error) { return Apply(ScalarMulOp{}, s, x) }

func (o ScalarMulOp) String() string {
	if o.Divide {
		return "X/s"
	}
	return "s·X"
}
func (ScalarMulOp) Type() hm.Type                      { return hm.NewFnType(tensor.Float64, tvA, tvA) }
func (o ScalarMulOp) WriteHash(h hash.Hash)            { WriteHash(h, o) }
func (o ScalarMulOp) Hashcode() uint32                 { return Hashcode(o) }
func (o ScalarMulOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ScalarMulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	if !s[0].IsScalar() {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("s has shape %v, want a scalar", s[0])}
	}
	return s[1].Clone(), nil
}

func (o ScalarMulOp) do(v ...G.Value) (G.Value, error) {
	s, err := scalar(v[0])
	if err != nil {
		return nil, err
	}
	if o.Divide {
		if s == 0 {
			return nil, &errs.NotFiniteError{What: o.String() + ": division by zero", Index: -1}
		}
		return scaled(v[1], s, true)
	}
	return scaled(v[1], s, false)
}

// scaled returns s·x, or x/s, in one loop the compiler keeps tight:
// mapValue's call a value made s·X 22% of the per-sample route's run
// (issue 24).
func scaled(v G.Value, s float64, divide bool) (G.Value, error) {
	x, sh, err := floats(v)
	if err != nil {
		return nil, err
	}
	out := alloc(len(x))
	if divide {
		for i, xi := range x {
			out[i] = xi / s
		}
	} else {
		for i, xi := range x {
			out[i] = s * xi
		}
	}
	return newValue(sh, out), nil
}

// scalarMulRule (s·X, bilinear): Ẏ = ṡ·X + s·Ẋ;  s̄ = ⟨Ȳ, X⟩,  X̄ = s·Ȳ.
var scalarMulRule = Bilinear{
	F:    (*Builder).ScalarMul,
	AdjA: (*Builder).Inner,
	AdjC: (*Builder).ScalarMul,
}

func (o ScalarMulOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	if !o.Divide {
		return scalarMulRule.VJP(in, out, adj, needs)
	}
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = b.Scale(-1, b.Div(b.Inner(adj, out), in[0]))
	}
	if need(needs, 1) {
		g[1] = b.Apply(o, in[0], adj)
	}
	return g, b.Err
}

func (o ScalarMulOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	ds, dx := tan[0], tan[1]
	if ds == nil && isOne(in[0]) { // 1·Ẋ = Ẋ / 1 = Ẋ, bit for bit
		return dx, nil
	}
	if !o.Divide {
		return scalarMulRule.JVP(in, out, tan)
	}
	if ds == nil && dx == nil {
		return nil, nil
	}
	var b Builder
	var sy *G.Node
	if ds != nil {
		sy = b.ScalarMul(ds, out)
	}
	return b.Apply(o, in[0], b.Sub(dx, sy)), b.Err
}

func (o ScalarMulOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	if wrt != 1 {
		return nil, noInverse(o, wrt, "a scalar factor is not determined by a tensor product (it would need a least-squares fit)")
	}
	if isOne(in[0]) { // 1·X = X / 1 = X, bit for bit (NaNs too): no op
		return out, nil
	}
	var b Builder
	return b.Apply(ScalarMulOp{Divide: !o.Divide}, in[0], out), b.Err
}

// isOne reports whether n is a constant scalar equal to 1 (the loss's seed
// ∂J/∂J of graph.Gradient): multiplying or dividing by it is the identity
// exactly, in every rounding.
func isOne(n *G.Node) bool {
	c, ok := n.Op().(interface{ Value() G.Value })
	if !ok || n.Op().Arity() != 0 {
		return false
	}
	s, err := scalar(c.Value())
	return err == nil && s == 1
}

func (o ScalarMulOp) InverseCondition(wrt int) string {
	if wrt != 1 {
		return "none"
	}
	return "s ≠ 0"
}

// RowWise: s·X is row-wise in X for a constant s (a scalar depending on the
// block mixes every sample into every row).
func (ScalarMulOp) RowWise(in []*G.Node, marked []bool) bool { return !marked[0] }
