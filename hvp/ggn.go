package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ggn is the Gauss–Newton pass, built on first use.
type ggn struct {
	z     *G.Node   // the net's output
	out   []*G.Node // G v, one per weight
	err   error
	built bool
}

// GGNv returns the generalised Gauss–Newton product (Schraudolph 2002;
// Martens 2010)
//
//	G v = J_zᵀ (∂²J/∂z²) J_z v
//
// with z the net's output (GGNOutput): the Hessian of the loss with the
// net linearised at z. It is positive semi-definite wherever the loss is
// convex in z (squared error, softmax and sigmoid cross-entropy), unlike H,
// and is what Hessian-free optimisation (solver.HF) solves with. One pass:
// J_z v forward (R-pass to z), the loss's Hessian at z by a JVP of ∂J/∂z,
// then the gradient of ⟨z, stop(·)⟩ back to the weights: about two
// gradients. v is one matrix per weight, as for Hv.
func (p *Products) GGNv(v []*tensor.Dense) (gv []*tensor.Dense, err error) {
	defer errs.Recover("hvp.GGNv", &err)
	if v, err = p.checkAll(v, "direction"); err != nil {
		return nil, err
	}
	gg, err := p.ggnPass()
	if err != nil {
		return nil, err
	}
	out, err := p.linear("ggn", gg.out, v, "G v")
	if err != nil {
		return nil, err
	}
	return p.outAll(out), nil
}

// GGNOutput returns the node the Gauss–Newton products linearise at: the
// output of the last linear layer (MatMul or bias add) that the loss
// reads; everything after it counts as the loss.
func (p *Products) GGNOutput() (*G.Node, error) {
	gg, err := p.ggnPass()
	if err != nil {
		return nil, err
	}
	if p.tr != nil {
		if u := p.tr.UserNode(gg.z); u != nil {
			return u, nil
		}
	}
	return gg.z, nil
}

func (p *Products) ggnPass() (*ggn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ggn == nil {
		p.ggn = &ggn{}
	}
	gg := p.ggn
	if gg.built {
		return gg, gg.err
	}
	gg.built = true
	gg.err = func() error {
		dep := map[*G.Node]bool{}
		for _, w := range p.ws {
			dep[w] = true
		}
		for _, n := range graph.Sorted(p.loss) {
			for _, c := range graph.Children(n) {
				if dep[c] {
					dep[n] = true
				}
			}
			switch n.Op().(type) {
			case ops.MatMulOp, ops.BiasAddOp:
				if dep[n] {
					gg.z = n
				}
			}
		}
		if gg.z == nil {
			return &errs.NoRuleError{Node: p.loss, Op: p.loss.Op(), Rule: "Gauss–Newton output",
				Err: fmt.Errorf("no linear layer (MatMul or bias add) depends on the weights: no output to linearise at")}
		}
		adj := p.grad.Adjoints[gg.z]
		if adj == nil {
			return &errs.NoRuleError{Node: gg.z, Op: gg.z.Op(), Rule: "Gauss–Newton output", Err: fmt.Errorf("no adjoint")}
		}
		seeds := map[*G.Node]*G.Node{}
		for k, w := range p.ws {
			seeds[w] = p.tangents[k]
		}
		jz, _, err := graph.JVP("GGN J v", []*G.Node{gg.z}, seeds)
		if err != nil {
			return err
		}
		if jz[0] == nil {
			return &errs.NoRuleError{Node: gg.z, Op: gg.z.Op(), Rule: "Gauss–Newton", Err: fmt.Errorf("the output does not depend on the weights")}
		}
		hz, _, err := graph.JVP("GGN H_L J v", []*G.Node{adj}, map[*G.Node]*G.Node{gg.z: jz[0]})
		if err != nil {
			return err
		}
		if hz[0] == nil { // a loss linear in z: G = 0
			if hz[0], err = ops.ZerosLike(gg.z); err != nil {
				return err
			}
		}
		stopped, err := ops.Stop(hz[0])
		if err != nil {
			return err
		}
		surrogate, err := ops.Inner(gg.z, stopped)
		if err != nil {
			return err
		}
		back, err := graph.BuildGradient(surrogate, p.ws)
		if err != nil {
			return err
		}
		gg.out = back.Grads
		return nil
	}()
	gg.err = p.userError(gg.err)
	return gg, gg.err
}
