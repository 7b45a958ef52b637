package hvp

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// The dense route (method.md §13) solves a block that no structured route
// inverts — batch > fan-in, a conv kernel, a tied weight, a bias read
// through a sum — by forming H_ll as a dim × dim matrix and factorising
// it: from the per-sample curvature Σ_i h̃_iᵀh̃_i ⊗ M_i (Block.Curvature)
// where the block has one, else from dim exact R-pass columns H_ll e_j.
// Cholesky where the matrix is positive definite, else LU; a condition
// estimate above Options.MaxCond refuses the block, naming it, the
// factorisation and the numerical rank (an SVD, on that path only). The
// result is certified like every route's: its residual by the exact
// R-pass. The cost is estimated before anything runs and capped by
// Options.MaxFlops and Options.MaxBytes.

// denseCost is the estimate of a dense route's solve.
type denseCost struct {
	dim          int
	perSample    bool // formed from the per-sample curvature, else from R-pass columns
	flops, bytes float64
}

func (c denseCost) String() string {
	from := fmt.Sprintf("%d R-pass columns", c.dim)
	if c.perSample {
		from = "the per-sample curvature"
	}
	return fmt.Sprintf("%d×%d from %s, est. %.3g flops, %s", c.dim, c.dim, from, c.flops, errs.Amount(c.bytes, "B"))
}

// denseRoute builds block b's dense route (p.mu held), with why: the
// reasons the structured routes do not apply. ps, when not nil, is the
// block's per-sample route, whose curvature forms the matrix.
func denseRoute(why []string, ps *route) *route {
	r := &route{method: MethodDenseRoute, kind: KindExact}
	if ps != nil {
		r.rows, r.cols, r.bytes, r.passes = ps.rows, ps.cols, ps.bytes, ps.passes
	}
	r.reasons = append(append([]string(nil), why...),
		"dense route: no structured route inverts this block, so H_ll is formed as a dense matrix and factorised (Cholesky where positive definite, else LU): exact up to the factorisation's rounding, certified by its residual; refused above Options.MaxFlops or Options.MaxBytes before running, or above Options.MaxCond when run")
	return r
}

// denseCostOf estimates block l's dense solve with route r: the columns
// (2·B·k²·n² flops for the per-sample form, dim Hv products otherwise)
// and an LU's ⅔·dim³ (Cholesky takes half); the bytes of the matrix, its
// factor and, for the per-sample form, its pass and Curvature.Dense's
// workspace.
func (p *Problem) denseCostOf(l int, r *route) denseCost {
	dim := p.layout.Block(l).Len()
	d := float64(dim)
	c := denseCost{dim: dim, flops: 2 * d * d * d / 3, bytes: 2 * budget.Float64s(dim, dim)}
	if r.rows != nil {
		rs, n := r.rows.Shape(), len(r.cols)
		bsz, k := rs[0], rs[1]
		c.perSample = true
		c.flops += 2 * float64(bsz) * float64(k*k) * float64(n*n)
		c.bytes += r.bytes + budget.Float64s(bsz, k, k) + budget.Float64s(bsz, n, n) + budget.Float64s(k, k, n, n)
		return c
	}
	c.flops += d * p.program("hv", p.hv).Flops()
	return c
}

// denseFits refuses block l's dense solve above o's caps, naming the
// block, the estimate and the setting that raises the cap.
func (p *Problem) denseFits(l int, c denseCost, o Options) error {
	what := fmt.Sprintf("block %d (%s), dense route: %s", l, p.blocks[l].name, c)
	if c.flops > o.MaxFlops {
		return &errs.LimitError{What: what, Resource: "flops", Estimate: c.flops, Limit: o.MaxFlops,
			Hint: fmt.Sprintf("the cap is Options.MaxFlops, 0 for the default %.0e; or take the inverse by conjugate gradients on Hv (solver.CG)", float64(DefaultMaxFlops))}
	}
	return budget.Check(what, c.bytes, o.MaxBytes, capHint("the dense matrix, its factor and the values that form it", "Options.MaxBytes"))
}

// denseMatrix forms block l's (H_ll + λ·h̃ᵀh̃ ⊗ I), λ = o.Damping, by route
// r's form.
func (p *Problem) denseMatrix(l int, r *route, c denseCost, o Options) (*mat.Dense, error) {
	if c.perSample {
		cv, err := (&Block{p: p, l: l}).Curvature()
		if err != nil {
			return nil, err
		}
		return cv.Dense(o.Damping)
	}
	bl := p.layout.Block(l)
	h := mat.NewDense(c.dim, c.dim, nil)
	e := params.New(bl)
	for j := range c.dim {
		e.Flat()[j] = 1
		col, err := p.blockHv(l, e)
		e.Flat()[j] = 0
		if err != nil {
			return nil, err
		}
		h.SetCol(j, col.Flat())
	}
	return h, nil
}

// denseFactor is a factorisation of a dense H_ll: Cholesky of its
// symmetric part where positive definite, else LU; neither when the
// condition estimate is above the limit (then Rank is an SVD's numerical
// rank). One factorisation solves for every further direction (reuse.go).
type denseFactor struct {
	h    *mat.Dense
	zero bool // every entry of h is 0
	chol *mat.Cholesky
	lu   *mat.LU
	mc   ops.MatrixCondition
	op   string
}

