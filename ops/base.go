package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// pure supplies the Op methods that are the same for every op of this
// package: each Do allocates a fresh output, never returns a pointer into
// an input and never overwrites one (see gorgonia.md: in-place ops clobber
// values that other passes still read).
type pure struct{}

func (pure) ReturnsPtr() bool     { return false }
func (pure) CallsExtern() bool    { return false }
func (pure) OverwritesInput() int { return -1 }

// writeHash writes op's String, which by convention names the op and every
// parameter: two ops with equal strings are the same function, so
// Gorgonia's hash-consing may merge their nodes.
func writeHash(h hash.Hash, op fmt.Stringer) { fmt.Fprintf(h, "newtonia/%T/%s", op, op) }

func hashcode(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	writeHash(h, op)
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
		return nil, fmt.Errorf("%v: %d inputs, want %d", op, len(in), want)
	}
	out := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%v: input %d has no static shape (%T)", op, i, d)
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
			return nil, fmt.Errorf("%v: input %d has shape %v, want a matrix", op, i, s)
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
			return nil, fmt.Errorf("%v: input %d has shape %v, input 0 has %v", op, i+1, s, ss[0])
		}
	}
	return ss[0].Clone(), nil
}
