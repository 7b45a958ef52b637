package ops

import (
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// InnerOp is the Frobenius inner product y = ⟨A, B⟩ = Σ A⊙B, a scalar.
//
//	backward:  Ā = ȳ·B,  B̄ = ȳ·A
//	JVP:       ẏ = ⟨Ȧ, B⟩ + ⟨A, Ḃ⟩
//	inverse:   none (a scalar does not determine a matrix)
type InnerOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = InnerOp{}

// Inner returns the scalar node ⟨a, b⟩.
func Inner(a, b *G.Node) (*G.Node, error) { return Apply(InnerOp{}, a, b) }

func (InnerOp) String() string                                      { return "⟨A,B⟩" }
func (InnerOp) Type() hm.Type                                       { return toScalar(2) }
func (o InnerOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o InnerOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o InnerOp) Do(v ...G.Value) (G.Value, error)                  { return Checked(o, o.do, v) }
func (o InnerOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return toScalarShape(o, 2, in) }

func (InnerOp) do(v ...G.Value) (G.Value, error) {
	p, err := zip(v[0], v[1], func(x, y float64) (float64, error) { return x * y, nil })
	if err != nil {
		return nil, err
	}
	data, _, _ := floats(p)
	var s float64
	for _, x := range data {
		s += x
	}
	return G.NewF64(s), nil
}

// innerRule: ẏ = ⟨Ȧ, B⟩ + ⟨A, Ḃ⟩;  Ā = ȳ·B,  B̄ = ȳ·A.
var innerRule = Bilinear{
	F:    (*Builder).Inner,
	AdjA: (*Builder).ScalarMul,
	AdjC: func(b *Builder, x, adj *G.Node) *G.Node { return b.ScalarMul(adj, x) },
}

func (InnerOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return innerRule.VJP(in, out, adj, needs)
}

func (InnerOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return innerRule.JVP(in, out, tan)
}

// RowWise: ⟨A, B⟩ = Σ_i a_i·b_i is a sum over samples.
func (InnerOp) RowWise(in []*G.Node, marked []bool) bool { return true }
