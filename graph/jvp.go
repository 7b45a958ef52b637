package graph

import (
	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// JVP adds to the graph the forward-mode tangents of roots: with seeds
// mapping some nodes s to tangent nodes ṡ, each node n gets
//
//	R{n} = Σ_s (∂n/∂s) ṡ
//
// by each op's JVP rule, nodes after inputs (Pearlmutter 1994). Tangents
// are not propagated below a seeded node. A nil entry of the result means
// a zero tangent. Seeded with V_k at the weights over a gradient pass, this
// is the R-pass (R{g} = H v); seeded with v at g_l over an inverse pass, it
// is the B-pass (B{W_l} = H_ll⁻¹ v).
func JVP(name string, roots []*G.Node, seeds map[*G.Node]*G.Node) ([]*G.Node, Pass, error) {
	out := make([]*G.Node, len(roots))
	if len(roots) == 0 {
		return out, Pass{Name: name}, nil
	}
	tan := make(map[*G.Node]*G.Node)
	pass, err := record(roots[0].Graph(), name, func() error {
		for _, n := range topo(roots...) {
			if s, ok := seeds[n]; ok {
				tan[n] = s
				continue
			}
			if n.Op() == nil || isFrozen(n) {
				continue
			}
			in := Children(n)
			ts := make([]*G.Node, len(in))
			any := false
			for i, c := range in {
				ts[i] = tan[c]
				any = any || ts[i] != nil
			}
			if !any {
				continue
			}
			jvp, ok := n.Op().(ops.JVPer)
			if !ok {
				return &errs.NoRuleError{Node: n, Op: n.Op(), Rule: "JVP"}
			}
			t, err := jvp.JVP(in, n, ts)
			if err != nil {
				return &errs.NoRuleError{Node: n, Op: n.Op(), Rule: "JVP", Err: err}
			}
			tan[n] = t
		}
		return nil
	})
	if err != nil {
		return nil, pass, err
	}
	for i, r := range roots {
		out[i] = tan[r]
	}
	return out, pass, nil
}
