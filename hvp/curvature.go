package hvp

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/internal/budget"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// Curvature is a block's Hessian in its per-sample form (method.md §9):
// with the other weights fixed,
//
//	H_ll = Σ_i (h̃_iᵀ h̃_i) ⊗ M_i,
//
// h̃_i the i-th row of the layer's input (with a 1 for a bias) and M_i the
// n × n Hessian of sample i's loss with respect to its pre-activation.
// Vectorised like the block's weights stacked as W̃ = [W; b] (k × n), row
// by row: (H V)_ab = Σ_i h̃_ia (h̃_iᵀ V M_i)_b. It holds for any batch,
// including batch > fan-in + 1 where the B-pass has no inverse to
// differentiate: a solver can then solve with H_ll directly (Dense).
//
// A block whose weights an L2 penalty reads (weight decay, method.md §11)
// adds the penalty's Hessian, constant on each row of W̃:
//
//	H_ll = Σ_i (h̃_iᵀ h̃_i) ⊗ M_i + diag(Penalty_a) ⊗ I_n.
type Curvature struct {
	Rows *mat.Dense   // h̃: B × k
	M    []*mat.Dense // M_i: n × n, one per sample
	// Penalty holds, per row a of W̃ (k values), the constant c_a of an
	// L2 penalty's Hessian there (2λ for λ·Σ W², 0 on a bias not
	// decayed); nil for a block without a penalty.
	Penalty []float64
}

// Curvature returns the block's per-sample curvature at the current
// inputs: h̃ and the M_i, from n JVPs of the layer's output adjoint (no
// matrix of the block's size is formed). The block needs a per-sample
// route (a layer h·W (+ b) with a row-separable loss). The run and the
// M_i (batch·n² values) are estimated first and refused above the
// default cap (package internal/budget: a quarter of physical memory) with
// an *errs.LimitError naming the block and the bytes. For a block with a
// penalty, its Hessian is probed (Conditions) and must be L2 (Penalty);
// another penalty is an *errs.ConditionError naming it.
func (b *Block) Curvature() (c *Curvature, err error) {
	defer errs.Recover("hvp.Curvature", &err)
	p, l := b.p, b.l
	r, err := p.perSampleOf(l)
	if err != nil {
		return nil, err
	}
	var pen []float64
	if main := p.block(l).main; main != nil && main.pen != nil {
		pc, pr, err := p.penaltyReport(l, main)
		if err != nil {
			return nil, err
		}
		if pr.kind != penaltyL2 {
			return nil, &errs.ConditionError{Block: l, Weight: p.blocks[l].name, Node: pc.Node, Reason: "no curvature of the per-sample form: " + pc.Reason}
		}
		pen = rowConstants(pr, r.rows.Shape()[1], main.bias)
	}
	rs, n := r.rows.Shape(), len(r.cols)
	if err := p.fitsRun([]int{l}, map[int]*route{l: r}, budget.Float64s(rs[0], n, n)+budget.Float64s(rs...), 0, ""); err != nil {
		return nil, err
	}
	roots := append([]*G.Node{r.rows}, r.cols...)
	vals, err := p.run(fmt.Sprintf("curvature/%d", l), roots, nil, cost{rows: p.batch * int64(n+1), other: 1})
	if err != nil {
		return nil, err
	}
	h, err := flatValue(vals, r.rows)
	if err != nil {
		return nil, err
	}
	bsz, k := rs[0], rs[1]
	c = &Curvature{Rows: mat.NewDense(bsz, k, h), M: make([]*mat.Dense, bsz), Penalty: pen}
	for i := range c.M {
		c.M[i] = mat.NewDense(n, n, nil)
	}
	for j, col := range r.cols {
		d, err := flatValue(vals, col) // B × n: row i is column j of M_i
		if err != nil {
			return nil, err
		}
		for i := range bsz {
			for a := range n {
				c.M[i].Set(a, j, d[i*n+a])
			}
		}
	}
	return c, nil
}

