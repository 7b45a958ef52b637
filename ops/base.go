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

// The Gorgonia plumbing of an op, written once. A gorgonia.Op has ten
// methods; an op of newtonia writes only what is its own — its name
// (String), its shape (InferShape), its computation and its rules — and
// takes the rest from here:
//
//	type MyOp struct {
//		ops.Binary // Arity 2, Type a → a → a, ReturnsPtr, CallsExtern, OverwritesInput
//		C float64
//	}
//
//	func (o MyOp) String() string                                { return fmt.Sprintf("my(%g)", o.C) }
//	func (o MyOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return ops.EqualShapes(o, 2, in) }
//	func (o MyOp) WriteHash(h hash.Hash)                           { ops.WriteHash(h, o) }
//	func (o MyOp) Hashcode() uint32                                { return ops.Hashcode(o) }
//	func (o MyOp) Do(v ...G.Value) (G.Value, error)                { return ops.Checked(o, o.do, v) }
//
// The last three are one-liners because Go allows no less: a method
// promoted from an embedded struct receives the embedded value, not the op,
// so what depends on the op's parameters (its hash, its computation) must
// be a method of the op itself. In exchange the op stays its own exported
// type, which code elsewhere type-switches on (n.Op().(ops.MatMulOp)).

// Pure supplies, embedded in an op, the gorgonia.Op methods that are the
// same for every op of newtonia: Do allocates a fresh output, never returns
// a pointer into an input and never overwrites one (gorgonia.md: in-place
// ops clobber values that other passes still read). Embed it directly when
// the op's arity or type depends on its parameters; otherwise embed Unary
// or Binary.
type Pure struct{}

func (Pure) ReturnsPtr() bool     { return false }
func (Pure) CallsExtern() bool    { return false }
func (Pure) OverwritesInput() int { return -1 }

// Unary supplies, embedded in an op of one input, Pure, arity 1 and type
// a → a, and an InferShape for an elementwise op (the output shaped like
// the input; an op of another shape writes its own).
type Unary struct{ Pure }

func (Unary) Arity() int    { return 1 }
func (Unary) Type() hm.Type { return sameType(1) }
func (Unary) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return EqualShapes(unaryName{}, 1, in)
}

type unaryName struct{}

func (unaryName) String() string { return "elementwise op" }

// Binary supplies, embedded in an op of two inputs, Pure, arity 2 and type
// a → a → a. The op writes its InferShape (EqualShapes for an elementwise
// one), and its Type when its result is of another type (a scalar).
type Binary struct{ Pure }

func (Binary) Arity() int    { return 2 }
func (Binary) Type() hm.Type { return sameType(2) }

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

// Checked is an op's Do: it runs do on the input values and returns its
// result, or an error wrapping errs.ErrNotFinite that names op if the
// result holds a NaN or an Inf (one scan, FirstNonFinite).
func Checked(op fmt.Stringer, do func(...G.Value) (G.Value, error), v []G.Value) (G.Value, error) {
	out, err := do(v...)
	return checked(op, out, err)
}

var (
	tvA = hm.TypeVariable('a')
)

// sameType is the type of an op taking n values of one type to that type.
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

// Shapes returns the static shapes of an op's want inputs, or a
// *errs.ShapeError naming op.
func Shapes(op fmt.Stringer, want int, in []G.DimSizer) ([]tensor.Shape, error) {
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

// MatrixShapes is Shapes for an op whose inputs must all be matrices.
func MatrixShapes(op fmt.Stringer, want int, in []G.DimSizer) ([]tensor.Shape, error) {
	ss, err := Shapes(op, want, in)
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

// EqualShapes is the InferShape of an elementwise op: its want inputs all
// of one shape, which is the output's.
func EqualShapes(op fmt.Stringer, want int, in []G.DimSizer) (tensor.Shape, error) {
	ss, err := Shapes(op, want, in)
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

// matrixShape is the InferShape of an op of one matrix input whose output
// has the input's shape.
func matrixShape(op fmt.Stringer, in []G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(op, 1, in)
	if err != nil {
		return nil, err
	}
	return s[0].Clone(), nil
}

// toScalarShape is the InferShape of an op taking want inputs of one shape
// to a scalar (an inner product, a loss).
func toScalarShape(op fmt.Stringer, want int, in []G.DimSizer) (tensor.Shape, error) {
	if _, err := EqualShapes(op, want, in); err != nil {
		return nil, err
	}
	return tensor.ScalarShape(), nil
}
