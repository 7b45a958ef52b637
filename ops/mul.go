package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MulOp is the elementwise (Hadamard) product Y = A ⊙ B.
//
//	backward:  Ā = Ȳ ⊙ B,  B̄ = Ȳ ⊙ A
//	JVP:       Ẏ = Ȧ ⊙ B + A ⊙ Ḃ
//	inverse:   A = Y ⊘ B,  B = Y ⊘ A  (the known factor has no zero entry;
//	           checked when the inverse runs)
type MulOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = MulOp{}

// Mul returns the node a ⊙ b.
func Mul(a, b *G.Node) (*G.Node, error) { return Apply(MulOp{}, a, b) }

func (MulOp) String() string                                      { return "A⊙B" }
func (o MulOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o MulOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o MulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 2, in) }
func (o MulOp) Do(v ...G.Value) (G.Value, error)                  { return Checked(o, o.do, v) }

func (MulOp) do(v ...G.Value) (G.Value, error) {
	return zipFast(v[0], v[1], func(out, x, y []float64) {
		for i := range out {
			out[i] = x[i] * y[i]
		}
	})
}

// mulRule: Ẏ = Ȧ ⊙ B + A ⊙ Ḃ;  Ā = Ȳ ⊙ B,  B̄ = Ȳ ⊙ A.
var mulRule = Bilinear{
	F:    (*Builder).Mul,
	AdjA: (*Builder).Mul,
	AdjC: func(b *Builder, x, adj *G.Node) *G.Node { return b.Mul(adj, x) },
}

func (MulOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return mulRule.VJP(in, out, adj, needs)
}

func (MulOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return mulRule.JVP(in, out, tan)
}

func (MulOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Div(out, in[1-wrt]), b.Err
}

func (MulOp) InverseCondition(int) string { return "the other factor has no zero entry" }

// RowWise: elementwise on matrices; on scalars (sums over samples) only a
// product with a constant stays such a sum.
func (MulOp) RowWise(in []*G.Node, marked []bool) bool {
	return !in[0].Shape().IsScalar() || !(marked[0] && marked[1])
}
