package hvp

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func (p *Products) checkBlock(l int) error {
	if l < 0 || l >= len(p.blocks) {
		return &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", len(p.blocks))}
	}
	return nil
}

// check validates a value meant for a node shaped like w: present, of w's
// shape, float64, finite.
func check(w *G.Node, v *tensor.Dense, what string) error {
	what = fmt.Sprintf("%s for %s", what, w.Name())
	if v == nil {
		return &errs.ShapeError{What: what, Reason: "nil"}
	}
	if !v.Shape().Eq(w.Shape()) {
		return &errs.ShapeError{What: what, Got: v.Shape(), Want: w.Shape()}
	}
	if v.Dtype() != tensor.Float64 {
		return &errs.ShapeError{What: what, Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
	}
	return finite(denseData(v), what)
}

func finite(xs []float64, what string) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return &errs.NotFiniteError{What: what, Index: i, Value: x}
		}
	}
	return nil
}

// checkAll validates one value per weight.
func (p *Products) checkAll(v []*tensor.Dense, what string) error {
	if len(v) != len(p.Weights) {
		return &errs.ShapeError{What: what, Reason: fmt.Sprintf("%d matrices for %d blocks", len(v), len(p.Weights))}
	}
	for k, w := range p.Weights {
		if err := check(w, v[k], what); err != nil {
			return err
		}
	}
	return nil
}

// bindWeights checks ws (nil: the weights' own values are used) and
// returns them as bindings.
func (p *Products) bindWeights(ws []*tensor.Dense) (graph.Values, error) {
	if ws == nil {
		return graph.Values{}, nil
	}
	if err := p.checkAll(ws, "weights"); err != nil {
		return nil, err
	}
	bind := graph.Values{}
	for k, w := range p.Weights {
		bind[w] = ws[k]
	}
	return bind, nil
}

// checkInputs validates the values of the graph's inputs that the loss
// reads (data, targets, weights), bound or their own: present, of the
// node's shape, float64, finite.
func (p *Products) checkInputs(bind graph.Values) error {
	for _, n := range p.inputs {
		v := bind[n]
		if v == nil {
			v = n.Value()
		}
		what := "input " + n.Name()
		if v == nil {
			return &errs.ShapeError{What: what, Reason: "has no value (gorgonia.Let it first)"}
		}
		if !v.Shape().Eq(n.Shape()) && !(v.Shape().IsScalar() && n.Shape().IsScalar()) {
			return &errs.ShapeError{What: what, Got: v.Shape(), Want: n.Shape()}
		}
		switch v := v.(type) {
		case *tensor.Dense:
			if v.Dtype() != tensor.Float64 {
				return &errs.ShapeError{What: what, Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
			}
			if err := finite(denseData(v), what); err != nil {
				return err
			}
		case *G.F64:
			if err := finite([]float64{float64(*v)}, what); err != nil {
				return err
			}
		default:
			return &errs.ShapeError{What: what, Reason: fmt.Sprintf("value of type %T", v)}
		}
	}
	return nil
}

// checkBlockDir validates a direction for block l: one matrix per weight
// of the block.
func (p *Products) checkBlockDir(l int, v []*tensor.Dense, what string) error {
	if err := p.checkBlock(l); err != nil {
		return err
	}
	ks := p.blocks[l].params
	if len(v) != len(ks) {
		return &errs.ShapeError{What: fmt.Sprintf("%s for block %s", what, p.blocks[l].name), Reason: fmt.Sprintf("%d matrices for %d weights", len(v), len(ks))}
	}
	for i, k := range ks {
		if err := check(p.Weights[k], v[i], what); err != nil {
			return err
		}
	}
	return nil
}
