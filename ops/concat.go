package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConcatOp joins N matrices along Axis: their rows (Axis 0, every input
// of one width) or their columns (Axis 1, every input of one height).
// Its adjoint cuts the output's adjoint back into the inputs' slices.
//
//	backward:  X̄_i = slice_i(Ȳ)  (the rows or columns input i fills)
//	JVP:       Ẏ = concat(Ẋ_1, …, Ẋ_N)  (a nil tangent as zeros)
//	inverse:   X_i = slice_i(Y)  (a left inverse: concatenation loses nothing)
type ConcatOp struct {
	Pure
	Axis, N int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	InverseKinder
	RowWiser
} = ConcatOp{}

// Concat returns the node joining xs along axis.
func Concat(axis int, xs ...*G.Node) (*G.Node, error) {
	return Apply(ConcatOp{Axis: axis, N: len(xs)}, xs...)
}

func (o ConcatOp) String() string        { return fmt.Sprintf("concat%d/%d", o.Axis, o.N) }
func (o ConcatOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ConcatOp) Hashcode() uint32      { return Hashcode(o) }
func (o ConcatOp) Arity() int            { return o.N }
func (o ConcatOp) Type() hm.Type         { return sameType(max(o.N, 1)) }

// shape returns the output's shape for inputs of shapes ss.
func (o ConcatOp) shape(ss []tensor.Shape) (tensor.Shape, error) {
	if o.Axis < 0 || o.Axis > 1 || o.N < 1 || len(ss) != o.N {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("%d inputs along axis %d: want N ≥ 1 inputs along axis 0 or 1", len(ss), o.Axis)}
	}
	out := ss[0].Clone()
	if len(out) != 2 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input 0 has shape %v, want a matrix", out)}
	}
	other := 1 - o.Axis
	for i, s := range ss[1:] {
		if len(s) != 2 || s[other] != out[other] {
			return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input %d has shape %v, input 0 has %v", i+1, s, ss[0])}
		}
		out[o.Axis] += s[o.Axis]
	}
	return out, nil
}

func (o ConcatOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	ss, err := Shapes(o, o.N, in)
	if err != nil {
		return nil, err
	}
	return o.shape(ss)
}

func (o ConcatOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ConcatOp) do(v ...G.Value) (G.Value, error) {
	xs := make([][]float64, len(v))
	ss := make([]tensor.Shape, len(v))
	for i := range v {
		var err error
		if xs[i], ss[i], err = floats(v[i]); err != nil {
			return nil, err
		}
	}
	s, err := o.shape(ss)
	if err != nil {
		return nil, err
	}
	out := alloc(s.TotalSize()) // every entry written below
	if o.Axis == 0 {
		at := 0
		for _, x := range xs {
			at += copy(out[at:], x)
		}
		return newValue(s, out), nil
	}
	at := 0 // the first column of input i
	for i, x := range xs {
		c := ss[i][1]
		for r := 0; r < s[0]; r++ {
			copy(out[r*s[1]+at:r*s[1]+at+c], x[r*c:(r+1)*c])
		}
		at += c
	}
	return newValue(s, out), nil
}

// part is the SliceOp cutting input i's rows or columns out of the output.
func (o ConcatOp) part(in []*G.Node, i int) SliceOp {
	from := 0
	for _, x := range in[:i] {
		from += x.Shape()[o.Axis]
	}
	return SliceOp{Axis: o.Axis, From: from, To: from + in[i].Shape()[o.Axis]}
}

func (o ConcatOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, len(in))
	for i := range in {
		if need(needs, i) {
			g[i] = b.Apply(o.part(in, i), adj)
		}
	}
	return g, b.Err
}

func (o ConcatOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	parts := make([]*G.Node, len(in))
	any := false
	for i, t := range tan {
		if t != nil {
			parts[i], any = t, true
		} else {
			parts[i] = b.Apply(FillOp{C: 0}, in[i])
		}
	}
	if !any {
		return nil, nil
	}
	return b.Apply(o, parts...), b.Err
}

func (o ConcatOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	from := 0
	for i := 0; i < wrt; i++ {
		from += in[i].Shape()[o.Axis]
	}
	// in[wrt] is nil: its extent is what the others leave.
	rest := 0
	for i := wrt + 1; i < len(in); i++ {
		rest += in[i].Shape()[o.Axis]
	}
	var b Builder
	return b.Apply(SliceOp{Axis: o.Axis, From: from, To: out.Shape()[o.Axis] - rest}, out), b.Err
}

func (ConcatOp) InverseCondition(int) string {
	return "the output is a concatenation (the other inputs' parts are theirs)"
}

func (ConcatOp) InverseKind(int, []*G.Node, *G.Node) (InverseKind, string) {
	return LeftInverse, "keeping the input's own rows or columns of the output"
}

// RowWise: columns joined keep each row's own entries together; rows
// joined mix samples.
func (o ConcatOp) RowWise(in []*G.Node, marked []bool) bool { return o.Axis == 1 }
