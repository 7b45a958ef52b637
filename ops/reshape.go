package ops

import (
	"fmt"
	"github.com/chewxy/hm"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ReshapeOp gives a value of shape From, of any rank, the shape To, of the
// same number of elements, keeping their row-major order (Gorgonia's
// G.Reshape). It is linear and bijective:
//
//	backward:  X̄ = reshape(Ȳ, To → From)
//	JVP:       Ẏ = reshape(Ẋ, From → To)
//	inverse:   X = reshape(Y, To → From)  (always)
//
// It declares no RowWise: a reshape may move one sample's values into
// another's rows (a (B, c, h, w) image to (B·c·h, w)).
type ReshapeOp struct {
	Unary
	From, To tensor.Shape
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
} = ReshapeOp{}

// Reshape returns the node x reshaped to the dimensions to.
func Reshape(x *G.Node, to ...int) (*G.Node, error) {
	return Apply(ReshapeOp{From: x.Shape().Clone(), To: to}, x)
}

func (o ReshapeOp) String() string {
	return fmt.Sprintf("reshape%v→%v", []int(o.From), []int(o.To))
}
func (o ReshapeOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ReshapeOp) Hashcode() uint32      { return Hashcode(o) }

// Type is a tensor of From's rank to one of To's (Gorgonia checks the
// rank of a node's shape against its type).
func (o ReshapeOp) Type() hm.Type { return hm.NewFnType(rankType(len(o.From)), rankType(len(o.To))) }

// rankType is the type of a float tensor of the given rank, a for a
// scalar.
func rankType(dims int) hm.Type {
	if dims == 0 {
		return tvA
	}
	return G.TensorType{Dims: dims, Of: tvA}
}

func (o ReshapeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if err := o.fits(s[0]); err != nil {
		return nil, err
	}
	return o.To.Clone(), nil
}

// fits checks that the input's shape s is From (a scalar and a tensor of
// one element are taken for each other) and has as many elements as To.
func (o ReshapeOp) fits(s tensor.Shape) error {
	for _, d := range append(o.From.Clone(), o.To...) {
		if d <= 0 {
			return &errs.ShapeError{What: o.String(), Reason: "every dimension must be positive"}
		}
	}
	if !sameDims(s, o.From) && !(s.TotalSize() == 1 && o.From.TotalSize() == 1) {
		return &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, want %v", s, o.From)}
	}
	if o.From.TotalSize() != o.To.TotalSize() {
		return &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("%v has %d elements, %v %d", o.From, o.From.TotalSize(), o.To, o.To.TotalSize())}
	}
	return nil
}

// sameDims compares shapes dimension by dimension (tensor.Shape.Eq takes
// a vector (n) for a column (n, 1)).
func sameDims(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inverted is the reshape back, To → From.
func (o ReshapeOp) inverted() ReshapeOp { return ReshapeOp{From: o.To, To: o.From} }

func (o ReshapeOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ReshapeOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	if err := o.fits(s); err != nil {
		return nil, err
	}
	out := alloc(len(x))
	copy(out, x)
	return newValue(o.To, out), nil
}

func (o ReshapeOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(o.inverted(), adj)}, b.Err
}

func (o ReshapeOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

func (o ReshapeOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Apply(o.inverted(), out), b.Err
}

func (ReshapeOp) InverseCondition(int) string { return "always" }
