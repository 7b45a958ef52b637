package hvp

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func (p *Products) checkBlock(l int) error {
	if l < 0 || l >= len(p.Weights) {
		return &ShapeError{What: "block index", Reason: fmt.Sprintf("%d out of range [0, %d)", l, len(p.Weights))}
	}
	return nil
}

// check validates a value meant for a node shaped like w.
func check(w *G.Node, v *tensor.Dense, what string) error {
	what = fmt.Sprintf("%s for %s", what, w.Name())
	if v == nil {
		return &ShapeError{What: what, Reason: "nil"}
	}
	if !v.Shape().Eq(w.Shape()) {
		return &ShapeError{What: what, Got: v.Shape(), Want: w.Shape()}
	}
	if v.Dtype() != tensor.Float64 {
		return &ShapeError{What: what, Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
	}
	return finite(denseData(v), what)
}

func finite(xs []float64, what string) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return &NotFiniteError{What: what, Index: i, Value: x}
		}
	}
	return nil
}

func (p *Products) checkAll(v []*tensor.Dense, what string) error {
	if len(v) != len(p.Weights) {
		return &ShapeError{What: what, Reason: fmt.Sprintf("%d matrices for %d blocks", len(v), len(p.Weights))}
	}
	for k, w := range p.Weights {
		if err := check(w, v[k], what); err != nil {
			return err
		}
	}
	return nil
}

// checkInputs validates the current values of the graph's inputs that the
// loss reads (data, targets, weights): present, of the node's shape,
// finite.
func (p *Products) checkInputs() error {
	for _, n := range p.inputs {
		v := n.Value()
		if v == nil {
			return &ShapeError{What: "input " + n.Name(), Reason: "has no value (gorgonia.Let it first)"}
		}
		if !v.Shape().Eq(n.Shape()) {
			return &ShapeError{What: "input " + n.Name(), Got: v.Shape(), Want: n.Shape()}
		}
		switch v := v.(type) {
		case *tensor.Dense:
			if v.Dtype() != tensor.Float64 {
				return &ShapeError{What: "input " + n.Name(), Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
			}
			if err := finite(denseData(v), "input "+n.Name()); err != nil {
				return err
			}
		case *G.F64:
			if err := finite([]float64{float64(*v)}, "input "+n.Name()); err != nil {
				return err
			}
		default:
			return &ShapeError{What: "input " + n.Name(), Reason: fmt.Sprintf("value of type %T", v)}
		}
	}
	return nil
}

// set binds a checked copy of v to the input node n.
func (p *Products) set(n *G.Node, v *tensor.Dense, what string) error {
	if err := check(n, v, what); err != nil {
		return err
	}
	return bind(n, v)
}

// bind binds a copy of v, already checked, to the input node n.
func bind(n *G.Node, v *tensor.Dense) error { return G.Let(n, v.Clone().(*tensor.Dense)) }

func (p *Products) setAll(ns []*G.Node, v []*tensor.Dense, what string) error {
	if err := p.checkAll(v, what); err != nil {
		return err
	}
	for k, n := range ns {
		if err := bind(n, v[k]); err != nil {
			return err
		}
	}
	return nil
}
