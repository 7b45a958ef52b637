package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SpreadOp puts the k rows (Axis 0) or columns (Axis 1) of a matrix at
// positions From, From+Step, …, From+(k−1)·Step of a matrix with N of
// them, the others zero: the adjoint of a strided SliceOp (PadOp is that
// of a contiguous one).
//
//	backward:  X̄ = slice(Ȳ) (the same positions)
//	JVP:       Ẏ = spread(Ẋ)
//	inverse:   none here (the input's count is not in the output's shape)
type SpreadOp struct {
	Unary
	Axis, From, Step, N int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SpreadOp{}

func (o SpreadOp) String() string {
	return fmt.Sprintf("spread%d[%d::%d→%d]", o.Axis, o.From, o.Step, o.N)
}
func (o SpreadOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SpreadOp) Hashcode() uint32      { return Hashcode(o) }

// fits reports whether a matrix of shape s can be spread.
func (o SpreadOp) fits(s tensor.Shape) bool {
	return len(s) == 2 && o.Axis >= 0 && o.Axis <= 1 && o.From >= 0 && o.Step >= 1 && s[o.Axis] >= 1 &&
		o.From+(s[o.Axis]-1)*o.Step < o.N
}

// slice is the SliceOp reading back the positions spread from k rows or columns.
func (o SpreadOp) slice(k int) SliceOp {
	return SliceOp{Axis: o.Axis, From: o.From, To: o.From + (k-1)*o.Step + 1, Step: o.Step}
}

func (o SpreadOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if !o.fits(s[0]) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s[0])}
	}
	out := s[0].Clone()
	out[o.Axis] = o.N
	return out, nil
}

func (o SpreadOp) Do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if !o.fits(s) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s)}
	}
	r, c := s[0], s[1]
	if o.Axis == 0 {
		out := make([]float64, o.N*c)
		for j := 0; j < r; j++ {
			i := o.From + j*o.Step
			copy(out[i*c:(i+1)*c], x[j*c:(j+1)*c])
		}
		return newValue(tensor.Shape{o.N, c}, out), nil
	}
	out := make([]float64, r*o.N)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[i*o.N+o.From+j*o.Step] = x[i*c+j]
		}
	}
	return newValue(tensor.Shape{r, o.N}, out), nil
}

func (o SpreadOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(o.slice(in[0].Shape()[o.Axis]), adj)}, b.Err
}

func (o SpreadOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: spreading columns keeps each row to itself.
func (o SpreadOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis == 1 }
