package hvp

import (
	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// scalarRoute returns the route of a one-parameter block (MethodScalar),
// nil for another block.
func (p *Problem) scalarRoute(b *block) (*route, error) {
	if len(b.params) != 1 || p.ws[b.params[0]].Shape().TotalSize() != 1 {
		return nil, nil
	}
	k := b.params[0]
	w, gl := p.ws[k], p.grad.Grads[k]
	var bld ops.Builder
	one := bld.Apply(ops.FillOp{C: 1}, w)
	if bld.Err != nil {
		return nil, bld.Err
	}
	h, pass, err := graph.JVP("second derivative "+w.Name(), []*G.Node{gl}, map[*G.Node]*G.Node{w: one})
	if err != nil {
		return nil, err
	}
	if h[0] == nil {
		return nil, &errs.NoRuleError{Node: gl, Op: gl.Op(), Rule: "inverse",
			Err: &errs.NoInverseError{Op: "block " + b.name, Input: -1, Reason: "its second derivative is identically zero: the gradient does not depend on the weight"}}
	}
	r := &route{method: MethodScalar, kind: KindExact, dirs: []*G.Node{input(w.Graph(), w, "d")}}
	r.u = []*G.Node{bld.Apply(ops.DivOp{}, r.dirs[0], h[0])}
	if bld.Err != nil {
		return nil, bld.Err
	}
	r.reasons = []string{"scalar route: a block of one parameter, u = v / (∂²J/∂w²)"}
	r.passes = []graph.Pass{pass}
	return r, p.certificate(b, r, pass.Nodes)
}
