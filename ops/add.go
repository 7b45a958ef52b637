package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// AddOp is the elementwise sum Y = A + B of two values of one shape.
//
//	backward:  Ā = Ȳ,  B̄ = Ȳ
//	JVP:       Ẏ = Ȧ + Ḃ
//	inverse:   A = Y − B,  B = Y − A  (always)
type AddOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = AddOp{}

// Add returns the node a + b.
func Add(a, b *G.Node) (*G.Node, error) { return Apply(AddOp{}, a, b) }

func (AddOp) String() string                                      { return "A+B" }
func (o AddOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o AddOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o AddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 2, in) }

func (o AddOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (AddOp) do(v ...G.Value) (G.Value, error) {
	return zipFast(v[0], v[1], func(out, x, y []float64) {
		for i := range out {
			out[i] = x[i] + y[i]
		}
	})
}

func (AddOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{adj, adj}, nil
}

func (AddOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	return b.Add(tan[0], tan[1]), b.Err
}

func (AddOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Sub(out, in[1-wrt]), b.Err
}

func (AddOp) InverseCondition(int) string { return "always" }

// RowWise: elementwise, and for scalars a sum of sums over samples.
func (AddOp) RowWise(in []*G.Node, marked []bool) bool { return true }
