package ops

import (
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SigmoidBCEOp is the fused sigmoid binary cross-entropy of logits Z and
// targets Y in [0, 1] (elementwise, summed):
//
//	J = Σ −y log σ(z) − (1 − y) log(1 − σ(z)) = Σ softplus(z) − y z
//
//	backward:  Z̄ = J̄·(σ(Z) − Y),  Ȳ = −J̄·Z
//	JVP:       J̇ = ⟨σ(Z) − Y, Ż⟩ − ⟨Z, Ẏ⟩
//	inverse:   none (a scalar does not determine a matrix); the gradient
//	           σ(Z) − Y is built from the sigmoid and a difference, whose
//	           inverses give Z = logit(δ + Y) for δ + Y in (0, 1).
type SigmoidBCEOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SigmoidBCEOp{}

// SigmoidBCE returns the scalar node Σ softplus(z) − y ⊙ z.
func SigmoidBCE(z, y *G.Node) (*G.Node, error) { return Apply(SigmoidBCEOp{}, z, y) }

func (SigmoidBCEOp) String() string          { return "sigmoidBCE" }
func (SigmoidBCEOp) Type() hm.Type           { return toScalar(2) }
func (o SigmoidBCEOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SigmoidBCEOp) Hashcode() uint32      { return Hashcode(o) }

func (o SigmoidBCEOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return toScalarShape(o, 2, in)
}
func (o SigmoidBCEOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (SigmoidBCEOp) do(v ...G.Value) (G.Value, error) {
	z, y, _, err := pair(v[0], v[1])
	if err != nil {
		return nil, err
	}
	var s float64
	for i := range z {
		s += softplus(z[i]) - y[i]*z[i]
	}
	return G.NewF64(s), nil
}

func (SigmoidBCEOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = b.ScalarMul(adj, b.Sub(b.Apply(ElementwiseOp{F: SigmoidFunc{}}, in[0]), in[1]))
	}
	if need(needs, 1) {
		g[1] = b.ScalarMul(adj, b.Scale(-1, in[0]))
	}
	return g, b.Err
}

func (SigmoidBCEOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	var r *G.Node
	if tan[0] != nil {
		r = b.Inner(b.Sub(b.Apply(ElementwiseOp{F: SigmoidFunc{}}, in[0]), in[1]), tan[0])
	}
	if tan[1] != nil {
		r = b.Sub(r, b.Inner(in[0], tan[1]))
	}
	return r, b.Err
}

// RowWise: a sum over elements of elementwise terms.
func (SigmoidBCEOp) RowWise(in []*G.Node, marked []bool) bool { return true }
