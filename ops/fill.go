package ops

import (
	"fmt"
	"hash"

	G "gorgonia.org/gorgonia"
)

// FillOp is Y = C everywhere, shaped like its input: ZerosLike is the real
// zero that stands for a tangent or adjoint that is identically zero (a
// loss linear in a weight has a zero Hessian block), OnesLike the ones a
// sum's backward rule broadcasts its adjoint over.
//
//	backward:  X̄ = 0 (no adjoint flows)
//	JVP:       Ẏ = 0
//	inverse:   none (every input maps to C)
type FillOp struct {
	Unary
	C float64
}

var _ interface {
	G.Op
	VJPer
	JVPer
	PiecewiseConstanter
	RowWiser
} = FillOp{}

// ZerosLike returns the node 0 shaped like x.
func ZerosLike(x *G.Node) (*G.Node, error) { return Apply(FillOp{C: 0}, x) }

// OnesLike returns the node 1 shaped like x.
func OnesLike(x *G.Node) (*G.Node, error) { return Apply(FillOp{C: 1}, x) }

func (o FillOp) String() string        { return fmt.Sprintf("fill(%g)", o.C) }
func (o FillOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o FillOp) Hashcode() uint32      { return Hashcode(o) }

// PiecewiseConstant: the output never changes, so tangents are zero and
// the inverse pass treats it as a constant.
func (FillOp) PiecewiseConstant() bool { return true }

// RowWise: a constant depends on nothing.
func (FillOp) RowWise([]*G.Node, []bool) bool { return true }

func (o FillOp) Do(v ...G.Value) (G.Value, error) {
	_, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	out := make([]float64, max(s.TotalSize(), 1))
	for i := range out {
		out[i] = o.C
	}
	return newValue(s, out), nil
}

func (FillOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{nil}, nil
}

func (FillOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) { return nil, nil }
