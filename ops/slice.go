package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SliceOp keeps rows (Axis 0) or columns (Axis 1) From ≤ i < To of a
// matrix. Its adjoint is PadOp, which puts them back among zeros.
//
//	backward:  X̄ = pad(Ȳ)
//	JVP:       Ẏ = slice(Ẋ)
//	inverse:   none (what is dropped is lost)
type SliceOp struct {
	Unary
	Axis, From, To int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SliceOp{}

func (o SliceOp) String() string        { return fmt.Sprintf("slice%d[%d:%d]", o.Axis, o.From, o.To) }
func (o SliceOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SliceOp) Hashcode() uint32      { return Hashcode(o) }

func (o SliceOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	out := s[0].Clone()
	if o.Axis < 0 || o.Axis > 1 || o.From < 0 || o.To > out[o.Axis] || o.From >= o.To {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s[0])}
	}
	out[o.Axis] = o.To - o.From
	return out, nil
}

func (o SliceOp) Do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 || o.Axis < 0 || o.Axis > 1 || o.To > s[o.Axis] || o.From < 0 || o.From >= o.To {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s)}
	}
	r, c := s[0], s[1]
	if o.Axis == 0 {
		return newValue(tensor.Shape{o.To - o.From, c}, append([]float64(nil), x[o.From*c:o.To*c]...)), nil
	}
	w := o.To - o.From
	out := make([]float64, r*w)
	for i := 0; i < r; i++ {
		copy(out[i*w:(i+1)*w], x[i*c+o.From:i*c+o.To])
	}
	return newValue(tensor.Shape{r, w}, out), nil
}

func (o SliceOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	n := in[0].Shape()[o.Axis]
	return []*G.Node{b.Apply(PadOp{Axis: o.Axis, Before: o.From, After: n - o.To}, adj)}, b.Err
}

func (o SliceOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: a slice of columns keeps each row's own entries.
func (o SliceOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis == 1 }
