package hvp

import (
	"errors"
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
)

// ggn is the Gauss–Newton pass, built on first use.
type ggn struct {
	z     *G.Node   // the net's output (the last of zs)
	zs    []*G.Node // the net's outputs: z alone, or one per output of a loss summed over several (an RNN's steps)
	pens  []*G.Node // penalty terms of the loss: scalars of the weights alone, added to it
	out   []*G.Node // G v, one per weight
	err   error
	built bool
}

// GGNv returns the generalised Gauss–Newton product (Schraudolph 2002;
// Martens 2010)
//
//	G v = J_zᵀ (∂²J/∂z²) J_z v
//
// with z the net's output (see ggnOutput): the Hessian of the loss with the
// net linearised at z. A loss summed over several outputs that together
// separate the weights from it (an RNN's loss at every step, two heads)
// linearises at all of them: G v = Σ_{s,t} J_sᵀ (∂²J/∂z_s∂z_t) J_t v
// (ggnOutputs). It is positive semi-definite wherever the loss is
// convex in z (squared error, softmax and sigmoid cross-entropy), unlike H,
// and is what Hessian-free optimisation (solver.HF) solves with. Penalty
// terms of the weights alone (weight decay, see ggnOutput) add their exact
// Hessian: G v = J_zᵀ (∂²L/∂z²) J_z v + Σ_t c_t ∇²P_t v. One pass:
// J_z v forward (R-pass to z), the loss's Hessian at z by a JVP of ∂J/∂z,
// then the gradient of ⟨z, stop(·)⟩ back to the weights: about two
// gradients. v is of Layout, as for Hv.
func (p *Problem) GGNv(v *params.Vector) (gv *params.Vector, err error) {
	defer errs.Recover("hvp.GGNv", &err)
	if err := p.checkVec(v, p.layout, "direction"); err != nil {
		return nil, err
	}
	gg, err := p.ggnPass()
	if err != nil {
		return nil, err
	}
	if gv, err = p.linear("ggn", gg.out, v, "G v", cost{rows: 2 * p.batch, ggnv: 1}); err != nil {
		return nil, err
	}
	gv.Round()
	return gv, nil
}

// ggnOutputNode returns the node z the Gauss–Newton products linearise at:
// where the net ends and the loss begins. It is the last node, in
// topological order, that
//
//   - is a layer's linear map: a product h·W, a bias add (G.BroadcastAdd),
//     or the sum or difference of two tensors that both depend on the
//     weights (a bias added with G.Add, a skip connection), not a scalar;
//   - separates the weights from the loss: every weight reaches the loss
//     only through z, or through a penalty term, so that
//     J = L(z(w)) + Σ_t c_t P_t(w) with L free of weights;
//   - is one where L is curved, if any is: not the sum inside a binary
//     cross-entropy, where L is linear and G would be 0 (ggnOutput).
//
// A penalty term is a scalar added to the loss (through sums, differences
// and weight-free scalings) that reads the weights but neither z nor the
// net's inputs: weight decay λ·Σ W², Σ|W|, a prior ‖W − W₀‖². GGNv adds its
// exact Hessian (method.md §11). A graph with no such z (two outputs with
// separate losses) has no single Gauss–Newton output (the last of the
// outputs is returned then, see ggnOutputs); a weight that reaches the
// loss through no output is an error naming it. It is the user's node
// where the translation has one.
func (p *Problem) ggnOutputNode() (*G.Node, error) {
	gg, err := p.ggnPass()
	if err != nil {
		return nil, err
	}
	if u := p.model.UserNode(gg.z); u != nil {
		return u, nil
	}
	return gg.z, nil
}

