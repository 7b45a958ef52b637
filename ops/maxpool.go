package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPoolOp is 2-D max pooling of a batch of images x (B, C, H, W), as
// Gorgonia's G.MaxPool2D computes it: output (B, C, OH, OW), element
// (b, c, i, j) the largest x[b, c, r, s] over the window rows
// i·StrideH − Top ≤ r < i·StrideH − Top + KH and columns likewise, clipped
// to the image (padding is never a candidate), OH = (H + Top + Bottom −
// KH) / StrideH + 1. Of equal values the first in row-major order wins
// (Gorgonia's strict >), and a window holding no pixel gives
// −math.MaxFloat64, as Gorgonia's does.
//
// Its derivative routes through the argmax pattern P = argmax(x), which,
// like a ReLU's mask, is piecewise constant and frozen (PoolArgmaxOp):
//
//	backward:  X̄ = scatter_P(Ȳ)         (PoolScatterOp: Ȳ onto the argmax pixels)
//	JVP:       Ẏ = gather_P(Ẋ)          (PoolGatherOp: Ẋ at the argmax pixels)
//
// so that the second derivative is zero: R{X̄} = scatter_P(R{Ȳ}). No
// inverse (the pixels that are not maxima are lost) and no RowWise (the
// values are 4-D, not rows of samples).
type MaxPoolOp struct {
	Unary
	Pool
}

// Pool is the geometry of 2-D pooling: a KH × KW window moved by the
// strides, the image padded by Top, Bottom, Left and Right rows and
// columns (Gorgonia's MaxPool2D(x, kernel, pad, stride): pad (p, q) is
// Top = Bottom = p, Left = Right = q).
type Pool struct {
	KH, KW                   int
	Top, Bottom, Left, Right int
	StrideH, StrideW         int
}

func (p Pool) String() string {
	return fmt.Sprintf("kernel (%d,%d) pad (%d,%d,%d,%d) stride (%d,%d)", p.KH, p.KW, p.Top, p.Bottom, p.Left, p.Right, p.StrideH, p.StrideW)
}

// Out returns the pooled height and width of an h × w image.
func (p Pool) Out(h, w int) (int, int) {
	return (h+p.Top+p.Bottom-p.KH)/p.StrideH + 1, (w+p.Left+p.Right-p.KW)/p.StrideW + 1
}

// check returns the pooled shape of images of shape s, or why the pool
// does not fit them.
func (p Pool) check(op fmt.Stringer, s tensor.Shape) (tensor.Shape, error) {
	if len(s) != 4 {
		return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("input of shape %v, want (batch, channels, height, width)", s)}
	}
	if p.KH < 1 || p.KW < 1 || p.StrideH < 1 || p.StrideW < 1 || p.Top < 0 || p.Bottom < 0 || p.Left < 0 || p.Right < 0 {
		return nil, &errs.ShapeError{What: op.String(), Reason: "window and strides ≥ 1 and paddings ≥ 0 wanted"}
	}
	if s[2]+p.Top+p.Bottom < p.KH || s[3]+p.Left+p.Right < p.KW {
		return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("the window does not fit an image of %d×%d", s[2], s[3])}
	}
	oh, ow := p.Out(s[2], s[3])
	return tensor.Shape{s[0], s[1], oh, ow}, nil
}

// argmax returns the pooled values of x (shape s) and the flat index into
// x of each one's pixel (−1 for a window holding none).
// inferShape is the pooled shape of op's one input (MaxPoolOp and
// PoolArgmaxOp share it).
func (p Pool) inferShape(op fmt.Stringer, in []G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(op, 1, in)
	if err != nil {
		return nil, err
	}
	return p.check(op, s[0])
}

// pool pools the value x for op: the maxima, their argmax and the pooled
// shape (MaxPoolOp's value, PoolArgmaxOp's pattern).
func (p Pool) pool(op fmt.Stringer, x G.Value) ([]float64, []int, tensor.Shape, error) {
	xs, s, err := floats(x)
	if err != nil {
		return nil, nil, nil, err
	}
	os, err := p.check(op, s)
	if err != nil {
		return nil, nil, nil, err
	}
	val, at := p.argmax(xs, s)
	return val, at, os, nil
}

func (p Pool) argmax(x []float64, s tensor.Shape) ([]float64, []int) {
	h, w := s[2], s[3]
	oh, ow := p.Out(h, w)
	planes := s[0] * s[1]
	val, at := make([]float64, planes*oh*ow), make([]int, planes*oh*ow)
	k := 0
	for pl := 0; pl < planes; pl++ {
		base := pl * h * w
		for i := 0; i < oh; i++ {
			r0 := i*p.StrideH - p.Top
			for j := 0; j < ow; j++ {
				c0 := j*p.StrideW - p.Left
				best, arg := -math.MaxFloat64, -1
				for r := max(r0, 0); r < min(r0+p.KH, h); r++ {
					for c := max(c0, 0); c < min(c0+p.KW, w); c++ {
						if v := x[base+r*w+c]; v > best {
							best, arg = v, base+r*w+c
						}
					}
				}
				val[k], at[k] = best, arg
				k++
			}
		}
	}
	return val, at
}

var _ interface {
	G.Op
	VJPer
	JVPer
} = MaxPoolOp{}

// MaxPool returns the node of x max-pooled by p.
func MaxPool(x *G.Node, p Pool) (*G.Node, error) { return Apply(MaxPoolOp{Pool: p}, x) }

func (o MaxPoolOp) String() string        { return "maxpool(" + o.Pool.String() + ")" }
func (o MaxPoolOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o MaxPoolOp) Hashcode() uint32      { return Hashcode(o) }

