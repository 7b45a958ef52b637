package hvp

import (
	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
)

// third is the pass of the third directional derivative: the JVP, along
// tangents U at the weights, of the R-pass's outputs H(w)·V.
type third struct {
	built bool
	err   error
	us    []*G.Node // the tangent inputs U_k, one per weight
	roots []*G.Node // ∇³J[U, V], one per weight
}

// thirdPass builds, on first use, the JVP of the R-pass along new tangent
// inputs U at the weights (the R-pass's own tangents V held fixed): its
// outputs are ∂/∂w (H(w)·V)·U = ∇³J[U, V]. It needs every op of the
// R-pass to have a JVP rule, which holds when every op's JVP rule is
// built from ops with JVP rules; the op that has none is named.
func (p *Problem) thirdPass() (*third, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.third == nil {
		p.third = &third{}
	}
	t := p.third
	if t.built {
		return t, t.err
	}
	t.built = true
	t.err = func() error {
		g := p.loss.Graph()
		seeds := map[*G.Node]*G.Node{}
		for _, w := range p.ws {
			u := input(g, w, "u")
			t.us = append(t.us, u)
			seeds[w] = u
		}
		roots, _, err := graph.JVP("third-order pass", p.hv, seeds)
		if err != nil {
			return p.model.UserError(err)
		}
		for l := range roots {
			// A nil tangent: H·V does not depend on the weights there (a
			// quadratic loss, or a frozen activation pattern): T = 0.
			if roots[l], err = nonNil(roots[l], p.grad.Grads[l]); err != nil {
				return err
			}
		}
		t.roots = roots
		return nil
	}()
	return t, t.err
}

// Third returns ∇³J[u, v], the exact third directional derivative of the
// loss: the vector whose k-th entry is Σ_ij ∂³J/∂w_k∂w_i∂w_j u_i v_j, the
// derivative of H(w)·v along u (u and v of Layout). It is symmetric in u
// and v, and T[u, u] is the second derivative of the gradient along u.
// It is computed by a JVP of the R-pass (the rewriter's forward mode run
// on the Hv program), at u/‖u‖ and v/‖v‖ and scaled back; u = 0 or v = 0
// gives zeros. Within an activation pattern of a piecewise-linear net,
// the derivative of the pattern is zero, and so is the pass's. A graph
// with an op whose JVP rule builds an op without one is an
// *errs.NoRuleError naming it.
func (p *Problem) Third(u, v *params.Vector) (t *params.Vector, err error) {
	defer errs.Recover("hvp.Third", &err)
	if err := p.checkVec(u, p.layout, "direction u"); err != nil {
		return nil, err
	}
	if err := p.checkVec(v, p.layout, "direction v"); err != nil {
		return nil, err
	}
	if t, err = p.thirdChecked(u, v); err != nil {
		return nil, err
	}
	t.Round()
	return t, nil
}

// thirdChecked is Third for directions already checked, unrounded.
func (p *Problem) thirdChecked(u, v *params.Vector) (*params.Vector, error) {
	tp, err := p.thirdPass()
	if err != nil {
		return nil, err
	}
	su, sv := u.Norm(), v.Norm()
	if su == 0 || sv == 0 {
		if err := p.model.Check(); err != nil {
			return nil, err
		}
		return params.New(p.layout), nil
	}
	uu, vu := unitOf(u, su), unitOf(v, sv)
	bind := graph.Values{}
	for k := range p.ws {
		bind[p.tangents[k]] = valueOf(p.tangents[k], vu.Weight(k))
		bind[tp.us[k]] = valueOf(tp.us[k], uu.Weight(k))
	}
	vals, err := p.run("third", tp.roots, bind, cost{rows: 4 * p.batch, other: 1})
	if err != nil {
		return nil, err
	}
	out, err := p.vector(p.layout, vals, tp.roots)
	if err != nil {
		return nil, err
	}
	// Scaled in two steps: su·sv may overflow where the result does not.
	out.Scale(su)
	return out, scaledFinite(sv, out, func(k int) string { return "T[u, v] for " + p.layout.Name(k) })
}

// Third returns T_ll[u, v], block l's part of ∇³J[u, v] for u and v of
// the block's layout (zero on the other blocks): the derivative of
// H_ll(w)·v along u, as Problem.Third.
func (b *Block) Third(u, v *params.Vector) (t *params.Vector, err error) {
	defer errs.Recover("hvp.Block.Third", &err)
	p := b.p
	if err := p.checkVec(u, b.Layout(), "direction u"); err != nil {
		return nil, err
	}
	if err := p.checkVec(v, b.Layout(), "direction v"); err != nil {
		return nil, err
	}
	if t, err = p.blockThird(b.l, u, v); err != nil {
		return nil, err
	}
	t.Round()
	return t, nil
}

// blockThird is Block.Third for directions already checked, unrounded.
func (p *Problem) blockThird(l int, u, v *params.Vector) (*params.Vector, error) {
	wu, wv := params.New(p.layout), params.New(p.layout)
	wu.Block(l).CopyFrom(u)
	wv.Block(l).CopyFrom(v)
	t, err := p.thirdChecked(wu, wv)
	if err != nil {
		return nil, err
	}
	return t.Block(l).Clone(), nil
}
