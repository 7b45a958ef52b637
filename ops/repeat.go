package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// RepeatOp stacks N copies of a 1×n row: Y = 1 x (N×n), the broadcast of
// a row over the samples (Gorgonia's BroadcastAdd and its kin).
//
//	backward:  X̄ = 1ᵀ Ȳ (summed over the rows)
//	JVP:       Ẏ = 1 Ẋ
//	inverse:   none here (a layer's bias is translated to BiasAddOp, whose
//	           inverse the rewriter uses)
//
// Row-wise when x does not depend on the samples.
type RepeatOp struct {
	Unary
	N int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = RepeatOp{}

// Repeat returns the node of n copies of the row x.
func Repeat(x *G.Node, n int) (*G.Node, error) { return Apply(RepeatOp{N: n}, x) }

func (o RepeatOp) String() string        { return fmt.Sprintf("repeat%d", o.N) }
func (o RepeatOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o RepeatOp) Hashcode() uint32      { return Hashcode(o) }

func (o RepeatOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if s[0][0] != 1 || o.N < 1 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, %d copies: want a row and N ≥ 1", s[0], o.N)}
	}
	return tensor.Shape{o.N, s[0][1]}, nil
}

func (o RepeatOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o RepeatOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 || s[0] != 1 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, want a row", s)}
	}
	out := make([]float64, 0, o.N*len(x))
	for range o.N {
		out = append(out, x...)
	}
	return newValue(tensor.Shape{o.N, s[1]}, out), nil
}

func (o RepeatOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(SumOp{Axis: 0}, adj)}, b.Err
}

func (o RepeatOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: every row is x, shared by the samples.
func (RepeatOp) RowWise(in []*G.Node, marked []bool) bool { return !marked[0] }
