package ops

import (
	"fmt"
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScaleOp multiplies by a constant: Y = C·A.
//
//	backward:  Ā = C·Ȳ
//	JVP:       Ẏ = C·Ȧ
//	inverse:   A = Y / C  (C ≠ 0)
type ScaleOp struct {
	Unary
	C float64
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = ScaleOp{}

// Scale returns the node c·a.
func Scale(c float64, a *G.Node) (*G.Node, error) { return Apply(ScaleOp{C: c}, a) }

func (o ScaleOp) String() string                                    { return fmt.Sprintf("%v·A", o.C) }
func (o ScaleOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o ScaleOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o ScaleOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 1, in) }

func (o ScaleOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ScaleOp) do(v ...G.Value) (G.Value, error) {
	return scaled(v[0], o.C, false)
}

func (o ScaleOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Scale(o.C, adj)}, b.Err
}

func (o ScaleOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	return b.Scale(o.C, tan[0]), b.Err
}

func (o ScaleOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	if o.C == 0 {
		return nil, noInverse(o, wrt, "scaling by zero is not injective")
	}
	var b Builder
	return b.Scale(1/o.C, out), b.Err
}

func (ScaleOp) InverseCondition(int) string { return "C ≠ 0" }

// RowWise: a constant multiple.
func (ScaleOp) RowWise(in []*G.Node, marked []bool) bool { return true }
