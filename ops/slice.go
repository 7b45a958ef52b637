package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SliceOp keeps rows (Axis 0) or columns (Axis 1) i = From, From+Step, …
// < To of a matrix (Step 0 or 1: every one, From ≤ i < To). Its adjoint
// puts them back among zeros: PadOp for a contiguous slice, SpreadOp for
// a strided one.
//
//	backward:  X̄ = pad(Ȳ) (Step ≤ 1),  X̄ = spread(Ȳ) (Step > 1)
//	JVP:       Ẏ = slice(Ẋ)
//	inverse:   none (what is dropped is lost)
type SliceOp struct {
	Unary
	Axis, From, To int
	Step           int // 0 or 1: contiguous
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SliceOp{}

func (o SliceOp) String() string {
	if o.Step > 1 {
		return fmt.Sprintf("slice%d[%d:%d:%d]", o.Axis, o.From, o.To, o.Step)
	}
	return fmt.Sprintf("slice%d[%d:%d]", o.Axis, o.From, o.To)
}
func (o SliceOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SliceOp) Hashcode() uint32      { return Hashcode(o) }

// step is the stride, 1 for a contiguous slice.
func (o SliceOp) step() int { return max(o.Step, 1) }

// Count is the number of rows or columns kept: ⌈(To − From)/Step⌉.
func (o SliceOp) Count() int { return (o.To - o.From + o.step() - 1) / o.step() }

// fits reports whether the slice fits a matrix of shape s.
func (o SliceOp) fits(s tensor.Shape) bool {
	return len(s) == 2 && o.Axis >= 0 && o.Axis <= 1 && o.From >= 0 && o.To <= s[o.Axis] && o.From < o.To && o.Step >= 0
}

func (o SliceOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if !o.fits(s[0]) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s[0])}
	}
	out := s[0].Clone()
	out[o.Axis] = o.Count()
	return out, nil
}

func (o SliceOp) Do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if !o.fits(s) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("does not fit shape %v", s)}
	}
	r, c, k, st := s[0], s[1], o.Count(), o.step()
	if o.Axis == 0 {
		out := alloc(k * c) // every entry written below
		for j := range k {
			i := o.From + j*st
			copy(out[j*c:(j+1)*c], x[i*c:(i+1)*c])
		}
		return newValue(tensor.Shape{k, c}, out), nil
	}
	out := alloc(r * k) // every entry written below
	for i := 0; i < r; i++ {
		for j := range k {
			out[i*k+j] = x[i*c+o.From+j*st]
		}
	}
	return newValue(tensor.Shape{r, k}, out), nil
}

func (o SliceOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	n := in[0].Shape()[o.Axis]
	if o.Step > 1 {
		return []*G.Node{b.Apply(SpreadOp{Axis: o.Axis, From: o.From, Step: o.Step, N: n}, adj)}, b.Err
	}
	return []*G.Node{b.Apply(PadOp{Axis: o.Axis, Before: o.From, After: n - o.To}, adj)}, b.Err
}

func (o SliceOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// RowWise: a slice of columns keeps each row's own entries.
func (o SliceOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis == 1 }
