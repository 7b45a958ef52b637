package ops

import (
	"errors"
	"hash"

	"github.com/newtonia/newtonia/errs"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DivOp is the elementwise quotient Y = A ⊘ B. A zero divisor is an error.
//
//	backward:  Ā = Ȳ ⊘ B,  B̄ = −(Ȳ ⊙ Y) ⊘ B
//	JVP:       Ẏ = (Ȧ − Y ⊙ Ḃ) ⊘ B
//	inverse:   A = Y ⊙ B  (always),  B = A ⊘ Y  (Y has no zero entry)
type DivOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	RowWiser
} = DivOp{}

// Div returns the node a ⊘ b.
func Div(a, b *G.Node) (*G.Node, error) { return Apply(DivOp{}, a, b) }

func (DivOp) String() string                                      { return "A⊘B" }
func (o DivOp) WriteHash(h hash.Hash)                             { WriteHash(h, o) }
func (o DivOp) Hashcode() uint32                                  { return Hashcode(o) }
func (o DivOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return EqualShapes(o, 2, in) }

// Do divides, and names a non-finite quotient's cause when its divisor is
// zero. The quotients are checked for non-finite values as they are
// computed (checked's scan, folded into the division loop: 12 of the ~40
// results of an InvHvAll are quotients); checked names the first one.
func (o DivOp) Do(v ...G.Value) (G.Value, error) {
	x, y, s, err := pair(v[0], v[1])
	if err != nil {
		return nil, err
	}
	data := alloc(len(x))
	finite := divide(data, x, y)
	out := newValue(s, data) // after dividing: a scalar is a copy
	if finite {
		return out, nil
	}
	_, err = checked(o, out, nil)
	var nf *errs.NotFiniteError
	if errors.As(err, &nf) && nf.Index >= 0 && nf.Index < len(y) && y[nf.Index] == 0 {
		return nil, &errs.NotFiniteError{What: "A⊘B: division by zero", Index: nf.Index}
	}
	return nil, err
}

// divide writes x ⊘ y into out (all of one length) and reports whether
// every quotient is finite: q − q is 0 for a finite q and NaN otherwise,
// so the sum of them stays 0 exactly when all are. Eight lanes at a time
// with AVX-512 where the CPU has it (divideVector; IEEE division either
// way, so the same bits), the rest one at a time.
func divide(out, x, y []float64) bool {
	x, y = x[:len(out)], y[:len(out)]
	var lanes [8]float64
	i := divideVector(out, x, y, &lanes)
	acc := (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
	for ; i < len(out); i++ {
		q := x[i] / y[i]
		out[i] = q
		acc += q - q
	}
	return acc == 0
}

func (DivOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, 2)
	if need(needs, 0) {
		g[0] = b.Div(adj, in[1])
	}
	if need(needs, 1) {
		g[1] = b.Scale(-1, b.Div(b.Mul(adj, out), in[1]))
	}
	return g, b.Err
}

func (DivOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil && tan[1] == nil {
		return nil, nil
	}
	var b Builder
	var yb *G.Node
	if tan[1] != nil {
		yb = b.Mul(out, tan[1])
	}
	return b.Div(b.Sub(tan[0], yb), in[1]), b.Err
}

func (DivOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	if wrt == 0 {
		return b.Mul(out, in[1]), b.Err
	}
	return b.Div(in[0], out), b.Err
}

func (DivOp) InverseCondition(wrt int) string {
	if wrt == 0 {
		return "always"
	}
	return "the quotient has no zero entry"
}

// RowWise: elementwise on matrices; on scalars (sums over samples) only
// the quotient by a constant stays such a sum.
func (DivOp) RowWise(in []*G.Node, marked []bool) bool {
	return !in[0].Shape().IsScalar() || !marked[1]
}
