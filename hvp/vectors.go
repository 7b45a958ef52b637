package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The passes take and give tensors; products take and give
// *params.Vector. These are the two conversions, and the checks of the
// vectors given.

// valueOf returns x (not copied) as a value for the float64 node n: a
// tensor of n's shape. x holds n's values in row-major order: a weight's
// values, whatever shape its private translation has (a vector as a row
// or a column, a scalar as 1×1), are in the same order.
func valueOf(n *G.Node, x []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(x))
}

// flatValue returns n's value in a run as float64 values of its own, in
// row-major order: an op node's float64 value is the caller's already
// (graph.Program.Run guarantees it shares no memory with an input or
// another value) and is handed over without a copy; an input node's
// value, or another dtype's, is copied.
func flatValue(vals graph.Values, n *G.Node) ([]float64, error) {
	switch v := vals[n].(type) {
	case *G.F64: // a scalar's
		return []float64{float64(*v)}, nil
	case *tensor.Dense:
		if n.Op() != nil && v.Dtype() == tensor.Float64 && !v.IsView() && !v.RequiresIterator() {
			return v.Float64s(), nil
		}
		if d, _, err := native.Float64s(v); err == nil {
			return append([]float64(nil), d...), nil
		}
	}
	return nil, &errs.ShapeError{What: "node " + errs.Label(n), Reason: fmt.Sprintf("no tensor value (got %T)", vals[n])}
}

// vector returns the values of nodes (one per weight of layout l) in a run
// as a vector of l.
func (p *Problem) vector(l *params.Layout, vals graph.Values, nodes []*G.Node) (*params.Vector, error) {
	out := params.New(l)
	for i, n := range nodes {
		d, err := flatValue(vals, n)
		if err != nil {
			return nil, err
		}
		w := out.Weight(i)
		if len(d) != len(w) {
			return nil, &errs.ShapeError{What: "node " + errs.Label(n), Reason: fmt.Sprintf("%d values for %s, which has %d", len(d), l.Name(i), len(w))}
		}
		copy(w, d)
	}
	return out, nil
}

func scalarValue(vals graph.Values, n *G.Node) (float64, error) {
	switch v := vals[n].(type) {
	case *G.F64:
		return float64(*v), nil
	case *tensor.Dense:
		if d, _, err := native.Float64s(v); err == nil && len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, &errs.ShapeError{What: "node " + errs.Label(n), Reason: fmt.Sprintf("no scalar value (got %T)", vals[n])}
}

// unitOf returns v/s, divided (not multiplied by 1/s, which overflows for
// a subnormal s), as a new vector.
func unitOf(v *params.Vector, s float64) *params.Vector {
	u := v.Clone()
	u.Divide(s)
	return u
}

// scaledFinite sets v = a·v, a product's result: an overflow is an
// *errs.NotFiniteError whose What is what(k) for weight k.
func scaledFinite(a float64, v *params.Vector, what func(k int) string) error {
	v.Scale(a)
	if k, i, bad := v.FirstNonFinite(); bad {
		return &errs.NotFiniteError{What: what(k), Index: i, Value: v.Weight(k)[i]}
	}
	return nil
}

// checkVec validates v, values given for layout want (what names them in
// errors: "direction", "weights"): present, of want's shapes (an
// *errs.ShapeError naming the first weight that differs) and finite (an
// *errs.NotFiniteError naming the weight).
func (p *Problem) checkVec(v *params.Vector, want *params.Layout, what string) error {
	if v == nil {
		return &errs.ShapeError{What: what, Reason: fmt.Sprintf("nil, want a vector of %s", want)}
	}
	got := v.Layout()
	if !params.Same(got, want) {
		if got.Weights() != want.Weights() {
			return &errs.ShapeError{What: what, Reason: fmt.Sprintf("values for %d weights (%s), want %d (%s)", got.Weights(), got, want.Weights(), want)}
		}
		for k := range want.Weights() {
			if !got.Shape(k).Eq(want.Shape(k)) {
				return &errs.ShapeError{What: what + " for " + want.Name(k), Got: got.Shape(k), Want: want.Shape(k)}
			}
		}
	}
	if k, i, bad := v.FirstNonFinite(); bad {
		return &errs.NotFiniteError{What: what + " for " + want.Name(k), Index: i, Value: v.Weight(k)[i]}
	}
	return nil
}

// bindWeights checks w (nil: the weights' own values are used) and
// returns it as bindings of the weights the passes read.
func (p *Problem) bindWeights(w *params.Vector) (graph.Values, error) {
	bind := graph.Values{}
	if w == nil {
		return bind, nil
	}
	if err := p.checkVec(w, p.layout, "weights"); err != nil {
		return nil, err
	}
	for k, n := range p.ws {
		bind[n] = valueOf(n, w.Weight(k))
	}
	return bind, nil
}