func (p *Problem) ggnPass() (*ggn, error) {
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
		var err error
		if gg.zs, gg.pens, err = ggnOutputs(p.loss, p.ws, p.curvedAt); err != nil {
			var nr *errs.NoRuleError
			if p.model.Translated() && errors.As(err, &nr) { // name the user's nodes in the reason
				nr.Err = errors.New(p.model.Annotate(nr.Err.Error()))
			}
			return err
		}
		gg.z = gg.zs[len(gg.zs)-1]
		adjs := make([]*G.Node, len(gg.zs))
		for i, z := range gg.zs {
			if adjs[i] = p.grad.Adjoints[z]; adjs[i] == nil {
				return &errs.NoRuleError{Node: z, Op: z.Op(), Rule: "Gauss–Newton output", Err: fmt.Errorf("no adjoint")}
			}
		}
		seeds := map[*G.Node]*G.Node{}
		for k, w := range p.ws {
			seeds[w] = p.tangents[k]
		}
		jz, _, err := graph.JVP("GGN J v", gg.zs, seeds)
		if err != nil {
			return err
		}
		zseeds := map[*G.Node]*G.Node{}
		for i, z := range gg.zs {
			if jz[i] == nil {
				return &errs.NoRuleError{Node: z, Op: z.Op(), Rule: "Gauss–Newton", Err: fmt.Errorf("the output does not depend on the weights")}
			}
			zseeds[z] = jz[i]
		}
		// ∇²_Z L · J_Z v: the outputs are no one's inputs (ggnOutputs), so
		// seeding all of them at once differentiates L(z_1, …, z_T) jointly.
		hz, _, err := graph.JVP("GGN H_L J v", adjs, zseeds)
		if err != nil {
			return err
		}
		var surrogate *G.Node
		for i, z := range gg.zs {
			if hz[i] == nil { // a loss linear in z: G = 0
				if hz[i], err = ops.ZerosLike(z); err != nil {
					return err
				}
			}
			stopped, err := ops.Stop(hz[i])
			if err != nil {
				return err
			}
			term, err := ops.Inner(z, stopped)
			if err != nil {
				return err
			}
			if surrogate == nil {
				surrogate = term
			} else if surrogate, err = ops.Add(surrogate, term); err != nil {
				return err
			}
		}
		back, err := graph.BuildGradient(surrogate, p.ws)
		if err != nil {
			return err
		}
		gg.out = back.Grads
		return p.addPenaltyHessian(gg)
	}()
	gg.err = p.model.UserError(gg.err)
	return gg, gg.err
}

// ggnOutput returns the Gauss–Newton output of loss for weights ws (see
// ggnOutputNode): the last candidate node (a layer's linear map depending on
// the weights, not a scalar) through which every weight reaches the loss
// and at which the loss is curved (curved(z), nil: always) — a sum of two
// weight-dependent terms inside the loss, such as a binary cross-entropy
// y⊙log p + (1 − y)⊙log(1 − p), separates the weights from the loss too,
// but the loss is linear there (G = 0): the last separating candidate is
// taken only if no earlier one is curved. Paths through piecewise-constant
// nodes (derivative masks) carry no derivative and are not counted.
func ggnOutput(loss *G.Node, ws []*G.Node, curved func(z *G.Node) bool) (*G.Node, []*G.Node, error) {
	order := graph.Sorted(loss)
	isWeight := map[*G.Node]bool{}
	for _, w := range ws {
		isWeight[w] = true
	}
	weightDep := dependents(order, isWeight)
	cands := ggnCandidates(order, isWeight)
	if len(cands) == 0 {
		return nil, nil, &errs.NoRuleError{Node: loss, Op: loss.Op(), Rule: "Gauss–Newton output",
			Err: fmt.Errorf("no linear layer (a product h·W, a bias add, a sum of two weight-dependent tensors) depends on the weights: no output to linearise at")}
	}
	last := cands[len(cands)-1]
	var flatZ *G.Node // the last separating candidate, the loss linear at it
	var flatPens []*G.Node
	for i := len(cands) - 1; i >= 0; i-- {
		z := cands[i]
		data := map[*G.Node]bool{} // the net's inputs: x, not the weights
		for _, n := range graph.Inputs(z) {
			data[n] = !isWeight[n]
		}
		pens := penalties(loss, weightDep, dependents(order, map[*G.Node]bool{z: true}), data)
		blocked := map[*G.Node]bool{z: true}
		for _, t := range pens {
			blocked[t] = true
		}
		if bypassing(order, loss, isWeight, blocked) == nil {
			if curved == nil || curved(z) {
				return z, pens, nil
			}
			if flatZ == nil {
				flatZ, flatPens = z, pens
			}
		}
	}
	if flatZ != nil {
		return flatZ, flatPens, nil
	}
	w := bypassing(order, loss, isWeight, map[*G.Node]bool{last: true})
	return nil, nil, &errs.NoRuleError{Node: last, Op: last.Op(), Rule: "Gauss–Newton output",
		Err: fmt.Errorf("weight %s reaches the loss other than through the last layer's output %s, and no node separates every weight from the loss (a penalty on the weights added to the loss, or two outputs with separate losses): there is no net output z with J = L(z(w)) to linearise at",
			errs.Label(w), errs.Label(last))}
}

