package hvp

import (
	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// Block is a handle on one block of a Problem (a weight, or a weight and
// its bias): its diagonal Hessian block H_ll's products, its inverse
// products and their certificate, its conditions. Vectors given to and
// returned by its methods are of its layout, Layout() (a whole vector's
// part is v.Block(Index()); whole.Block(l).CopyFrom(u) puts u back).
// A Block made from a Problem made with WithStats adds to its Stats.
type Block struct {
	p *Problem
	l int
}

// Index is the block's index in its Problem.
func (b *Block) Index() int { return b.l }

// Name is the block's name: its weights' names joined by "+" (e.g.
// "W1+b1").
func (b *Block) Name() string { return b.p.blocks[b.l].name }

// Layout is the layout of the block's vectors: Problem.Layout().Block(l).
func (b *Block) Layout() *params.Layout { return b.p.layout.Block(b.l) }

// Hv returns H_ll v, the diagonal block of the Hessian times v (of the
// block's layout), by the R-pass, as Problem.Hv.
func (b *Block) Hv(v *params.Vector) (hv *params.Vector, err error) {
	defer errs.Recover("hvp.Block.Hv", &err)
	p := b.p
	if err := p.checkVec(v, b.Layout(), "direction"); err != nil {
		return nil, err
	}
	if hv, err = p.blockHv(b.l, v); err != nil {
		return nil, err
	}
	hv.Round()
	return hv, nil
}

// InvHv returns u = H_ll⁻¹ v (v of the block's layout) by the B-pass,
// certified: an error (an *errs.ConditionError, or errs.ErrNoInverse,
// ErrShape, ErrNotFinite) unless every check of opt passes (nil opt: the
// defaults). v = 0 gives u = 0.
func (b *Block) InvHv(v *params.Vector, opt *Options) (res *Result, err error) {
	defer errs.Recover("hvp.InvHv", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	p := b.p
	if err := p.checkVec(v, b.Layout(), "direction"); err != nil {
		return nil, err
	}
	out, err := p.invHv([]int{b.l}, map[int]*params.Vector{b.l: v}, o)
	if err != nil {
		return nil, err
	}
	out[0].U.Round()
	return out[0], nil
}

// Certify computes the residual ‖H_ll u − v‖/‖v‖ of a result for
// direction v (undamped; both of the block's layout) with the exact
// Block.Hv, and runs the checks of opt (nil: the defaults) as InvHv does:
// for callers that computed u another way (finite differences, conjugate
// gradients), whose results are KindRefused — not exact inverse products —
// and are certified by their residual alone. It sets res.Residual,
// res.NormalResidual (pseudo-inverses) and res.Certified, adds the flops
// of its products to res.Flops, and returns the failed check as an
// *errs.ConditionError unless opt asks for best effort. A method's own
// failure (CG not converged) is for the caller to record in res.Note
// before and to refuse after. A nil res is an *errs.ArgumentError.
func (b *Block) Certify(v *params.Vector, res *Result, opt *Options) (err error) {
	defer errs.Recover("hvp.Certify", &err)
	return b.p.certify(b.l, v, res, opt)
}

// Conditions returns the block's conditions report (method.md §4 and §9),
// building its passes but running nothing.
func (b *Block) Conditions() BlockConditions { return b.p.conditions(b.l) }

// Gram returns h̃ᵀh̃ (k×k) for a block with a per-sample route: h̃ is the
// layer's input, with a column of ones for a bias. The metric of
// Options.Damping is h̃ᵀh̃ ⊗ I, for references that build the damped
// operator.
func (b *Block) Gram() (g *mat.Dense, err error) {
	defer errs.Recover("hvp.Gram", &err)
	return b.p.gram(b.l)
}

// FunctionalInverse returns G_l⁻¹(g): the weight of a one-weight block
// whose block gradient is g (of the block's layout), the other blocks and
// inputs at their current values, by the inverse pass with
// piecewise-linear activations inverted by their plain functional inverse
// (their pattern follows the reconstructed values). Its central
// differences along v are the finite-difference approximation of
// H_ll⁻¹ v (package reference). Blocks without an op-by-op inverse pass
// (smooth activations, biases) have none.
func (b *Block) FunctionalInverse(g *params.Vector) (w *params.Vector, err error) {
	defer errs.Recover("hvp.FunctionalInverse", &err)
	return b.p.functionalInverse(b.l, g)
}
