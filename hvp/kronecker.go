package hvp

import (
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// Factors are one layer's Kronecker factors at the current inputs (K-FAC,
// Martens & Grosse 2015): for a block with a per-sample route, net = h̃·W̃
// with h̃ the B rows of the layer's input (and a column of ones with a
// bias), A = h̃ᵀh̃/B, the second moment of the input rows, and
// DD = δᵀδ, δ = ∂J/∂net the B rows of the gradient pass's adjoint of the
// pre-activation. A ⊗ DD approximates the block's Gauss–Newton matrix
// Σ_i h̃_iᵀh̃_i ⊗ J_iᵀH_iJ_i when the targets are drawn from the model's own
// predictive distribution (then E[δ_iδ_iᵀ] = J_iᵀH_iJ_i up to the loss's
// per-sample weight): it is exact in expectation for one sample and an
// approximation across samples; with the data's targets DD is the
// empirical Fisher's factor. The constant between A ⊗ DD and the
// Gauss–Newton matrix depends on the reduction (1 for a sum, B for a mean)
// and is not applied: scale-free damping absorbs it.
//
// A block whose weights an L2 penalty reads (weight decay, method.md §11)
// has Penalty, as Curvature.Penalty: the constant c_a of the penalty's
// Hessian on each row a of W̃ (2λ on W's rows for λ·Σ W², 0 on a bias
// not decayed), which K-FAC folds into its damping; nil for a block
// without a penalty. PenaltyErr says why Penalty is nil for a penalty
// that is not L2 (the factors are the data term's; the penalty's
// curvature is not among them).
type Factors struct {
	A, DD      *mat.SymDense
	Penalty    []float64
	PenaltyErr error
}

// KroneckerFactors are the loss, its gradient and every block's Factors
// from one run of the gradient pass (Problem.Kronecker).
type KroneckerFactors struct {
	Loss float64
	Grad *params.Vector
	// Factors holds block l's factors at l, nil for a block without a
	// per-sample route (no layer structure, or a loss that is not
	// row-separable), whose Err[l] says why.
	Factors []*Factors
	Err     []error
}

// Kronecker returns the loss, its gradient (as Gradient) and every block's
// Factors from one run of the gradient pass at the inputs as bound.
func (p *Problem) Kronecker() (kf *KroneckerFactors, err error) {
	defer errs.Recover("hvp.Kronecker", &err)
	kf = &KroneckerFactors{Factors: make([]*Factors, len(p.blocks)), Err: make([]error, len(p.blocks))}
	roots := append([]*G.Node{p.loss}, p.grad.Grads...)
	routes := make([]*route, len(p.blocks))
	var key strings.Builder
	key.WriteString("kronecker")
	for l := range p.blocks {
		r, err := p.perSampleOf(l)
		if err != nil {
			kf.Err[l] = err
			continue
		}
		routes[l] = r
		roots = append(roots, r.rows, r.delta)
		key.WriteString("/" + p.blocks[l].name)
	}
	vals, err := p.run(key.String(), roots, nil, cost{rows: p.batch, gradients: 1})
	if err != nil {
		return nil, err
	}
	if kf.Loss, err = scalarValue(vals, p.loss); err != nil {
		return nil, err
	}
	if kf.Grad, err = p.vector(p.layout, vals, p.grad.Grads); err != nil {
		return nil, err
	}
	kf.Grad.Round()
	for l, r := range routes {
		if r == nil {
			continue
		}
		h, err := flatValue(vals, r.rows)
		if err != nil {
			return nil, err
		}
		d, err := flatValue(vals, r.delta)
		if err != nil {
			return nil, err
		}
		hs := r.rows.Shape()
		a := gram(hs[0], hs[1], h)
		a.ScaleSym(1/float64(hs[0]), a)
		ds := r.delta.Shape()
		kf.Factors[l] = &Factors{A: a, DD: gram(ds[0], ds[1], d)}
		if main := p.blocks[l].main; main != nil && main.pen != nil {
			pc, pr, err := p.penaltyReport(l, main)
			switch {
			case err != nil:
				return nil, err
			case pr.kind == penaltyL2:
				kf.Factors[l].Penalty = rowConstants(pr, hs[1], main.bias)
			default:
				kf.Factors[l].PenaltyErr = &errs.ConditionError{Block: l, Weight: p.blocks[l].name, Node: pc.Node, Reason: "factors of the data term only: " + pc.Reason}
			}
		}
	}
	return kf, nil
}

// gram returns XᵀX for the rows×cols row-major X, as a full product (on
// the fast Dgemm: twice the flops of a symmetric update, several times
// faster than gonum's Dsyrk).
func gram(rows, cols int, x []float64) *mat.SymDense {
	g := blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: x}
	out := blas64.General{Rows: cols, Cols: cols, Stride: cols, Data: make([]float64, cols*cols)}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, g, g, 0, out)
	return mat.NewSymDense(cols, out.Data)
}
