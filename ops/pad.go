package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PadOp puts Before zero rows (Axis 0) or columns (Axis 1) before a
// matrix and After zero ones after it. Its adjoint is SliceOp.
//
//	backward:  X̄ = slice(Ȳ)
//	JVP:       Ẏ = pad(Ẋ)
//	inverse:   X = slice(Y): a left inverse, exact on padded matrices
type PadOp struct {
	Unary
	Axis, Before, After int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	InverseKinder
	RowWiser
} = PadOp{}

func (o PadOp) String() string        { return fmt.Sprintf("pad%d[%d,%d]", o.Axis, o.Before, o.After) }
func (o PadOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PadOp) Hashcode() uint32      { return Hashcode(o) }

func (o PadOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if o.Axis < 0 || o.Axis > 1 || o.Before < 0 || o.After < 0 {
		return nil, &errs.ShapeError{What: o.String(), Reason: "axis 0 or 1 and non-negative padding wanted"}
	}
	out := s[0].Clone()
	out[o.Axis] += o.Before + o.After
	return out, nil
}

func (o PadOp) Do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 || o.Axis < 0 || o.Axis > 1 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shape %v", s)}
	}
	r, c := s[0], s[1]
	if o.Axis == 0 {
		out := make([]float64, (r+o.Before+o.After)*c)
		copy(out[o.Before*c:], x)
		return newValue(tensor.Shape{r + o.Before + o.After, c}, out), nil
	}
	w := c + o.Before + o.After
	out := alloc(r * w) // a recycled buffer (the per-sample route pads n seeds a run)
	clear(out)
	for i := 0; i < r; i++ {
		copy(out[i*w+o.Before:], x[i*c:(i+1)*c])
	}
	return newValue(tensor.Shape{r, w}, out), nil
}

func (o PadOp) slice(x *G.Node) SliceOp {
	n := x.Shape()[o.Axis]
	return SliceOp{Axis: o.Axis, From: o.Before, To: o.Before + n}
}

func (o PadOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(o.slice(in[0]), adj)}, b.Err
}

func (o PadOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

func (o PadOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	n := out.Shape()[o.Axis] - o.Before - o.After
	var b Builder
	return b.Apply(SliceOp{Axis: o.Axis, From: o.Before, To: o.Before + n}, out), b.Err
}

func (PadOp) InverseCondition(int) string { return "the padding is zero" }

func (PadOp) InverseKind(int, []*G.Node, *G.Node) (InverseKind, string) {
	return LeftInverse, "dropping the zero padding"
}

// RowWise: padding columns keeps each row to itself.
func (o PadOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis == 1 }