// ggnOutputs returns the Gauss–Newton outputs of loss: the output z of
// ggnOutput when there is one; else, for a loss summed over several
// outputs (an RNN's loss at every step: J = Σ_t L_t(z_t)), the last
// candidates — those no other candidate depends on, so that none is
// another's input — when together (with the penalty terms) they separate
// every weight from the loss: then J = L(z_1, …, z_T) and
// G = Σ_{s,t} J_sᵀ (∂²L/∂z_s∂z_t) J_t. Otherwise ggnOutput's error.
func ggnOutputs(loss *G.Node, ws []*G.Node, curved func(z *G.Node) bool) ([]*G.Node, []*G.Node, error) {
	z, pens, err := ggnOutput(loss, ws, curved)
	if err == nil {
		return []*G.Node{z}, pens, nil
	}
	order := graph.Sorted(loss)
	isWeight := map[*G.Node]bool{}
	for _, w := range ws {
		isWeight[w] = true
	}
	cands := ggnCandidates(order, isWeight)
	isCand := map[*G.Node]bool{}
	for _, c := range cands {
		isCand[c] = true
	}
	var last []*G.Node
	for _, c := range cands {
		below := dependents(order, map[*G.Node]bool{c: true})
		feeds := false
		for _, d := range cands {
			if d != c && below[d] {
				feeds = true
				break
			}
		}
		if !feeds {
			last = append(last, c)
		}
	}
	if len(last) < 2 {
		return nil, nil, err
	}
	blocked := map[*G.Node]bool{}
	data := map[*G.Node]bool{}
	for _, z := range last {
		blocked[z] = true
		for _, n := range graph.Inputs(z) {
			data[n] = data[n] || !isWeight[n]
		}
	}
	pens = penalties(loss, dependents(order, isWeight), dependents(order, blocked), data)
	for _, t := range pens {
		blocked[t] = true
	}
	if bypassing(order, loss, isWeight, blocked) != nil {
		return nil, nil, err
	}
	return last, pens, nil
}

// ggnCandidates returns, in topological order, the nodes that may be a
// Gauss–Newton output: a layer's linear map depending on the weights, not
// a scalar (a product, a bias add, a sum or difference of two tensors that
// both depend on the weights).
func ggnCandidates(order []*G.Node, isWeight map[*G.Node]bool) []*G.Node {
	dep := map[*G.Node]bool{}
	var cands []*G.Node
	for _, n := range order {
		if isWeight[n] {
			dep[n] = true
			continue
		}
		if n.Op() == nil || ops.IsPiecewiseConstant(n.Op()) {
			continue
		}
		deps := 0
		for _, c := range graph.Children(n) {
			if dep[c] {
				deps++
			}
		}
		if deps == 0 {
			continue
		}
		dep[n] = true
		if n.Shape().IsScalar() {
			continue
		}
		switch n.Op().(type) {
		case ops.MatMulOp, ops.BiasAddOp:
			cands = append(cands, n)
		case ops.AddOp, ops.SubOp:
			if deps >= 2 {
				cands = append(cands, n)
			}
		}
	}
	return cands
}

// bypassing returns a weight that reaches loss (order: its topological
// order) by a path that avoids the blocked nodes (z and the penalty terms)
// and every piecewise-constant node, or nil when they separate every
// weight from the loss.
func bypassing(order []*G.Node, loss *G.Node, isWeight map[*G.Node]bool, blocked map[*G.Node]bool) *G.Node {
	from := map[*G.Node]*G.Node{}
	for _, n := range order {
		switch {
		case isWeight[n]:
			from[n] = n
		case blocked[n] || n.Op() == nil || ops.IsPiecewiseConstant(n.Op()):
		default:
			for _, c := range graph.Children(n) {
				if w := from[c]; w != nil {
					from[n] = w
					break
				}
			}
		}
	}
	return from[loss]
}

// dependents returns the nodes of order (topological) that depend on one of
// the roots by a path carrying a derivative (not through a
// piecewise-constant node).
func dependents(order []*G.Node, roots map[*G.Node]bool) map[*G.Node]bool {
	dep := map[*G.Node]bool{}
	for _, n := range order {
		if roots[n] {
			dep[n] = true
			continue
		}
		if n.Op() == nil || ops.IsPiecewiseConstant(n.Op()) {
			continue
		}
		for _, c := range graph.Children(n) {
			if dep[c] {
				dep[n] = true
				break
			}
		}
	}
	return dep
}

// curvedAt reports whether the loss may be curved at node z: whether z's
// adjoint in the gradient pass depends on z (∂J/∂z is constant in z when
// the loss is linear in it, and then its Gauss–Newton matrix at z is 0).
func (p *Problem) curvedAt(z *G.Node) bool {
	adj := p.grad.Adjoints[z]
	if adj == nil {
		return false
	}
	return dependents(graph.Sorted(adj), map[*G.Node]bool{z: true})[adj]
}