// factorDense factorises h (Cholesky of its symmetric part where positive
// definite, else LU) and reports what the factorisation found. For a
// condition estimate above maxCond the rank is the numerical rank of an
// SVD, and the factor solves nothing.
func factorDense(h *mat.Dense, maxCond float64) *denseFactor {
	dim, _ := h.Dims()
	f := &denseFactor{h: h, zero: true, mc: ops.MatrixCondition{Rows: dim, Cols: dim, Rank: dim}, op: "dense Cholesky of H_ll"}
	sym := mat.NewSymDense(dim, nil)
	for i := range dim {
		for j := range dim {
			f.zero = f.zero && h.At(i, j) == 0
		}
		for j := i; j < dim; j++ {
			sym.SetSym(i, j, (h.At(i, j)+h.At(j, i))/2)
		}
	}
	var chol mat.Cholesky
	if chol.Factorize(sym) {
		f.mc.Cond, f.mc.Method = chol.Cond(), "Cholesky (2-norm estimate)"
		if f.mc.Cond <= maxCond {
			f.chol = &chol
			return f
		}
	} else {
		var lu mat.LU
		lu.Factorize(h)
		f.mc.Cond, f.mc.Method, f.op = lu.Cond(), "LU (1-norm estimate)", "dense LU of H_ll"
		if f.mc.Cond <= maxCond {
			f.lu = &lu
			return f
		}
	}
	var svd mat.SVD
	if svd.Factorize(h, mat.SVDNone) {
		f.mc.Rank = svd.Rank(float64(dim) * 0x1p-52)
	}
	return f
}

// solve returns h⁻¹ v by the factorisation; nil when h was singular to
// the condition limit.
func (f *denseFactor) solve(v []float64) ([]float64, error) {
	dim := len(v)
	u := mat.NewVecDense(dim, nil)
	rhs := mat.NewVecDense(dim, append([]float64(nil), v...))
	var err error
	switch {
	case f.chol != nil:
		err = f.chol.SolveVecTo(u, rhs)
	case f.lu != nil:
		err = f.lu.SolveVecTo(u, false, rhs)
	default:
		return nil, nil
	}
	return u.RawVector().Data, ignoreCondition(err)
}

// ignoreCondition drops gonum's warning of a large condition number: the
// estimate is checked against Options.MaxCond instead.
func ignoreCondition(err error) error {
	if _, ok := err.(mat.Condition); ok {
		return nil
	}
	return err
}

// denseResult64 solves block l's dense route for v (scale its norm) and
// certifies the result by the exact R-pass.
func (p *Problem) denseResult64(l int, r *route, v *params.Vector, scale float64, o Options) (*Result, error) {
	b := p.blocks[l]
	bl := p.layout.Block(l)
	res := &Result{Kind: r.kind, Method: MethodDenseRoute, Damping: o.Damping, Residual: math.NaN(), Reasons: append([]string(nil), r.reasons...)}
	if scale == 0 {
		return p.zeroResult(l, res, o)
	}
	c := p.denseCostOf(l, r)
	if err := p.denseFits(l, c, o); err != nil {
		return nil, err
	}
	fd, fresh, err := p.denseFactorOf(l, r, c, o)
	if err != nil {
		return nil, err
	}
	if fd.zero {
		return nil, &errs.NoInverseError{Op: fmt.Sprintf("dense route of block %d (%s)", l, b.name), Input: -1,
			Reason: "H_ll is zero here: the block's gradient does not depend on its weights (a loss linear in them)"}
	}
	vu := unitOf(v, scale)
	uf, err := fd.solve(vu.Flat())
	mc, op := fd.mc, fd.op
	flops := 2 * float64(c.dim) * float64(c.dim) // the two triangular solves
	if fresh {
		flops += 2 * float64(c.dim) * float64(c.dim) * float64(c.dim) / 3
	}
	if p.tally != nil {
		*p.tally += flops
	}
	if p.stats != nil { // the columns' runs are counted by their own runs
		p.stats.Add(Stats{InvHv: 1, Flops: flops})
	}
	if err != nil {
		return nil, &errs.ConditionError{Block: l, Weight: b.name, Node: "H_ll of " + b.name, Op: op, Value: mc.Cond, Reason: fmt.Sprintf("%s: %v", op, err)}
	}
	res.Factorizations = []Factorization{{Node: "H_ll of " + b.name, Op: op, MatrixCondition: mc}}
	res.Reasons = append(res.Reasons, "dense route: "+c.String())
	if uf == nil { // singular: refused by check, naming the factorisation
		// U = 0, whose residual ‖H·0 − v‖/‖v‖ is 1 without any product.
		res.U, res.Kind, res.Residual = params.New(bl), KindRefused, 1
		res.Note = "dense route: H_ll singular to the condition limit, not solved (U = 0)"
		return res, p.check(l, res, o)
	}
	return p.certifySolved(l, params.FromFlat(bl, uf), vu, scale, res, o)
}

// certifySolved finishes a route that solved H_ll u = vu as one matrix (the
// dense and penalized routes): res.U is u at the caller's scale (checked
// finite), and its residual is certified by the exact R-pass unless
// o.NoCertificate.
func (p *Problem) certifySolved(l int, u, vu *params.Vector, scale float64, res *Result, o Options) (*Result, error) {
	res.U = u.Clone()
	if err := scaledFinite(scale, res.U, func(int) string { return "H⁻¹v for " + p.blocks[l].name }); err != nil {
		return nil, err
	}
	if o.NoCertificate {
		return res, p.check(l, res, o)
	}
	hu, err := p.dampedHv(l, u, o.Damping)
	if err != nil {
		return nil, err
	}
	return res, p.settle(l, u, hu, vu, res, o)
}
