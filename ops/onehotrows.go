package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// OneHotRowsOp is the constant seed of Copies JVPs stacked (method.md §9):
// from X (B × anything: only its rows are read) the (Copies·B) × N matrix
// whose rows t·B … (t+1)·B − 1 are e_{From+t}ᵀ — the directions 1e_jᵀ,
// j = From … From+Copies−1, one under the other. Copies = 1 is the seed
// 1e_Fromᵀ of one column of the M_i.
//
//	backward:  X̄ = 0 (no adjoint flows)
//	JVP:       Ẏ = 0
//	inverse:   none (X's values are not read)
type OneHotRowsOp struct {
	Unary
	N, From, Copies int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	PiecewiseConstanter
} = OneHotRowsOp{}

func (o OneHotRowsOp) String() string {
	return fmt.Sprintf("onehotrows(%d, %d:%d)", o.N, o.From, o.From+o.Copies)
}
func (o OneHotRowsOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o OneHotRowsOp) Hashcode() uint32      { return Hashcode(o) }

// PiecewiseConstant: the output never changes.
func (OneHotRowsOp) PiecewiseConstant() bool { return true }

func (o OneHotRowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if o.Copies < 1 || o.From < 0 || o.From+o.Copies > o.N {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("columns %d … %d of %d: want 0 ≤ From, 1 ≤ Copies, From + Copies ≤ N", o.From, o.From+o.Copies-1, o.N)}
	}
	return tensor.Shape{o.Copies * s[0][0], o.N}, nil
}

func (o OneHotRowsOp) Do(v ...G.Value) (G.Value, error) {
	_, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, want a matrix", s)}
	}
	b := s[0]
	out := alloc(o.Copies * b * o.N)
	clear(out)
	for t := range o.Copies {
		for i := range b {
			out[(t*b+i)*o.N+o.From+t] = 1
		}
	}
	return newValue(tensor.Shape{o.Copies * b, o.N}, out), nil
}

func (OneHotRowsOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{nil}, nil
}

func (OneHotRowsOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return nil, nil
}
