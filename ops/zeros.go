package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
)

// ZerosLikeOp is Y = 0, shaped like its input: the real zero that stands
// for a tangent or adjoint that is identically zero (a loss linear in a
// weight has a zero Hessian block), so that a pass never has a missing
// node where a value is expected.
//
//	backward:  X̄ = 0 (no adjoint flows)
//	JVP:       Ẏ = 0
//	inverse:   none (every input maps to 0)
type ZerosLikeOp struct{ Unary }

// ZerosLike returns the node 0 shaped like x.
func ZerosLike(x *G.Node) (*G.Node, error) { return Apply(ZerosLikeOp{}, x) }

func (ZerosLikeOp) String() string          { return "0·X" }
func (o ZerosLikeOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ZerosLikeOp) Hashcode() uint32      { return Hashcode(o) }

// PiecewiseConstant: the output never changes, so tangents are zero and
// the inverse pass treats it as a constant.
func (ZerosLikeOp) PiecewiseConstant() bool { return true }

func (ZerosLikeOp) Do(v ...G.Value) (G.Value, error) {
	_, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	return newValue(s, make([]float64, max(s.TotalSize(), 1))), nil
}

func (ZerosLikeOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{nil}, nil
}

func (ZerosLikeOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return nil, nil
}