func (o MaxPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return o.inferShape(o, in)
}

func (o MaxPoolOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o MaxPoolOp) do(v ...G.Value) (G.Value, error) {
	val, _, os, err := o.pool(o, v[0])
	if err != nil {
		return nil, err
	}
	return newValue(os, val), nil
}

func (o MaxPoolOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	at := b.Apply(PoolArgmaxOp{Pool: o.Pool}, in[0])
	return []*G.Node{b.Apply(PoolScatterOp{Shape: in[0].Shape().Clone()}, at, adj)}, b.Err
}

func (o MaxPoolOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	at := b.Apply(PoolArgmaxOp{Pool: o.Pool}, in[0])
	return b.Apply(PoolGatherOp{}, at, tan[0]), b.Err
}

// PoolArgmaxOp is MaxPoolOp's argmax pattern: for each pooled element, the
// flat (row-major) index into x of the pixel it takes, as a float64 (−1
// for a window holding no pixel). Piecewise constant: its tangent is zero,
// no adjoint flows through it, the inverse pass treats it as a constant,
// and hvp's activation pattern includes it (as a ReLU's mask).
type PoolArgmaxOp struct {
	Unary
	Pool
}

var _ interface {
	G.Op
	VJPer
	JVPer
	PiecewiseConstanter
} = PoolArgmaxOp{}

func (o PoolArgmaxOp) String() string        { return "argmax(" + o.Pool.String() + ")" }
func (o PoolArgmaxOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PoolArgmaxOp) Hashcode() uint32      { return Hashcode(o) }

func (o PoolArgmaxOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return o.inferShape(o, in)
}

func (o PoolArgmaxOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o PoolArgmaxOp) do(v ...G.Value) (G.Value, error) {
	_, at, os, err := o.pool(o, v[0])
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(at))
	for k, i := range at {
		out[k] = float64(i)
	}
	return newValue(os, out), nil
}

func (PoolArgmaxOp) PiecewiseConstant() bool { return true }

func (PoolArgmaxOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return []*G.Node{nil}, nil
}

func (PoolArgmaxOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) { return nil, nil }

// indices reads a pattern's value: flat indices into a value of n
// elements, or −1.
func indices(op fmt.Stringer, v G.Value, n int) ([]int, tensor.Shape, error) {
	x, s, err := floats(v)
	if err != nil {
		return nil, nil, err
	}
	at := make([]int, len(x))
	for k, f := range x {
		if f != math.Trunc(f) || f < -1 || f >= float64(n) {
			return nil, nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("pattern element %d is %g, not an index into %d values", k, f, n)}
		}
		at[k] = int(f)
	}
	return at, s, nil
}

// PoolGatherOp reads t at the indices of a pattern P (PoolArgmaxOp): Y has
// P's shape, Y[k] = t[P[k]] (0 where P[k] = −1). Linear in t, P frozen:
//
//	backward:  T̄ = scatter_P(Ȳ),  P̄ = 0
//	JVP:       Ẏ = gather_P(Ṫ)
type PoolGatherOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
} = PoolGatherOp{}

func (PoolGatherOp) String() string          { return "gather" }
func (o PoolGatherOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PoolGatherOp) Hashcode() uint32      { return Hashcode(o) }

func (o PoolGatherOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	return s[0].Clone(), nil
}

func (o PoolGatherOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o PoolGatherOp) do(v ...G.Value) (G.Value, error) {
	t, _, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	at, s, err := indices(o, v[0], len(t))
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(at))
	for k, i := range at {
		if i >= 0 {
			out[k] = t[i]
		}
	}
	return newValue(s, out), nil
}

func (PoolGatherOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{nil, b.Apply(PoolScatterOp{Shape: in[1].Shape().Clone()}, in[0], adj)}, b.Err
}

func (o PoolGatherOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[1] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, in[0], tan[1]), b.Err
}

// PoolScatterOp is PoolGatherOp's adjoint: Y of shape Shape, zero but at
// the indices of a pattern P, Y[P[k]] += a[k] (a of P's shape). Linear in
// a, P frozen:
//
//	backward:  Ā = gather_P(Ȳ),  P̄ = 0
//	JVP:       Ẏ = scatter_P(Ȧ)
type PoolScatterOp struct {
	Binary
	Shape tensor.Shape
}

var _ interface {
	G.Op
	VJPer
	JVPer
} = PoolScatterOp{}

func (o PoolScatterOp) String() string        { return fmt.Sprintf("scatter%v", []int(o.Shape)) }
func (o PoolScatterOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PoolScatterOp) Hashcode() uint32      { return Hashcode(o) }

func (o PoolScatterOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	if !sameDims(s[0], s[1]) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("pattern of shape %v, values %v", s[0], s[1])}
	}
	return o.Shape.Clone(), nil
}

func (o PoolScatterOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o PoolScatterOp) do(v ...G.Value) (G.Value, error) {
	a, sa, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	at, s, err := indices(o, v[0], o.Shape.TotalSize())
	if err != nil {
		return nil, err
	}
	if !sameDims(s, sa) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("pattern of shape %v, values %v", s, sa)}
	}
	out := make([]float64, o.Shape.TotalSize())
	for k, i := range at {
		if i >= 0 {
			out[i] += a[k]
		}
	}
	return newValue(o.Shape, out), nil
}

func (PoolScatterOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{nil, b.Apply(PoolGatherOp{}, in[0], adj)}, b.Err
}

func (o PoolScatterOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[1] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, in[0], tan[1]), b.Err
}
