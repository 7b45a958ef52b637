package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BiasAddOp adds a 1×n row b to every row of a B×n matrix X: Y = X + 1b
// (a layer's bias, broadcast over the batch).
//
//	backward:  X̄ = Ȳ,  b̄ = 1ᵀȲ (summed over the samples)
//	JVP:       Ẏ = Ẋ + 1ḃ
//	inverse:   X = Y − 1b (always);  b = mean over rows of (Y − X): a left
//	           inverse, exact when every row of Y − X is the same
//
// Row-wise in X (b is shared by every sample).
type BiasAddOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	InverseKinder
	RowWiser
} = BiasAddOp{}

// BiasAdd returns the node x + 1b.
func BiasAdd(x, b *G.Node) (*G.Node, error) { return Apply(BiasAddOp{}, x, b) }

func (BiasAddOp) String() string          { return "X+1b" }
func (o BiasAddOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o BiasAddOp) Hashcode() uint32      { return Hashcode(o) }

func (o BiasAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	if s[1][0] != 1 || s[1][1] != s[0][1] {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("bias of shape %v for rows of width %d, want (1, %d)", s[1], s[0][1], s[0][1])}
	}
	return s[0].Clone(), nil
}

func (o BiasAddOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o BiasAddOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	b, sb, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 || sb.TotalSize() != s[1] {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shapes %v and %v", s, sb)}
	}
	out := alloc(len(x))
	c := s[1]
	for i := 0; i < s[0]; i++ {
		for j := range c {
			out[i*c+j] = x[i*c+j] + b[j]
		}
	}
	return newValue(s, out), nil
}

func (BiasAddOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := []*G.Node{nil, nil}
	if need(needs, 0) {
		g[0] = adj
	}
	if need(needs, 1) {
		g[1] = b.Apply(SumOp{Axis: 0}, adj)
	}
	return g, b.Err
}

func (o BiasAddOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	switch {
	case tan[1] == nil:
		return tan[0], nil
	case tan[0] == nil:
		return b.Apply(o, b.Apply(FillOp{C: 0}, in[0]), tan[1]), b.Err
	}
	return b.Apply(o, tan[0], tan[1]), b.Err
}

func (o BiasAddOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	if wrt == 0 {
		return b.Apply(o, out, b.Scale(-1, in[1])), b.Err
	}
	return b.Apply(SumOp{Axis: 0, Mean: true}, b.Sub(out, in[0])), b.Err
}

func (BiasAddOp) InverseCondition(wrt int) string {
	if wrt == 0 {
		return "always"
	}
	return "every row of Y − X equal (the mean over rows otherwise)"
}

// InverseKind: solving for X is bijective; for b, injective (a left
// inverse) when there is more than one row.
func (BiasAddOp) InverseKind(wrt int, in []*G.Node, out *G.Node) (InverseKind, string) {
	if wrt == 0 || out.Shape()[0] == 1 {
		return Bijective, "subtracting the bias"
	}
	return LeftInverse, fmt.Sprintf("b from %d rows: exact when they agree", out.Shape()[0])
}

// RowWise: row i of X + 1b is row i of X plus the shared b.
func (BiasAddOp) RowWise(in []*G.Node, marked []bool) bool { return !marked[1] }
