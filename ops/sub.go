package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SubOp is the elementwise difference Y = A − B of two values of one shape.
//
//	backward:  Ā = Ȳ,  B̄ = −Ȳ
//	JVP:       Ẏ = Ȧ − Ḃ
//	inverse:   A = Y + B,  B = A − Y  (always)
type SubOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = SubOp{}

// Sub returns the node a − b.
func Sub(a, b *G.Node) (*G.Node, error) { return Apply(SubOp{}, a, b) }

func (SubOp) String() string                                      { return "A−B" }
func (o SubOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o SubOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o SubOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 2, in) }

func (o SubOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (SubOp) do(v ...G.Value) (G.Value, error) {
	return zipFast(v[0], v[1], func(out, x, y []float64) {
		for i := range out {
			out[i] = x[i] - y[i]
		}
	})
}

func (SubOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := []*G.Node{adj, nil}
	if need(needs, 1) {
		g[1] = b.Scale(-1, adj)
	}
	return g, b.Err
}

func (SubOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	return b.Sub(tan[0], tan[1]), b.Err
}

func (SubOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	if wrt == 0 {
		return b.Add(out, in[1]), b.Err
	}
	return b.Sub(in[0], out), b.Err
}

func (SubOp) InverseCondition(int) string { return "always" }

// RowWise: elementwise, and for scalars a difference of sums over samples.
func (SubOp) RowWise(in []*G.Node, marked []bool) bool { return true }
