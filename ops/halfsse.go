package ops

import (
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// HalfSSEOp is the half squared-error loss J = ½‖H − Y‖²_F, a scalar.
//
//	backward:  H̄ = J̄·(H − Y),  Ȳ = J̄·(Y − H)
//	JVP:       J̇ = ⟨H − Y, Ḣ − Ẏ⟩
//	inverse:   none (a scalar does not determine a matrix). The inverse
//	           pass never needs one: it inverts the backward rule's nodes,
//	           H − Y and J̄·(H − Y), which are invertible.
type HalfSSEOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = HalfSSEOp{}

// HalfSSE returns the scalar node ½‖h − y‖².
func HalfSSE(h, y *G.Node) (*G.Node, error) { return Apply(HalfSSEOp{}, h, y) }

func (HalfSSEOp) String() string                                      { return "½‖H−Y‖²" }
func (HalfSSEOp) Type() hm.Type                                       { return toScalar(2) }
func (o HalfSSEOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o HalfSSEOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o HalfSSEOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return toScalarShape(o, 2, in) }
func (o HalfSSEOp) Do(v ...G.Value) (G.Value, error)                  { return Checked(o, o.do, v) }

func (HalfSSEOp) do(v ...G.Value) (G.Value, error) {
	x, y, _, err := pair(v[0], v[1])
	if err != nil {
		return nil, err
	}
	var s float64
	for i := range x {
		d := x[i] - y[i]
		s += d * d
	}
	return G.NewF64(s / 2), nil
}

func (HalfSSEOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = b.ScalarMul(adj, b.Sub(in[0], in[1]))
	}
	if need(needs, 1) {
		g[1] = b.ScalarMul(adj, b.Sub(in[1], in[0]))
	}
	return g, b.Err
}

func (HalfSSEOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	d := tan[0]
	var b Builder
	d = b.Sub(d, tan[1])
	if d == nil {
		return nil, nil
	}
	return b.Inner(b.Sub(in[0], in[1]), d), b.Err
}

// RowWise: ½‖H − Y‖² = Σ_i ½‖h_i − y_i‖² is a sum over samples.
func (HalfSSEOp) RowWise(in []*G.Node, marked []bool) bool { return true }
