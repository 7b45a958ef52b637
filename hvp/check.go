package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
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
	what = fmt.Sprintf("%s for %s", what, errs.Name(w))
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
	if i := ops.FirstNonFinite(xs); i >= 0 {
		return &errs.NotFiniteError{What: what, Index: i, Value: xs[i]}
	}
	return nil
}

// in validates v, a value given for weight k in the user's shape and
// dtype, and returns it as the passes take it: float64, shaped like the
// (private) weight node — v itself when nothing needs converting.
func (p *Products) in(k int, v *tensor.Dense, what string) (*tensor.Dense, error) {
	if p.tr == nil {
		return v, check(p.ws[k], v, what)
	}
	out, err := p.tr.ToInternal(k, v, what)
	if err != nil {
		return nil, err
	}
	return out, finite(denseData(out), fmt.Sprintf("%s for %s", what, errs.Name(p.Weights[k])))
}

// out returns v, a float64 value of weight k's node, in the user's shape
// and dtype (rounded to nearest for float32).
func (p *Products) out(k int, v *tensor.Dense) *tensor.Dense {
	if p.tr == nil || v == nil {
		return v
	}
	return p.tr.ToUser(k, v)
}

// checkAll validates one value per weight (see in).
func (p *Products) checkAll(v []*tensor.Dense, what string) ([]*tensor.Dense, error) {
	if len(v) != len(p.ws) {
		return nil, &errs.ShapeError{What: what, Reason: fmt.Sprintf("%d matrices for %d blocks", len(v), len(p.ws))}
	}
	out := make([]*tensor.Dense, len(v))
	for k := range p.ws {
		var err error
		if out[k], err = p.in(k, v[k], what); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// outAll is out for one value per weight.
func (p *Products) outAll(v []*tensor.Dense) []*tensor.Dense {
	if p.tr == nil {
		return v
	}
	out := make([]*tensor.Dense, len(v))
	for k := range v {
		out[k] = p.out(k, v[k])
	}
	return out
}

// outBlock is out for one value per weight of block l.
func (p *Products) outBlock(l int, v []*tensor.Dense) []*tensor.Dense {
	if p.tr == nil {
		return v
	}
	out := make([]*tensor.Dense, len(v))
	for i, k := range p.blocks[l].params {
		if i < len(v) {
			out[i] = p.out(k, v[i])
		}
	}
	return out
}

// bindWeights checks ws (nil: the weights' own values are used) and
// returns them as bindings.
func (p *Products) bindWeights(ws []*tensor.Dense) (graph.Values, error) {
	if ws == nil {
		return graph.Values{}, nil
	}
	ws, err := p.checkAll(ws, "weights")
	if err != nil {
		return nil, err
	}
	bind := graph.Values{}
	for k, w := range p.ws {
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
		what := "input " + errs.Name(n)
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
// (see in).
func (p *Products) checkBlockDir(l int, v []*tensor.Dense, what string) ([]*tensor.Dense, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	ks := p.blocks[l].params
	if len(v) != len(ks) {
		return nil, &errs.ShapeError{What: fmt.Sprintf("%s for block %s", what, p.blocks[l].name), Reason: fmt.Sprintf("%d matrices for %d weights", len(v), len(ks))}
	}
	out := make([]*tensor.Dense, len(v))
	for i, k := range ks {
		var err error
		if out[i], err = p.in(k, v[i], what); err != nil {
			return nil, err
		}
	}
	return out, nil
}
