package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SumOp sums the elements of a matrix: all of them (Axis −1, a scalar),
// down each column (Axis 0, a 1×n row: over the samples) or along each row
// (Axis 1, a B×1 column: within each sample). With Mean the sum is divided
// by the number of terms.
//
//	Axis −1:  backward X̄ = c·Ȳ·1,   JVP Ẏ = c·Σ Ẋ
//	Axis 0:   backward X̄ = c·(1 Ȳ) (the row repeated), JVP Ẏ = c·1ᵀẊ
//	Axis 1:   backward X̄ = c·(Ȳ 1ᵀ) (the column repeated), JVP Ẏ = c·Ẋ1
//	(c = 1, or 1/count with Mean)
//	inverse:  none (a sum does not determine its terms)
//
// A sum over everything, or over the samples, of quantities that each
// depend on one sample is row-separable (method.md §9).
type SumOp struct {
	Unary
	Axis int // −1: every element; 0: over rows; 1: over columns
	Mean bool
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SumOp{}

// Sum returns the scalar node Σ x.
func Sum(x *G.Node) (*G.Node, error) { return Apply(SumOp{Axis: -1}, x) }

// Mean returns the scalar node Σ x / (number of elements).
func Mean(x *G.Node) (*G.Node, error) { return Apply(SumOp{Axis: -1, Mean: true}, x) }

// SumRows returns the 1×n node 1ᵀx: the sum over samples.
func SumRows(x *G.Node) (*G.Node, error) { return Apply(SumOp{Axis: 0}, x) }

func (o SumOp) String() string {
	name := "Σ"
	if o.Mean {
		name = "mean"
	}
	switch o.Axis {
	case 0:
		return name + "rows"
	case 1:
		return name + "cols"
	}
	return name
}
func (o SumOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SumOp) Hashcode() uint32      { return Hashcode(o) }

func (o SumOp) Type() hm.Type {
	if o.Axis == 0 || o.Axis == 1 {
		return sameType(1)
	}
	return toScalar(1)
}

func (o SumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	switch o.Axis {
	case -1:
		return tensor.ScalarShape(), nil
	case 0:
		return tensor.Shape{1, s[0][1]}, nil
	case 1:
		return tensor.Shape{s[0][0], 1}, nil
	}
	return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("axis %d, want −1, 0 or 1", o.Axis)}
}

func (o SumOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o SumOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shape %v, want a matrix", s)}
	}
	r, c := s[0], s[1]
	if o.Axis == -1 {
		var t float64
		for _, xi := range x {
			t += xi
		}
		if o.Mean {
			t /= float64(r * c)
		}
		return G.NewF64(t), nil
	}
	if o.Axis == 1 {
		out := make([]float64, r)
		for i := range r {
			for _, xij := range x[i*c : (i+1)*c] {
				out[i] += xij
			}
			if o.Mean {
				out[i] /= float64(c)
			}
		}
		return newValue(tensor.Shape{r, 1}, out), nil
	}
	out := make([]float64, c)
	for i := 0; i < r; i++ {
		for j, xij := range x[i*c : (i+1)*c] {
			out[j] += xij
		}
	}
	if o.Mean {
		for j := range out {
			out[j] /= float64(r)
		}
	}
	return newValue(tensor.Shape{1, c}, out), nil
}

// factor is c: 1, or 1/count with Mean.
func (o SumOp) factor(x *G.Node) float64 {
	if !o.Mean {
		return 1
	}
	s := x.Shape()
	switch o.Axis {
	case 0:
		return 1 / float64(s[0])
	case 1:
		return 1 / float64(s[1])
	}
	return 1 / float64(s.TotalSize())
}

func (o SumOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	var g *G.Node
	switch o.Axis {
	case -1:
		g = b.ScalarMul(adj, b.Apply(FillOp{C: 1}, in[0]))
	case 0:
		g = b.Apply(BiasAddOp{}, b.Apply(FillOp{C: 0}, in[0]), adj)
	case 1: // the column repeated: (1 Ȳᵀ)ᵀ
		g = b.T(b.Apply(RepeatOp{N: in[0].Shape()[1]}, b.T(adj)))
	}
	return []*G.Node{b.Scale(o.factor(in[0]), g)}, b.Err
}

func (o SumOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: a sum over everything of row-wise terms is a sum over samples,
// a sum within each row is row-wise; a sum over the samples mixes them
// into one row.
func (o SumOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis != 0 }
