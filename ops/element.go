package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ElementOp is the scalar y = X[Row, Col] of a matrix: one element picked
// out of one sample's row (a loss picked from a row of log-probabilities,
// Gorgonia's G.Slice(x, S(i), S(j))). Its adjoint puts ȳ back at
// (Row, Col) among zeros.
//
//	backward:  X̄ = ȳ·e_Row e_Colᵀ
//	JVP:       ẏ = Ẋ[Row, Col]
//	inverse:   none (the other elements are lost)
//
// Row-wise: the scalar is a term of one sample's row.
type ElementOp struct {
	Unary
	Row, Col int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = ElementOp{}

func (o ElementOp) String() string        { return fmt.Sprintf("element[%d,%d]", o.Row, o.Col) }
func (o ElementOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ElementOp) Hashcode() uint32      { return Hashcode(o) }
func (o ElementOp) Type() hm.Type         { return toScalar(1) }

func (o ElementOp) fits(s tensor.Shape) bool {
	return len(s) == 2 && o.Row >= 0 && o.Row < s[0] && o.Col >= 0 && o.Col < s[1]
}

func (o ElementOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if !o.fits(s[0]) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("outside shape %v", s[0])}
	}
	return tensor.ScalarShape(), nil
}

func (o ElementOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ElementOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if !o.fits(s) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("outside shape %v", s)}
	}
	return G.NewF64(x[o.Row*s[1]+o.Col]), nil
}

func (o ElementOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	s := in[0].Shape()
	one := b.Apply(FillOp{C: 1}, b.Apply(SliceOp{Axis: 1, From: o.Col, To: o.Col + 1}, b.Apply(SliceOp{Axis: 0, From: o.Row, To: o.Row + 1}, in[0])))
	hot := b.Apply(PadOp{Axis: 0, Before: o.Row, After: s[0] - o.Row - 1}, b.Apply(PadOp{Axis: 1, Before: o.Col, After: s[1] - o.Col - 1}, one))
	return []*G.Node{b.ScalarMul(adj, hot)}, b.Err
}

func (o ElementOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: the element is a term of sample Row's row alone.
func (ElementOp) RowWise(in []*G.Node, marked []bool) bool { return true }
