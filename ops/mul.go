package ops

import (
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MulOp is the elementwise (Hadamard) product Y = A ⊙ B.
//
//	backward:  Ā = Ȳ ⊙ B,  B̄ = Ȳ ⊙ A
//	JVP:       Ẏ = Ȧ ⊙ B + A ⊙ Ḃ
//	inverse:   A = Y ⊘ B,  B = Y ⊘ A  (the known factor has no zero entry;
//	           checked when the inverse runs)
type MulOp struct{ Pure }

// Mul returns the node a ⊙ b.
func Mul(a, b *G.Node) (*G.Node, error) { return Apply(MulOp{}, a, b) }

func (MulOp) String() string          { return "A⊙B" }
func (MulOp) Arity() int              { return 2 }
func (MulOp) Type() hm.Type           { return sameType(2) }
func (o MulOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o MulOp) Hashcode() uint32      { return Hashcode(o) }
func (o MulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return equalShapes(o, 2, in)
}

func (o MulOp) Do(v ...G.Value) (G.Value, error) {
	out, err := o.do(v...)
	return checked(o, out, err)
}

func (MulOp) do(v ...G.Value) (G.Value, error) {
	return zipFast(v[0], v[1], func(out, x, y []float64) {
		for i := range out {
			out[i] = x[i] * y[i]
		}
	})
}

func (MulOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = b.mul(adj, in[1])
	}
	if need(needs, 1) {
		g[1] = b.mul(adj, in[0])
	}
	return g, b.Err
}

func (MulOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	return b.bilinear(b.mul, in, tan), b.Err
}

func (MulOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.div(out, in[1-wrt]), b.Err
}

func (MulOp) InverseCondition(int) string { return "the other factor has no zero entry" }

// RowWise: elementwise on matrices; on scalars (sums over samples) only a
// product with a constant stays such a sum.
func (MulOp) RowWise(in []*G.Node, marked []bool) bool {
	return !in[0].Shape().IsScalar() || !(marked[0] && marked[1])
}
