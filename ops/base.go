package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Pure supplies, embedded in an op, the gorgonia.Op methods that are the
// same for every op of newtonia: Do allocates a fresh output, never returns
// a pointer into an input and never overwrites one (gorgonia.md: in-place
// ops clobber values that other passes still read).
type Pure struct{}

func (Pure) ReturnsPtr() bool     { return false }
func (Pure) CallsExtern() bool    { return false }
func (Pure) OverwritesInput() int { return -1 }

// Unary supplies, embedded in an elementwise op of one input, every
// gorgonia.Op method but String, Do, WriteHash and Hashcode: arity 1, type
// a → a, the output shaped like the input. WriteHash and Hashcode are
// one line each with WriteHash and Hashcode below:
//
//	func (o MyOp) WriteHash(h hash.Hash) { ops.WriteHash(h, o) }
//	func (o MyOp) Hashcode() uint32      { return ops.Hashcode(o) }
type Unary struct{ Pure }

func (Unary) Arity() int    { return 1 }
func (Unary) Type() hm.Type { return sameType(1) }
func (Unary) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return equalShapes(unaryName{}, 1, in)
}

type unaryName struct{}

func (unaryName) String() string { return "elementwise op" }

// WriteHash writes op's type and String, which by convention names the op
// and every parameter: two ops with equal strings are the same function,
// so Gorgonia's hash-consing may merge their nodes.
func WriteHash(h hash.Hash, op fmt.Stringer) { fmt.Fprintf(h, "newtonia/%T/%s", op, op) }

// Hashcode is the 32-bit FNV hash of what WriteHash writes.
func Hashcode(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	WriteHash(h, op)
	return h.Sum32()
}

var (
	tvA = hm.TypeVariable('a')
)

// sameShape is the type of an op taking n values of one type to that type.
func sameType(n int) hm.Type {
	ts := make([]hm.Type, n+1)
	for i := range ts {
		ts[i] = tvA
	}
	return hm.NewFnType(ts...)
}

// toScalar is the type of an op taking n values of one type to a float64 scalar.
func toScalar(n int) hm.Type {
	ts := make([]hm.Type, n+1)
	for i := 0; i < n; i++ {
		ts[i] = tvA
	}
	ts[n] = tensor.Float64
	return hm.NewFnType(ts...)
}

// shapes extracts the full shapes of an op's inputs.
func shapes(op fmt.Stringer, want int, in []G.DimSizer) ([]tensor.Shape, error) {
	if len(in) != want {
		return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("%d inputs, want %d", len(in), want)}
	}
	out := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("input %d has no static shape (%T)", i, d)}
		}
		out[i] = s
	}
	return out, nil
}

// matrixShapes is shapes for ops whose inputs must all be matrices.
func matrixShapes(op fmt.Stringer, want int, in []G.DimSizer) ([]tensor.Shape, error) {
	ss, err := shapes(op, want, in)
	if err != nil {
		return nil, err
	}
	for i, s := range ss {
		if len(s) != 2 {
			return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("input %d has shape %v, want a matrix", i, s)}
		}
	}
	return ss, nil
}

// equalShapes is shapes for elementwise ops: all inputs of one shape.
func equalShapes(op fmt.Stringer, want int, in []G.DimSizer) (tensor.Shape, error) {
	ss, err := shapes(op, want, in)
	if err != nil {
		return nil, err
	}
	for i, s := range ss[1:] {
		if !s.Eq(ss[0]) {
			return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("input %d has shape %v, input 0 has %v", i+1, s, ss[0])}
		}
	}
	return ss[0].Clone(), nil
}
