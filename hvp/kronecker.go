package hvp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
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
//
// A convolution kernel K of shape (k, c, kh, kw) has KFC's factors
// (Grosse & Martens 2016): the net computes net = P·K̂ᵀ with K̂ the kernel
// read as the k × n matrix (n = c·kh·kw, row j output channel j's filter)
// and P the patches, R = B·T rows, one per sample i and output position t
// (im2col). The block's Gauss–Newton matrix, in K-FAC's orientation W̃ =
// K̂ᵀ, is Σ_i (Σ_t a_it ⊗ δ_it)(Σ_t a_it ⊗ δ_it)ᵀ (a_it row (i, t) of P,
// δ_it of the pre-activation's adjoint). KFC assumes the derivatives at
// different positions uncorrelated (the cross terms t ≠ t' dropped), the
// patches independent of the derivatives and spatially homogeneous (their
// second moment the same at every position), which leaves
// Ω ⊗ Σ_i Σ_t δ_itδ_itᵀ, Ω the patches' second moment. So A = PᵀP/R, the
// mean over samples and positions, and DD = δᵀδ, the sum over samples and
// positions: KFC's factor |T| (T positions) is inside DD, and the constant
// left between A ⊗ DD and the Gauss–Newton matrix is the reduction's, as
// for a dense layer (with one position, T = 1, the factors are exactly a
// dense layer's on the flattened images). Transposed is then true: the
// block's values, read row-major, are K̂ = W̃ᵀ (DD's dimension × A's), and
// K-FAC's direction on them is −D̃⁻¹∇Ã⁻¹. Positions is T (1 for a dense
// layer). A kernel's L2 penalty λ·Σ K² gives Penalty = 2λ on every row
// of W̃. No channel bias is paired with a kernel (the translation has no
// bias broadcast over a 4-D value yet): a bias would be its own block.
//
// A dense layer's Factors also hold Rows = h̃ and Delta = δ, the whole
// batch's B rows (copies, whatever StatsSamples the factors use), so that
// its data term's gradient is h̃ᵀδ: a caller can apply (Ã ⊗ D̃)⁻¹ to it
// as (Ã⁻¹h̃ᵀ)(δD̃⁻¹), cheaper than to the n_A × n_D gradient when B is
// small beside n_A and n_D (solver.KFAC). nil for kernels and tied
// weights.
type Factors struct {
	A, DD      *mat.SymDense
	Rows       *mat.Dense // h̃, B × n_A (dense layers; nil otherwise)
	Delta      *mat.Dense // δ, B × n_D (dense layers; nil otherwise)
	Samples    int        // the rows of Rows and Delta that A and DD use (dense layers; StatsSamples, or B)
	Penalty    []float64
	PenaltyErr error
	Transposed bool
	Positions  int
}

// KroneckerFactors are the loss, its gradient and every block's Factors
// from one run of the gradient pass (Problem.Kronecker).
type KroneckerFactors struct {
	Loss float64
	Grad *params.Vector
	// Factors holds block l's factors at l, nil for a block without a
	// per-sample route (no layer structure, or a loss that is not
	// row-separable) or, for a weight of rank above 2, without a
	// kernel's structure (Factors), whose Err[l] says why.
	Factors []*Factors
	Err     []error
}

// Kronecker returns the loss, its gradient (as Gradient) and every block's
// Factors from one run of the gradient pass at the inputs as bound.
func (p *Problem) Kronecker() (kf *KroneckerFactors, err error) {
	defer errs.Recover("hvp.Kronecker", &err)
	return p.kronecker(0, true)
}

// KroneckerSample is Kronecker with a dense layer's factors from the
// batch's first m samples (K-FAC's statistics on a subset of the
// minibatch, Martens & Grosse 2015 §8; a random subset when the batch's
// rows are shuffled): A = h̃_mᵀh̃_m/m and DD = (B/m)·δ_mᵀδ_m, each at the
// whole batch's scale. The loss and the gradient are the whole batch's;
// kernels' and tied weights' factors use every sample. m = 0 or m ≥ B:
// Kronecker; m < 0 is an *errs.ArgumentError. It saves the grams' flops,
// 2m·n² instead of 2B·n² for an n-column input (no rows: Stats counts the
// gradient pass).
func (p *Problem) KroneckerSample(m int) (kf *KroneckerFactors, err error) {
	defer errs.Recover("hvp.KroneckerSample", &err)
	if m < 0 {
		return nil, &errs.ArgumentError{What: "hvp.KroneckerSample's m", Value: m, Reason: "want the samples the statistics use, ≥ 0 (0: all)"}
	}
	return p.kronecker(m, true)
}

