package hvp

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// denseData returns the elements of t in row-major order.
func denseData(t *tensor.Dense) []float64 {
	if t.IsView() || t.RequiresIterator() {
		t = t.Materialize().(*tensor.Dense)
	}
	return t.Float64s()
}

// value returns a copy of n's current value as a float64 tensor.
func value(n *G.Node) (*tensor.Dense, error) {
	t, ok := n.Value().(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("hvp: node %s has no tensor value (got %T)", n.Name(), n.Value())
	}
	return newDense(t.Shape(), append([]float64(nil), denseData(t)...)), nil
}

func values(ns []*G.Node) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(ns))
	for i, n := range ns {
		var err error
		if out[i], err = value(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scalarValue(n *G.Node) (float64, error) {
	switch v := n.Value().(type) {
	case *G.F64:
		return float64(*v), nil
	case *tensor.Dense:
		if d := denseData(v); len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, fmt.Errorf("hvp: node %s has no scalar value (got %T)", n.Name(), n.Value())
}

func newDense(s tensor.Shape, data []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data))
}

// axpy returns x + a·y as a new tensor.
func axpy(x *tensor.Dense, a float64, y *tensor.Dense) *tensor.Dense {
	xs, ys := denseData(x), denseData(y)
	out := make([]float64, len(xs))
	for i := range xs {
		out[i] = xs[i] + a*ys[i]
	}
	return newDense(x.Shape(), out)
}

// scaled returns a·x as a new tensor.
func scaled(a float64, x *tensor.Dense) *tensor.Dense {
	xs := denseData(x)
	out := make([]float64, len(xs))
	for i := range xs {
		out[i] = a * xs[i]
	}
	return newDense(x.Shape(), out)
}

// Norm returns the Frobenius norm of x.
func Norm(x *tensor.Dense) float64 {
	var s, scale float64 = 0, 0
	for _, v := range denseData(x) {
		scale = math.Max(scale, math.Abs(v))
	}
	if scale == 0 {
		return 0
	}
	for _, v := range denseData(x) {
		s += (v / scale) * (v / scale)
	}
	return scale * math.Sqrt(s)
}

// relDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0).
func relDiff(a, b *tensor.Dense) float64 {
	d := Norm(axpy(a, -1, b))
	if nb := Norm(b); nb > 0 {
		return d / nb
	}
	return d
}

// RelDiff returns ‖a − b‖_F / ‖b‖_F (‖a − b‖_F when b = 0).
func RelDiff(a, b *tensor.Dense) float64 { return relDiff(a, b) }

// FlatRelDiff is RelDiff for flattened values (see Flatten).
func FlatRelDiff(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}
