package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// StopOp passes its input's value and stops derivatives: Y = X, with
//
//	backward:  X̄ = 0
//	JVP:       Ẏ = 0
//	inverse:   none
//
// It holds a quantity constant where a pass differentiates: the
// Gauss–Newton product J_zᵀ·stop(H_L J_z v) is the gradient of
// ⟨z, stop(H_L J_z v)⟩.
type StopOp struct{ Unary }

var _ interface {
	G.Op
	VJPer
	JVPer
	PiecewiseConstanter
	RowWiser
} = StopOp{}

// Stop returns the node x, with derivatives stopped.
func Stop(x *G.Node) (*G.Node, error) { return Apply(StopOp{}, x) }

func (StopOp) String() string                                      { return "stop" }
func (o StopOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o StopOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o StopOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 1, in) }

func (o StopOp) Do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	return newValue(s, append([]float64(nil), x...)), nil
}

func (StopOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{nil}, nil
}

func (StopOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) { return nil, nil }

// PiecewiseConstant: a stopped value is a constant of every pass.
func (StopOp) PiecewiseConstant() bool { return true }

// RowWise: the value passes unchanged.
func (StopOp) RowWise(in []*G.Node, marked []bool) bool { return true }