// Dense returns (H_ll + λ·h̃ᵀh̃ ⊗ I) as a dense kn × kn matrix (the
// penalty's diag(Penalty_a) ⊗ I_n included), formed by
// one product of a k² × B and a B × n² matrix: 2·B·k²·n² flops, and
// 8·(B·k² + B·n² + 2·k²·n²) bytes, estimated first and refused above the
// default cap (package internal/budget: a quarter of physical memory) with
// an *errs.LimitError. A Curvature without rows or with M_i that are not
// one n × n matrix per row, or a λ that is not finite, is an
// *errs.ArgumentError.
func (c *Curvature) Dense(lambda float64) (*mat.Dense, error) {
	bsz, k, n, err := c.dims()
	if err != nil {
		return nil, err
	}
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) {
		return nil, &errs.ArgumentError{What: "Curvature.Dense λ", Value: lambda, Reason: "want a finite damping"}
	}
	if c.Penalty != nil && len(c.Penalty) != k {
		return nil, &errs.ArgumentError{What: "Curvature.Penalty", Value: fmt.Sprintf("%d values", len(c.Penalty)), Reason: fmt.Sprintf("want one per column of Rows, %d (or nil)", k)}
	}
	est := budget.Float64s(bsz, k, k) + budget.Float64s(bsz, n, n) + 2*budget.Float64s(k, k, n, n)
	if err := budget.Check(fmt.Sprintf("Curvature.Dense of a %d×%d block (batch %d)", k*n, k*n, bsz), est, 0,
		fmt.Sprintf("B·k² + B·n² + 2·k²·n² values for k = %d, n = %d; the cap is the default, %s", k, n, budget.Describe())); err != nil {
		return nil, err
	}
	hp := mat.NewDense(bsz, k*k, nil)
	mm := mat.NewDense(bsz, n*n, nil)
	for i := range bsz {
		row := c.Rows.RawRowView(i)
		dst := hp.RawRowView(i)
		for a := range k {
			for cc := range k {
				dst[a*k+cc] = row[a] * row[cc]
			}
		}
		md := mm.RawRowView(i)
		for a := range n {
			for d := range n {
				md[a*n+d] = c.M[i].At(a, d)
			}
			md[a*n+a] += lambda
		}
	}
	var kk mat.Dense // (k² × n²): [(a,c),(b,d)]
	kk.Mul(hp.T(), mm)
	out := mat.NewDense(k*n, k*n, nil)
	for a := range k {
		for cc := range k {
			src := kk.RawRowView(a*k + cc)
			for b := range n {
				for d := range n {
					out.Set(a*n+b, cc*n+d, src[b*n+d])
				}
			}
		}
	}
	for a, pa := range c.Penalty {
		for b := range n {
			out.Set(a*n+b, a*n+b, out.At(a*n+b, a*n+b)+pa)
		}
	}
	return out, nil
}

// dims checks c and returns its batch B, fan-in k and width n.
func (c *Curvature) dims() (bsz, k, n int, err error) {
	if c == nil || c.Rows == nil || c.Rows.IsEmpty() {
		return 0, 0, 0, &errs.ArgumentError{What: "Curvature.Rows", Value: "empty", Reason: "want h̃, a B × k matrix (from Block.Curvature)"}
	}
	bsz, k = c.Rows.Dims()
	if len(c.M) != bsz {
		return 0, 0, 0, &errs.ArgumentError{What: "Curvature.M", Value: fmt.Sprintf("%d matrices", len(c.M)), Reason: fmt.Sprintf("want one per row of Rows, %d", bsz)}
	}
	for i, m := range c.M {
		if m == nil || m.IsEmpty() {
			return 0, 0, 0, &errs.ArgumentError{What: fmt.Sprintf("Curvature.M[%d]", i), Value: "empty", Reason: "want an n × n matrix"}
		}
		r, cc := m.Dims()
		if i == 0 {
			n = r
		}
		if r != n || cc != n {
			return 0, 0, 0, &errs.ArgumentError{What: fmt.Sprintf("Curvature.M[%d]", i), Value: fmt.Sprintf("%d×%d", r, cc), Reason: fmt.Sprintf("want %d×%d, like M[0]", n, n)}
		}
	}
	return bsz, k, n, nil
}
