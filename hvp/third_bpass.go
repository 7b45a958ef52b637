package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// InvHvThird returns u = H_ll⁻¹ v by the B-pass, certified as InvHv
// certifies it, and T_ll[u, u] (Block.Third at (u, u)): the first half of
// a Chebyshev step. Both come from one run of a program that extends the
// B-pass's: its certificate H_ll·u is the R-pass along the B-pass's own
// output, and the JVP of that R-pass along u, with u held fixed (its
// inverse pass not differentiated), is ∇³J[u, u] — so the third
// derivative reads the forward, gradient and R-pass values of the B-pass
// instead of running its own. The run also keeps what a later B-pass at
// the same inputs reuses (reuse.go), as InvHv's own would. Where the
// B-pass does not run in the graph (the dense and penalized routes),
// where a damping λ enters the certificate, for a float32 graph or with
// NoCertificate, the two products are computed by InvHv and Third, and
// Result.Note says so. v = 0 gives u = 0 and T = 0.
func (b *Block) InvHvThird(v *params.Vector, opt *Options) (res *Result, tuu *params.Vector, err error) {
	defer errs.Recover("hvp.InvHvThird", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	p, l := b.p, b.l
	if err := p.checkVec(v, b.Layout(), "direction"); err != nil {
		return nil, nil, err
	}
	r, err := p.routeFor(l, o)
	if err != nil {
		return nil, nil, err
	}
	if why := unfused(r, o, p.model.Dtype()); why != "" || v.Norm() == 0 {
		if res, err = b.InvHv(v, opt); err != nil {
			return nil, nil, err
		}
		if tuu, err = b.Third(res.U, res.U); err != nil {
			return nil, nil, err
		}
		if why != "" {
			res.Note = joinNote(res.Note, "T[u, u] by a run of its own: "+why)
		}
		return res, tuu, nil
	}
	if res, tuu, err = p.invHvThird(l, r, v, o); err != nil {
		return nil, nil, err
	}
	res.U.Round()
	tuu.Round()
	return res, tuu, nil
}

// invHvThird is InvHvThird's fused run for route r, v ≠ 0 checked: the
// B-pass program's roots (as invHv builds them for block l alone) and
// T[u, u] over its certificate, at v/‖v‖, scaled back.
func (p *Problem) invHvThird(l int, r *route, v *params.Vector, o Options) (*Result, *params.Vector, error) {
	third, err := p.fusedThird(l, r)
	if err != nil {
		return nil, nil, err
	}
	scale := v.Norm()
	u := unitOf(v, scale)
	bind := graph.Values{}
	for i, d := range r.dirs {
		bind[d] = valueOf(d, u.Weight(i))
	}
	if r.lambda != nil {
		bind[r.lambda] = G.NewF64(o.Damping) // 0 (unfused)
	}
	roots := append(append(append([]*G.Node{}, r.u...), r.hu...), r.damp...)
	if err := p.fitsRun([]int{l}, map[int]*route{l: r}, 0, o.MaxBytes, "Options.MaxBytes"); err != nil {
		return nil, nil, err
	}
	q, flops := p.counting()
	vals, err := q.runSeeding(invKey(l, r), roots, r.dirs, third, bind, cost{rows: p.batch*int64(len(r.cols)+3) + 4*p.batch, invhv: 1, other: 1}, r.keep...)
	if err != nil {
		return nil, nil, p.model.UserError(p.blockError([]int{l}, map[int]*route{l: r}, err))
	}
	share := *flops
	q, flops = p.counting()
	res, err := q.result(l, r, v, scale, vals, o)
	if err != nil {
		return nil, nil, err
	}
	res.Flops = *flops + share
	t, err := p.vector(p.layout.Block(l), vals, third)
	if err != nil {
		return nil, nil, err
	}
	// T[u, u] = ‖v‖²·T[u/‖v‖, u/‖v‖], in two steps: ‖v‖² may overflow where T does not.
	t.Scale(scale)
	return res, t, scaledFinite(scale, t, func(int) string { return "T[u, u] for " + p.blocks[l].name })
}

// unfused says why InvHvThird cannot fuse its two products for route r
// ("" when it can).
func unfused(r *route, o Options, dt tensor.Dtype) string {
	switch {
	case r.solvedOutside():
		return fmt.Sprintf("its route (%v) solves outside the graph", r.method)
	case r.kind == KindRefused:
		return "the B-pass is refused"
	case o.NoCertificate:
		return "no certificate asked for"
	case o.Damping != 0 && r.lambda != nil:
		return "a damping λ enters the certificate"
	case dt != tensor.Float64:
		return "a float32 graph"
	}
	return ""
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// fusedThird builds, on first use, T[u, u] over route r's certificate:
// the JVP of H·u (r.hu) along u at the weights of block l, seeded with
// the B-pass's outputs r.u and held to them by nil seeds on every node of
// the B-pass (the R-pass's tangent u is not differentiated).
func (p *Problem) fusedThird(l int, r *route) ([]*G.Node, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.third != nil || r.thirdErr != nil {
		return r.third, r.thirdErr
	}
	seeds := map[*G.Node]*G.Node{}
	for _, ps := range r.passes[:len(r.passes)-1] { // the last is the certificate's (certificate)
		for _, n := range ps.Nodes {
			seeds[n] = nil
		}
	}
	for _, n := range r.u {
		seeds[n] = nil
	}
	grads := make([]*G.Node, len(p.blocks[l].params))
	for i, k := range p.blocks[l].params {
		seeds[p.ws[k]] = r.u[i]
		grads[i] = p.grad.Grads[k]
	}
	roots, _, err := graph.JVP("third-order pass over the certificate of "+p.blocks[l].name, r.hu, seeds)
	if err == nil {
		for i := range roots {
			if roots[i], err = nonNil(roots[i], grads[i]); err != nil {
				break
			}
		}
	}
	if err != nil {
		r.thirdErr = p.model.UserError(err)
		return nil, r.thirdErr
	}
	r.third = roots
	return roots, nil
}
