package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TransposeOp is the matrix transpose Y = Aᵀ (materialised: the output owns
// its memory). It is linear and its own inverse:
//
//	backward:  Ā = Ȳᵀ
//	JVP:       Ẏ = Ȧᵀ
//	inverse:   A = Yᵀ  (always)
type TransposeOp struct{ Unary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
} = TransposeOp{}

// Transpose returns the node aᵀ.
func Transpose(a *G.Node) (*G.Node, error) { return Apply(TransposeOp{}, a) }

func (TransposeOp) String() string          { return "Aᵀ" }
func (o TransposeOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o TransposeOp) Hashcode() uint32      { return Hashcode(o) }

func (o TransposeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0][1], s[0][0]}, nil
}

func (o TransposeOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (TransposeOp) do(v ...G.Value) (G.Value, error) {
	src, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, &errs.ShapeError{What: "Aᵀ", Reason: fmt.Sprintf("shape %v, want a matrix", s)}
	}
	r, c := s[0], s[1]
	dst := alloc(r * c)
	// 32×32 tiles keep both the rows read and the rows written in cache.
	const tile = 32
	for i0 := 0; i0 < r; i0 += tile {
		for j0 := 0; j0 < c; j0 += tile {
			for i := i0; i < min(i0+tile, r); i++ {
				row := src[i*c : (i+1)*c]
				for j := j0; j < min(j0+tile, c); j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
	return newValue(tensor.Shape{c, r}, dst), nil
}

func (TransposeOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.T(adj)}, b.Err
}

func (TransposeOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.T(tan[0]), b.Err
}

func (TransposeOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.T(out), b.Err
}

func (TransposeOp) InverseCondition(int) string { return "always" }
