package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PermuteOp reorders the axes of a value of any rank: output axis i is
// input axis Axes[i] (Gorgonia's G.Transpose(x, axes...); for a matrix,
// Axes (1, 0) is TransposeOp). Materialised, linear and bijective:
//
//	backward:  X̄ = permute(Ȳ, Axes⁻¹)
//	JVP:       Ẏ = permute(Ẋ, Axes)
//	inverse:   X = permute(Y, Axes⁻¹)  (always)
//
// where Axes⁻¹ is the inverse permutation. It declares no RowWise: moving
// axis 0 mixes the samples.
type PermuteOp struct {
	Unary
	Axes []int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
} = PermuteOp{}

// Permute returns the node x with its axes reordered.
func Permute(x *G.Node, axes ...int) (*G.Node, error) { return Apply(PermuteOp{Axes: axes}, x) }

func (o PermuteOp) String() string        { return fmt.Sprintf("permute%v", o.Axes) }
func (o PermuteOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PermuteOp) Hashcode() uint32      { return Hashcode(o) }

// check returns the output shape for an input of shape s, or why Axes is
// no permutation of s's axes.
func (o PermuteOp) check(s tensor.Shape) (tensor.Shape, error) {
	if len(o.Axes) != len(s) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v: want %d axes", s, len(s))}
	}
	seen := make([]bool, len(s))
	out := make(tensor.Shape, len(s))
	for i, a := range o.Axes {
		if a < 0 || a >= len(s) || seen[a] {
			return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("not a permutation of the %d axes of %v", len(s), s)}
		}
		seen[a] = true
		out[i] = s[a]
	}
	return out, nil
}

func (o PermuteOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	return o.check(s[0])
}

func (o PermuteOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o PermuteOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	os, err := o.check(s)
	if err != nil {
		return nil, err
	}
	n := len(s)
	stride := make([]int, n) // the input's strides, in the output's axis order
	st := 1
	for a := n - 1; a >= 0; a-- {
		for i, b := range o.Axes {
			if b == a {
				stride[i] = st
			}
		}
		st *= s[a]
	}
	out := alloc(len(x))
	idx := make([]int, n)
	src := 0
	for k := range out {
		out[k] = x[src]
		for i := n - 1; i >= 0; i-- { // the next output index, odometer-wise
			idx[i]++
			src += stride[i]
			if idx[i] < os[i] {
				break
			}
			src -= idx[i] * stride[i]
			idx[i] = 0
		}
	}
	return newValue(os, out), nil
}

// inverted is the permutation back.
func (o PermuteOp) inverted() PermuteOp {
	inv := make([]int, len(o.Axes))
	for i, a := range o.Axes {
		inv[a] = i
	}
	return PermuteOp{Axes: inv}
}

func (o PermuteOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(o.inverted(), adj)}, b.Err
}

func (o PermuteOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

func (o PermuteOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Apply(o.inverted(), out), b.Err
}

func (PermuteOp) InverseCondition(int) string { return "always" }
