package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// RowSumOp replaces every element of a matrix by the sum of its row:
// Y = X 1 1ᵀ. It is linear and symmetric (its own adjoint), so
//
//	backward:  X̄ = Ȳ 1 1ᵀ
//	JVP:       Ẏ = Ẋ 1 1ᵀ
//	inverse:   none (a sum does not determine its terms)
//
// It is the building block of the softmax rules (SoftmaxOp), which need a
// per-row inner product spread over the row. Row-wise.
type RowSumOp struct{ Unary }

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = RowSumOp{}

// RowSum returns the node x 1 1ᵀ.
func RowSum(x *G.Node) (*G.Node, error) { return Apply(RowSumOp{}, x) }

func (RowSumOp) String() string          { return "X11ᵀ" }
func (o RowSumOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o RowSumOp) Hashcode() uint32      { return Hashcode(o) }

func (o RowSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return matrixShape(o, in) }

func (o RowSumOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o RowSumOp) do(v ...G.Value) (G.Value, error) {
	x, err := Matrix(v[0])
	if err != nil {
		return nil, err
	}
	r, c := x.Dims()
	out := make([]float64, r*c)
	for i := 0; i < r; i++ {
		var s float64
		for _, xij := range x.RawRowView(i) {
			s += xij
		}
		for j := range c {
			out[i*c+j] = s
		}
	}
	return newValue(tensor.Shape{r, c}, out), nil
}

func (o RowSumOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(o, adj)}, b.Err
}

func (o RowSumOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: each row's sum.
func (RowSumOp) RowWise(in []*G.Node, marked []bool) bool { return true }
