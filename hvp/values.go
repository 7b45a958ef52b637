package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/native"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// denseData returns the elements of t in row-major order (t's own slice
// unless t is a view, or float32: then converted), for reading.
func denseData(t *tensor.Dense) []float64 {
	if t.IsView() || t.RequiresIterator() {
		t = t.Materialize().(*tensor.Dense)
	}
	if t.Dtype() == tensor.Float32 {
		out, _, _ := native.Float64s(t)
		return out
	}
	return t.Float64s()
}

// denseValue returns n's value in a run as a dense float64 tensor of its
// own: an op node's value is the caller's already (graph.Program.Run
// guarantees it shares no memory with an input or another value) and is
// handed over without a copy; an input node's value is copied.
func denseValue(vals graph.Values, n *G.Node) (*tensor.Dense, error) {
	if s, ok := vals[n].(*G.F64); ok { // a scalar weight's: a tensor of shape ()
		return newDense(tensor.ScalarShape(), []float64{float64(*s)}), nil
	}
	t, ok := vals[n].(*tensor.Dense)
	if !ok {
		return nil, &errs.ShapeError{What: "node " + errs.Label(n), Reason: fmt.Sprintf("no tensor value (got %T)", vals[n])}
	}
	if n.Op() != nil && t.Dtype() == tensor.Float64 && !t.IsView() && !t.RequiresIterator() {
		return newDense(t.Shape(), t.Float64s()), nil
	}
	return newDense(t.Shape(), append([]float64(nil), denseData(t)...)), nil
}

func denseValues(vals graph.Values, ns []*G.Node) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(ns))
	for i, n := range ns {
		var err error
		if out[i], err = denseValue(vals, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scalarValue(vals graph.Values, n *G.Node) (float64, error) {
	switch v := vals[n].(type) {
	case *G.F64:
		return float64(*v), nil
	case *tensor.Dense:
		if d := denseData(v); len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, &errs.ShapeError{What: "node " + errs.Label(n), Reason: fmt.Sprintf("no scalar value (got %T)", vals[n])}
}

func newDense(s tensor.Shape, data []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data))
}

func zerosLike(v []*tensor.Dense) []*tensor.Dense {
	out := make([]*tensor.Dense, len(v))
	for k, t := range v {
		out[k] = newDense(t.Shape(), make([]float64, t.Shape().TotalSize()))
	}
	return out
}

// axpy returns x + a·y as a new tensor.
func axpy(x *tensor.Dense, a float64, y *tensor.Dense) *tensor.Dense {
	out := append([]float64(nil), denseData(x)...)
	floats.AddScaled(out, a, denseData(y))
	return newDense(x.Shape(), out)
}

// scaled returns a·x as a new tensor.
func scaled(a float64, x *tensor.Dense) *tensor.Dense {
	out := append([]float64(nil), denseData(x)...)
	floats.Scale(a, out)
	return newDense(x.Shape(), out)
}

// unit returns x/s as a new tensor: divided, not multiplied by 1/s, which
// overflows for a subnormal s.
func unit(x *tensor.Dense, s float64) *tensor.Dense {
	out := append([]float64(nil), denseData(x)...)
	for i := range out {
		out[i] /= s
	}
	return newDense(x.Shape(), out)
}

// scaledFinite is scaled for results: an overflow is a NotFiniteError
// naming what.
func scaledFinite(a float64, x *tensor.Dense, what string) (*tensor.Dense, error) {
	out := scaled(a, x)
	if err := finite(out.Float64s(), what); err != nil {
		return nil, err
	}
	return out, nil
}

// Norm returns the Frobenius norm of the matrices xs taken together,
// without overflow or underflow (gonum's scaled 2-norm).
func Norm(xs ...*tensor.Dense) float64 {
	if len(xs) == 1 {
		return floats.Norm(denseData(xs[0]), 2)
	}
	return floats.Norm(Flatten(xs), 2)
}

// RelDiff returns ‖a − b‖_F / ‖b‖_F (‖a − b‖_F when b = 0).
func RelDiff(a, b *tensor.Dense) float64 { return FlatRelDiff(denseData(a), denseData(b)) }

// FlatRelDiff is RelDiff for flattened values (see Flatten).
func FlatRelDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}

// Flatten concatenates matrices in row-major order (the order in which
// dense Hessians index parameters: block by block, in the order the
// weights were given).
func Flatten(ts []*tensor.Dense) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, denseData(t)...)
	}
	return out
}

// Unflatten splits x into float64 tensors shaped like the given nodes (the
// inverse of Flatten); the products accept float64 values for float32
// weights too.
func Unflatten(x []float64, like []*G.Node) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(like))
	off := 0
	for i, n := range like {
		sz := n.Shape().TotalSize()
		if off+sz > len(x) {
			return nil, &errs.ShapeError{What: "flattened values", Reason: fmt.Sprintf("%d values for shapes needing more", len(x))}
		}
		out[i] = newDense(n.Shape(), append([]float64(nil), x[off:off+sz]...))
		off += sz
	}
	if off != len(x) {
		return nil, &errs.ShapeError{What: "flattened values", Reason: fmt.Sprintf("%d values, shapes take %d", len(x), off)}
	}
	return out, nil
}

// SplitLike cuts x (hvp.Flatten order) into new matrices shaped like
// those of like.
func SplitLike(x []float64, like []*tensor.Dense) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(like))
	off := 0
	for i, t := range like {
		n := t.Shape().TotalSize()
		if off+n > len(x) {
			return nil, &errs.ShapeError{What: "flattened values", Reason: fmt.Sprintf("%d values for shapes needing more", len(x))}
		}
		out[i] = newDense(t.Shape(), append([]float64(nil), x[off:off+n]...))
		off += n
	}
	if off != len(x) {
		return nil, &errs.ShapeError{What: "flattened values", Reason: fmt.Sprintf("%d values, shapes take %d", len(x), off)}
	}
	return out, nil
}

// Data returns t's elements in row-major order as float64, for reading:
// t's own slice for a contiguous float64 tensor, a converted copy for a
// float32 one or a view.
func Data(t *tensor.Dense) []float64 { return denseData(t) }

// AsDtype returns t as a tensor of dtype dt (float64 or float32): t itself
// when it already is, else a converted copy (rounded to nearest for
// float32).
func AsDtype(t *tensor.Dense, dt tensor.Dtype) *tensor.Dense { return native.AsDtype(t, dt) }