// KroneckerRows is KroneckerSample(m) without a dense layer's grams: its
// Factors have A and DD nil, and Rows, Delta and Samples, the rows A and
// DD would use (A = h̃_sᵀh̃_s/s, DD = (B/s)·δ_sᵀδ_s for the first s =
// Samples rows), for a caller that folds them into its own statistics
// (solver.KFAC's moving averages, one Dgemm each); kernels and tied
// weights keep theirs. m < 0 is an *errs.ArgumentError.
func (p *Problem) KroneckerRows(m int) (kf *KroneckerFactors, err error) {
	defer errs.Recover("hvp.KroneckerRows", &err)
	if m < 0 {
		return nil, &errs.ArgumentError{What: "hvp.KroneckerRows's m", Value: m, Reason: "want the samples the statistics use, ≥ 0 (0: all)"}
	}
	return p.kronecker(m, false)
}

// kronecker is Kronecker with the dense layers' statistics on the first m
// samples (0: all), and their grams only if grams.
func (p *Problem) kronecker(m int, grams bool) (kf *KroneckerFactors, err error) {
	kf = &KroneckerFactors{Factors: make([]*Factors, len(p.blocks)), Err: make([]error, len(p.blocks))}
	roots := append([]*G.Node{p.loss}, p.grad.Grads...)
	routes := make([]*route, len(p.blocks))
	var key strings.Builder
	key.WriteString("kronecker")
	kernels := make([]*kernelLayer, len(p.blocks))
	tieds := make([]*tiedLayer, len(p.blocks))
	for l := range p.blocks {
		if kl, err := p.kernelLayerOf(l); kl != nil || err != nil {
			if err != nil {
				kf.Err[l] = err
				continue
			}
			kernels[l] = kl
			roots = append(roots, kl.patches, kl.delta)
			key.WriteString("/" + p.blocks[l].name)
			continue
		}
		r, err := p.perSampleOf(l)
		if err != nil {
			// A tied weight (tied.go) has factors of its own; anything else
			// keeps the per-sample route's reason.
			if t, terr := p.tiedLayerOf(l); t != nil {
				tieds[l] = t
				roots = append(roots, t.roots()...)
				key.WriteString("/" + p.blocks[l].name)
			} else if terr != nil {
				kf.Err[l] = terr
			} else {
				kf.Err[l] = err
			}
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
	for l, kl := range kernels {
		if kl == nil {
			continue
		}
		h, err := flatValue(vals, kl.patches)
		if err != nil {
			return nil, err
		}
		d, err := flatValue(vals, kl.delta)
		if err != nil {
			return nil, err
		}
		hs, ds := kl.patches.Shape(), kl.delta.Shape()
		a := gram(hs[0], hs[1], h)
		a.ScaleSym(1/float64(hs[0]), a)
		kf.Factors[l] = &Factors{A: a, DD: gram(ds[0], ds[1], d), Transposed: true, Positions: kl.positions}
		if err := p.onePenalty(l, kl.pen, kf.Factors[l]); err != nil {
			return nil, err
		}
	}
	for l, t := range tieds {
		if t == nil {
			continue
		}
		if kf.Factors[l], err = t.factors(vals); err != nil {
			return nil, err
		}
		if err := p.onePenalty(l, t.pen, kf.Factors[l]); err != nil {
			return nil, err
		}
	}
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
		hs, ds := r.rows.Shape(), r.delta.Shape() // B rows each, a row per sample
		na, nd := sampled(hs[0], m), sampled(ds[0], m)
		rows := mat.NewDense(hs[0], hs[1], append([]float64(nil), h...))
		delta := mat.NewDense(ds[0], ds[1], append([]float64(nil), d...))
		kf.Factors[l] = &Factors{Rows: rows, Delta: delta, Samples: na, Positions: 1}
		if grams {
			a := gram(na, hs[1], h[:na*hs[1]])
			a.ScaleSym(1/float64(na), a)
			dd := gram(nd, ds[1], d[:nd*ds[1]])
			if nd < ds[0] {
				dd.ScaleSym(float64(ds[0])/float64(nd), dd)
			}
			kf.Factors[l].A, kf.Factors[l].DD = a, dd
		}
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

// sampled returns the rows of n that statistics on m samples use: m, or
// all n when m is 0 or at least n.
func sampled(n, m int) int {
	if m > 0 && m < n {
		return m
	}
	return n
}

// kernelLayer is the structure KFC reads around a convolution kernel
// (Factors): the patches P (R × n, R = B·T), the product net = P·K̂ᵀ and
// its adjoint δ in the gradient pass (R × k), and the penalty terms that
// read the kernel, if any.
type kernelLayer struct {
	patches, prod, delta *G.Node
	positions            int // T = R/B
	pen                  *penalty
}

// kernelLayerOf returns block l's kernel structure, found once: nil, nil
// for a block that is not one weight of rank above 2; an error naming the
// node when a kernel is not used as KFC needs — once by the data term
// (penalties aside), by a reshape into the k × n matrix K̂ (k its first
// dimension), whose only use is its transpose, the right factor of a
// product P·K̂ᵀ with patches P that do not depend on the kernel, whose
// rows are a multiple of the batch B. The structure is read from the ops,
// whatever built them (G.Conv2d's translation and ops.Conv2d are im2col,
// a reshape, P·K̂ᵀ).
func (p *Problem) kernelLayerOf(l int) (*kernelLayer, error) {
	b := p.blocks[l]
	if len(b.params) != 1 || p.ws[b.params[0]].Dims() <= 2 {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !b.kernelTried {
		b.kernelTried = true
		b.kernel, b.kernelErr = p.findKernelLayer(b)
		b.kernelErr = p.model.UserError(b.kernelErr)
	}
	return b.kernel, b.kernelErr
}

// findKernelLayer finds block b's kernel structure (p.mu held).
func (p *Problem) findKernelLayer(b *block) (*kernelLayer, error) {
	w := p.ws[b.params[0]]
	s := w.Shape()
	name := errs.Label(p.userWeights[b.params[0]])
	rows, cols := s[0], s.TotalSize()/s[0]
	refuse := func(n *G.Node, reason string) error {
		return &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", p.userLabel(n), n.Op()), Input: -1,
			Reason: fmt.Sprintf("KFC's factors for kernel %s of shape %v: %s", name, s, reason)}
	}
	uses := graph.UsesWithout(p.loss, p.pens...)
	tied := func(n int) string {
		return fmt.Sprintf("used by %d nodes: the kernel is tied (its block sums the curvature of every use and their cross terms, "+
			"which KFC's factors of one layer do not model), want one use", n)
	}
	if n := len(uses[w]); n != 1 {
		return nil, refuse(w, fmt.Sprintf("%s, by a reshape into the %d × %d matrix K̂", tied(n), rows, cols))
	}
	re := uses[w][0]
	if _, ok := re.Op().(ops.ReshapeOp); !ok || !slices.Equal(re.Shape(), []int{rows, cols}) {
		return nil, refuse(re, fmt.Sprintf("the kernel's use is not a reshape into the %d × %d matrix K̂", rows, cols))
	}
	if n := len(uses[re]); n != 1 {
		return nil, refuse(re, "K̂ "+tied(n)+", transposed")
	}
	tr := uses[re][0]
	if _, ok := tr.Op().(ops.TransposeOp); !ok {
		return nil, refuse(tr, "K̂'s use is not a transpose, the right factor of a product P·K̂ᵀ")
	}
	if n := len(uses[tr]); n != 1 {
		return nil, refuse(tr, "K̂ᵀ "+tied(n)+", as the right factor of a product P·K̂ᵀ")
	}
	prod := uses[tr][0]
	kids := graph.Children(prod)
	if _, ok := prod.Op().(ops.MatMulOp); !ok || kids[1] != tr {
		return nil, refuse(prod, "K̂ᵀ is not the right factor of a product P·K̂ᵀ (P the patches, a row per sample and position)")
	}
	patches := kids[0]
	if dependents(graph.Sorted(patches), map[*G.Node]bool{w: true})[patches] {
		return nil, refuse(patches, "the patches depend on the kernel itself")
	}
	r, batch := patches.Shape()[0], int(p.batch)
	if r%batch != 0 {
		return nil, refuse(patches, fmt.Sprintf("the patches' %d rows are not a multiple of the batch B = %d (a row per sample and position)", r, batch))
	}
	delta := p.grad.Adjoints[prod]
	if delta == nil {
		return nil, refuse(prod, "no adjoint in the gradient pass")
	}
	pen, err := p.blockPenalty(b)
	if err != nil {
		return nil, err
	}
	return &kernelLayer{patches: patches, prod: prod, delta: delta, positions: r / batch, pen: pen}, nil
}

// onePenalty sets f.Penalty, or f.PenaltyErr, for block l of one weight
// (a kernel, a tied weight) whose weight penalty terms pen read (nil:
// none): an L2 penalty's constant c (2λ for λ·Σ K²) on every row of W̃,
// A's dimension.
func (p *Problem) onePenalty(l int, pen *penalty, f *Factors) error {
	if pen == nil {
		return nil
	}
	pr, err := p.probePenalty(l, pen)
	if err != nil {
		return err
	}
	if pr.kind != penaltyL2 {
		f.PenaltyErr = &errs.ConditionError{Block: l, Weight: p.blocks[l].name, Node: p.penaltyNames(pen),
			Reason: "factors of the data term only: " + pr.describe(p, l, pen)}
		return nil
	}
	f.Penalty = make([]float64, f.A.SymmetricDim())
	for a := range f.Penalty {
		f.Penalty[a] = pr.c[0]
	}
	return nil
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
