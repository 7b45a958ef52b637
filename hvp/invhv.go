package hvp

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Defaults of Options.
const (
	// DefaultTol is the largest accepted residual ‖H_ll u − v‖/‖v‖: far
	// above the rounding of a backward-stable solve (ε·cond ≈ 1e-6 only at
	// cond ≈ 1e10), far below the O(0.01)–O(100) residual of a violated
	// condition (method.md §4).
	DefaultTol = 1e-6

	// DefaultMaxCond is the largest accepted condition estimate of a
	// matrix the inverse pass factorises: past it, the block's condition
	// (a product of such factors, squared) leaves no digit to certify.
	DefaultMaxCond = 1e12

	// DefaultTol32 is the largest accepted residual of a float32 graph's
	// result as returned (Result.RoundedResidual). Rounding u to float32
	// moves each entry by up to ε₃₂ = 2⁻²⁴ of itself, which adds up to
	// ε₃₂·cond(H_ll) to the residual whatever the float64 result: the
	// tolerance is that cost at cond(H_ll) = 1e6, ≈ 6e-2 (measured
	// rounded residuals are 0.07–0.6 of ε₃₂·cond). A block worse
	// conditioned than float32 can hold fails it (its float64 result may
	// be fine: use a float64 model, or damp).
	DefaultTol32 = 0x1p-24 * 1e6
)

// Options control an inverse product. A nil *Options, like every zero
// field, means the default: no damping, DefaultTol, DefaultMaxCond, an
// error on any failed check, a certificate.
type Options struct {
	// Damping λ ≥ 0 solves (H_ll + λ·h̃ᵀh̃ ⊗ I) u = v exactly, by the
	// per-sample route (method.md §9): Levenberg–Marquardt damping in the
	// metric of the layer's inputs h̃. The certificate uses the same damped
	// operator. A block whose weights a penalty reads (weight decay) is
	// damped by its penalized route the same way (method.md §11), a block
	// on the dense route with a per-sample form by its dense solve
	// (method.md §13). A block without a per-sample form cannot be damped.
	Damping float64
	Tol     float64 // largest accepted residual (0: DefaultTol)
	// Tol32 is the largest accepted residual of a float32 graph's result
	// as returned, rounded to float32 (0: DefaultTol32); Tol applies to
	// the float64 result it rounds.
	Tol32   float64
	MaxCond float64 // largest accepted condition estimate of a factorised matrix (0: DefaultMaxCond)
	// BestEffort returns results that fail a check, with Certified false,
	// instead of an error; refused blocks are computed anyway (KindRefused).
	BestEffort bool
	// NoCertificate skips the residual and the R-pass it costs (about one
	// and a half gradients for all blocks of a 3-layer net): the result
	// comes back with Certified false and Residual NaN, and no residual
	// check runs (condition checks still do). For callers who time the
	// B-pass alone or certify otherwise.
	NoCertificate bool
	// MaxBytes caps the memory of a per-sample route's run (its seeds, the
	// n JVP columns of the M_i and the tangents between them: a few times
	// batch·n² values for a layer of n outputs), estimated before it runs;
	// above it the product fails with an *errs.LimitError naming the block
	// and the bytes. 0: the default, a quarter of physical memory. It caps
	// the penalized route's factorised matrix too (with its per-sample
	// pass), and the dense route's matrix, factor and the values that form
	// it (method.md §13).
	MaxBytes int64
	// MaxFlops caps the penalized route's solve (a block whose weight a
	// weight decay reads, method.md §11): the dense LU of the k·n block,
	// B·(kn)² + ⅔(kn)³ flops, or the push-through LU on the B·n side,
	// ⅔(Bn)³, whichever is smaller, estimated before it runs; above it the
	// product fails with an *errs.LimitError naming the block, the penalty
	// and the estimate. It caps the dense route's solve too (method.md
	// §13: its columns, 2·B·k²·n² from the per-sample curvature or dim Hv
	// products, plus ⅔·dim³), refused the same way naming the block.
	// 0: DefaultMaxFlops.
	MaxFlops float64
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Tol == 0 {
		r.Tol = DefaultTol
	}
	if r.MaxCond == 0 {
		r.MaxCond = DefaultMaxCond
	}
	if r.Tol32 == 0 {
		r.Tol32 = DefaultTol32
	}
	if r.MaxFlops == 0 {
		r.MaxFlops = DefaultMaxFlops
	}
	switch {
	case !(r.Tol > 0) || math.IsInf(r.Tol, 0):
		return r, &errs.ArgumentError{What: "Options.Tol", Value: r.Tol, Reason: "want a finite tolerance > 0"}
	case !(r.Tol32 > 0) || math.IsInf(r.Tol32, 0):
		return r, &errs.ArgumentError{What: "Options.Tol32", Value: r.Tol32, Reason: "want a finite tolerance > 0"}
	case !(r.MaxCond >= 1):
		return r, &errs.ArgumentError{What: "Options.MaxCond", Value: r.MaxCond, Reason: "want a condition limit ≥ 1"}
	case !(r.Damping >= 0) || math.IsInf(r.Damping, 0):
		return r, &errs.ArgumentError{What: "Options.Damping", Value: r.Damping, Reason: "want a finite λ ≥ 0"}
	case !(r.MaxFlops > 0):
		return r, &errs.ArgumentError{What: "Options.MaxFlops", Value: r.MaxFlops, Reason: "want a flop cap > 0 (0: the default)"}
	case r.MaxBytes < 0:
		return r, &errs.ArgumentError{What: "Options.MaxBytes", Value: r.MaxBytes, Reason: "want a memory cap in bytes ≥ 0 (0: the default)"}
	}
	return r, nil
}

// InvHvAll returns H_ll⁻¹ v_l for every block l (v of Layout; each
// result of its block's layout), evaluating every B-pass in one program.
// It fails, naming the block, if any block fails its checks (unless opt
// asks for best effort).
func (p *Problem) InvHvAll(v *params.Vector, opt *Options) (out []*Result, err error) {
	defer errs.Recover("hvp.InvHvAll", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := p.checkVec(v, p.layout, "direction"); err != nil {
		return nil, err
	}
	all := make([]int, len(p.blocks))
	dirs := map[int]*params.Vector{}
	for l := range all {
		all[l], dirs[l] = l, v.Block(l)
	}
	if out, err = p.invHv(all, dirs, o); err != nil {
		return nil, err
	}
	for _, res := range out {
		res.U.Round()
	}
	return out, nil
}

// routeFor returns the route block l takes with the options: the
// per-sample route when damped (the penalized route, which damps too, for
// a block with a penalty).
func (p *Problem) routeFor(l int, o Options) (*route, error) {
	b := p.block(l)
	if b.err != nil {
		return nil, b.err
	}
	if o.Damping == 0 || b.main.method == MethodPenalized || b.main.method == MethodDenseRoute && b.main.rows != nil {
		return b.main, nil // these routes damp by their own solve
	}
	r, err := p.perSampleOf(l)
	if err != nil {
		return nil, &errs.ArgumentError{What: "Options.Damping", Value: o.Damping,
			Reason: fmt.Sprintf("block %d (%s) has no per-sample route to damp: %v", l, b.name, err)}
	}
	return r, nil
}

// invHv runs and certifies the B-passes of the given blocks, directions
// (of each block's layout) already checked. Each direction is scaled to
// unit norm for the run and the result scaled back (the product is linear
// in v).
func (p *Problem) invHv(blocks []int, v map[int]*params.Vector, o Options) ([]*Result, error) {
	var roots, keep, vary []*G.Node
	var ran []int // the blocks whose B-pass runs
	var rows int64
	bind := graph.Values{}
	scale := map[int]float64{}
	routes := map[int]*route{}
	var key strings.Builder
	key.WriteString("inv")
	for _, l := range blocks {
		r, err := p.routeFor(l, o)
		if err != nil {
			return nil, err
		}
		routes[l] = r
		if r.kind == KindRefused && !o.BestEffort {
			return nil, &errs.ConditionError{Block: l, Weight: p.blocks[l].name,
				Reason: "refused before running: " + strings.Join(r.reasons, "; ")}
		}
		if scale[l] = v[l].Norm(); scale[l] == 0 || r.solvedOutside() {
			continue // u = 0, or solved outside the joint run (penalty.go, dense.go)
		}
		u := unitOf(v[l], scale[l])
		for i, d := range r.dirs {
			bind[d] = valueOf(d, u.Weight(i))
		}
		vary = append(vary, r.dirs...)
		if r.lambda != nil {
			bind[r.lambda] = G.NewF64(o.Damping)
		}
		roots = append(roots, r.u...)
		rows += p.batch * int64(len(r.cols)+1) // the B-pass: (n_l + 1)·B per sample, B by the chain
		if !o.NoCertificate {
			roots = append(roots, r.hu...)
			roots = append(roots, r.damp...)
			rows += p.batch
		}
		keep = append(keep, r.keep...)
		ran = append(ran, l)
		key.WriteString(strings.TrimPrefix(invKey(l, r), "inv"))
	}
	if err := p.fitsRun(ran, routes, 0, o.MaxBytes, "Options.MaxBytes"); err != nil {
		return nil, err
	}
	if o.NoCertificate {
		key.WriteString("/raw")
	}
	vals := graph.Values{}
	var share float64 // each block's share of the joint run's flops
	if len(roots) > 0 {
		q, flops := p.counting()
		var err error
		if vals, err = q.runReusing(key.String(), roots, vary, bind, cost{rows: p.batch + rows, invhv: int64(len(ran))}, keep...); err != nil {
			return nil, p.model.UserError(p.blockError(blocks, routes, err))
		}
		share = *flops / float64(len(ran))
	} else if err := p.model.Check(); err != nil {
		return nil, err
	}
	out := make([]*Result, len(blocks))
	for i, l := range blocks {
		q, flops := p.counting()
		res, err := q.result(l, routes[l], v[l], scale[l], vals, o)
		if err != nil {
			return nil, err
		}
		res.Flops = *flops
		if scale[l] != 0 && !routes[l].solvedOutside() {
			res.Flops += share
		}
		out[i] = res
	}
	return out, nil
}

// invKey is the key of block l's B-pass program by route r alone ("inv"
// then, per block of a joint run, this without its "inv").
func invKey(l int, r *route) string { return fmt.Sprintf("inv/%d%s", l, r.method) }

// blockError turns a failed run into the *errs.ConditionError of the block
// whose factorisation failed, when it is one.
func (p *Problem) blockError(blocks []int, routes map[int]*route, err error) error {
	var ce *errs.ConditionError
	var re *errs.RunError
	if errors.As(err, &re) && !errors.As(err, &ce) && errors.Is(err, errs.ErrNotFinite) {
		return p.domainError(blocks, routes, re)
	}
	if !errors.As(err, &ce) || !errors.As(err, &re) {
		return err
	}
	c := *ce
	c.Node, c.Op = errs.Label(re.Node), re.Node.Op().String()
	if ls := blocksWith(blocks, routes, re.Node); len(ls) > 0 {
		l := ls[len(ls)-1]
		c.Block, c.Weight = l, p.blocks[l].name
	}
	return &c
}

// blocksWith returns, in order, the blocks among blocks whose route's
// passes hold node n.
func blocksWith(blocks []int, routes map[int]*route, n *G.Node) []int {
	var out []int
	for _, l := range blocks {
		if routes[l] == nil {
			continue
		}
		for _, pass := range routes[l].passes {
			for _, m := range pass.Nodes {
				if m == n {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// domainError turns a non-finite value in a block's chain route (an
// inverse pass or B-pass leaving the domain of its ops' inverses, such as
// √ of a zero gradient coordinate for Σ x³ at x_i = 0, where H is
// singular) into an *errs.ConditionError that states the conditions of
// the route's steps; its reason includes the run error.
func (p *Problem) domainError(blocks []int, routes map[int]*route, re *errs.RunError) error {
	for _, l := range blocksWith(blocks, routes, re.Node) {
		b := p.blocks[l]
		if routes[l].method != MethodChain || b.chain == nil {
			continue
		}
		var conds []string
		for _, st := range b.chain.Steps {
			if st.Condition != "" && st.Condition != "always" {
				conds = append(conds, fmt.Sprintf("%v: %s", st.Node.Op(), st.Condition))
			}
		}
		return &errs.ConditionError{Block: l, Weight: b.name, Node: errs.Label(re.Node), Op: re.Node.Op().String(),
			Reason: fmt.Sprintf("the inverse pass left the domain where it inverts the gradient map (%s): %v — H_ll is singular or the point is on a branch boundary there",
				strings.Join(conds, "; "), re.Err)}
	}
	return re
}

// result builds and certifies block l's result from a run's values; for a
// float32 graph, the certified float64 result is then rounded to float32,
// the residual of the rounded result measured (RoundedResidual) and
// checked against Tol32.
func (p *Problem) result(l int, r *route, v *params.Vector, scale float64, vals graph.Values, o Options) (res *Result, err error) {
	switch r.method {
	case MethodPenalized:
		res, err = p.penalizedResult64(l, r, v, scale, o)
	case MethodDenseRoute:
		res, err = p.denseResult64(l, r, v, scale, o)
	default:
		res, err = p.result64(l, r, v, scale, vals, o)
	}
	if err != nil || p.model.Dtype() != tensor.Float32 {
		return res, err
	}
	if err := p.round32(l, v, res, o); err != nil {
		return nil, err
	}
	return res, p.check32(l, res, o)
}

// what names res's method in messages: its kind for a B-pass ("exact
// inverse result"), the method otherwise ("conjugate gradients result").
func what(res *Result) string {
	if res.Method.BPass() {
		return res.Kind.String()
	}
	return res.Method.String()
}

// check32 checks a float32 graph's rounded result: a residual of U as
// returned above Tol32 makes it uncertified, an *errs.ConditionError
// unless o asks for best effort.
func (p *Problem) check32(l int, res *Result, o Options) error {
	if !res.Certified || !(res.RoundedResidual > o.Tol32) {
		return nil
	}
	res.Certified = false
	// ‖H δ‖ ≤ ‖H‖·ε₃₂‖u‖ ≤ ε₃₂·cond(H)·‖v‖ for the rounding δ of u = H⁻¹v:
	// what rounding added bounds the condition from below.
	fail := &errs.ConditionError{Block: l, Weight: p.blocks[l].name, Value: res.RoundedResidual,
		Reason: fmt.Sprintf("%s result rounded to float32: residual of the float32 result ‖H u − v‖/‖v‖ = %.3g > float32 tolerance %.3g (the float64 result's is %.3g): "+
			"rounding to float32 costs up to ε₃₂·cond(H_ll), so cond(H_ll) ≥ %.2g, more than float32 can hold — use a float64 model, or damp",
			what(res), res.RoundedResidual, o.Tol32, res.Residual, (res.RoundedResidual-res.Residual)/0x1p-24)}
	if o.BestEffort {
		return nil
	}
	return fail
}

// round32 rounds res.U to float32 values (kept in float64 until it leaves
// the API) and measures the residual of what is returned.
func (p *Problem) round32(l int, v *params.Vector, res *Result, o Options) error {
	res.U.Round()
	res.Note = strings.TrimPrefix(res.Note+"; rounded to float32, certified on the residual of the rounded result (Tol32)", "; ")
	s := v.Norm()
	if o.NoCertificate || s == 0 {
		res.RoundedResidual = math.NaN()
		if s == 0 {
			res.RoundedResidual = 0
		}
		return nil
	}
	u, vu := unitOf(res.U, s), unitOf(v, s)
	hu, err := p.dampedHv(l, u, res.Damping)
	if err != nil {
		return err
	}
	res.RoundedResidual = params.RelDiff(hu, vu)
	return nil
}

// zeroResult completes res for a zero direction: U = 0, its residual 0
// (NaN without a certificate), checked as every result is.
func (p *Problem) zeroResult(l int, res *Result, o Options) (*Result, error) {
	res.U, res.Residual = params.New(p.layout.Block(l)), 0
	if o.NoCertificate {
		res.Residual = math.NaN()
	}
	return res, p.check(l, res, o)
}

// result64 builds and certifies block l's result from a run's values.
func (p *Problem) result64(l int, r *route, v *params.Vector, scale float64, vals graph.Values, o Options) (*Result, error) {
	bl := p.layout.Block(l)
	res := &Result{Kind: r.kind, Method: r.method, Damping: o.Damping, Residual: math.NaN(), Reasons: r.reasons}
	if r.lambda == nil {
		res.Damping = 0
	}
	if scale == 0 {
		return p.zeroResult(l, res, o)
	}
	u, err := p.vector(bl, vals, r.u) // of the unit direction
	if err != nil {
		return nil, err
	}
	res.U = u.Clone()
	if err := scaledFinite(scale, res.U, func(int) string { return "H⁻¹v for " + p.blocks[l].name }); err != nil {
		return nil, err
	}
	if res.Factorizations, err = factorizations(r.factors, vals, r.rows); err != nil {
		return nil, err
	}
	for _, f := range res.Factorizations {
		if f.rows && f.Rank < min(f.Rows, f.Cols) { // h̃ rank-deficient: the minimum-norm solution
			res.Reasons = append(res.Reasons, rowsReason(f))
			if res.Kind == KindExact {
				res.Kind = KindPseudoInverse
			}
		}
	}
	for _, f := range res.Factorizations { // a singular M_i: a Newton direction, not an inverse
		if f.Samples > 0 && f.Rank < f.Rows && (res.Kind == KindExact || res.Kind == KindPseudoInverse) {
			res.Kind = KindNewtonOnly
			res.Reasons = append(res.Reasons, fmt.Sprintf("per-sample route: a matrix M_i + λI has rank %d < %d (of %d samples)", f.Rank, f.Rows, f.Samples))
		}
	}
	if o.NoCertificate {
		return res, p.check(l, res, o)
	}
	hu, err := p.vector(bl, vals, r.hu) // of the unit direction: H (u/s)
	if err != nil {
		return nil, err
	}
	if r.damp != nil && o.Damping > 0 {
		damp, err := p.vector(bl, vals, r.damp)
		if err != nil {
			return nil, err
		}
		hu.AddScaled(o.Damping, damp)
	}
	vu := unitOf(v, scale)
	// Scaled back into the subnormal range, U is rounded far more than u
	// was: certify what is returned.
	if ub := unitOf(res.U, scale); params.RelDiff(ub, u) > 1e-12 {
		return res, p.certifyUnit(l, ub, vu, res, o)
	}
	return res, p.settle(l, u, hu, vu, res, o)
}

// rowsReason says what a rank-deficient h̃ (f: rank < min(B, k), so with
// B ≤ k its rows are dependent) makes the per-sample route's result. With
// H_ll + λ·h̃ᵀh̃ ⊗ I = Aᵀ blockdiag(M_i + λI) A, A = h̃ ⊗ I, the route
// returns X v = A⁺ blockdiag(M_i + λI)⁻¹ A⁺ᵀ v. X satisfies the Penrose
// conditions when the M_i commute with the projection A A⁺ onto h̃'s
// column space — equal M_i, as in a squared-error output layer — and not
// in general. The normal residual certifies it either way (X v lies in
// the row space of A, the range of H_ll wherever the M_i + λI are
// definite).
func rowsReason(f Factorization) string {
	return fmt.Sprintf("per-sample route: h̃ (%d×%d, node %s) has rank %d < %d when run: its rows are dependent, so the result is the minimum-norm solution (pseudo-inverse) only where the samples' M_i agree on them (as in a squared-error output layer), "+
		"which its normal residual certifies; otherwise the block needs a dense solve (Block.Curvature)",
		f.Rows, f.Cols, f.Node, f.Rank, min(f.Rows, f.Cols))
}

// certify is Block.Certify.
func (p *Problem) certify(l int, v *params.Vector, res *Result, opt *Options) error {
	o, err := opt.withDefaults()
	if err != nil {
		return err
	}
	bl := p.layout.Block(l)
	if res == nil {
		return &errs.ArgumentError{What: "Certify's result", Value: "nil", Reason: fmt.Sprintf("want the *Result whose U (a vector of block %s's layout) to certify", p.blocks[l].name)}
	}
	if err := p.checkVec(v, bl, "direction"); err != nil {
		return err
	}
	if err := p.checkVec(res.U, bl, "result"); err != nil {
		return err
	}
	// At the scale of v/‖v‖, so that directions near the ends of the
	// float64 range are certified at full precision.
	s := v.Norm()
	if s == 0 {
		s = 1
	}
	u, vu := unitOf(res.U, s), unitOf(v, s)
	o.Damping, res.Damping = 0, 0
	q, flops := p.counting()
	err = q.certifyUnit(l, u, vu, res, o)
	res.Flops += *flops
	return err
}

// dampedHv returns (H_ll + λ·h̃ᵀh̃ ⊗ I) u by the exact R-pass.
func (p *Problem) dampedHv(l int, u *params.Vector, lambda float64) (*params.Vector, error) {
	hu, err := p.blockHv(l, u)
	if err != nil || lambda == 0 {
		return hu, err
	}
	d, err := p.dampingTerm(l, u)
	if err != nil {
		return nil, err
	}
	hu.AddScaled(lambda, d)
	return hu, nil
}

// certifyUnit sets the residual of u for vu (both at unit scale) and checks.
func (p *Problem) certifyUnit(l int, u, vu *params.Vector, res *Result, o Options) error {
	hu, err := p.dampedHv(l, u, res.Damping)
	if err != nil {
		return err
	}
	o.NoCertificate = false
	return p.settle(l, u, hu, vu, res, o)
}

// settle sets res's residual from (H + λD)u = hu and vu, all at unit scale,
// the normal residual of a pseudo-inverse above tolerance, and runs the
// checks.
func (p *Problem) settle(l int, u, hu, vu *params.Vector, res *Result, o Options) (err error) {
	res.Residual = params.RelDiff(hu, vu)
	if res.Kind == KindPseudoInverse && res.Residual > o.Tol {
		if res.NormalResidual, err = p.normalResidual(l, u, hu, vu, res.Damping); err != nil {
			return err
		}
	}
	return p.check(l, res, o)
}

// gram is Block.Gram.
func (p *Problem) gram(l int) (*mat.Dense, error) {
	r, err := p.routeFor(l, Options{Damping: 1})
	if err != nil {
		return nil, err
	}
	vals, err := p.run(fmt.Sprintf("rows/%d", l), []*G.Node{r.rows}, nil, cost{rows: (p.batch + 1) / 2, other: 1})
	if err != nil {
		return nil, err
	}
	h, err := flatValue(vals, r.rows)
	if err != nil {
		return nil, err
	}
	s := r.rows.Shape()
	hm := mat.NewDense(s[0], s[1], h)
	g := &mat.Dense{}
	g.Mul(hm.T(), hm)
	return g, nil
}

// dampingTerm returns (h̃ᵀh̃ ⊗ I) u = G Û for block l (u of its layout),
// Û = u_W, or u_W over u_b.
func (p *Problem) dampingTerm(l int, u *params.Vector) (*params.Vector, error) {
	g, err := p.gram(l)
	if err != nil {
		return nil, err
	}
	k, _ := g.Dims()
	n := p.ws[p.blocks[l].params[0]].Shape()[1]
	var d mat.Dense
	d.Mul(g, mat.NewDense(k, n, u.Flat()))
	return params.FromFlat(u.Layout(), d.RawMatrix().Data), nil
}

// check sets res.Certified and returns the first failed check as an
// *errs.ConditionError (nil with BestEffort).
func (p *Problem) check(l int, res *Result, o Options) error {
	w := p.blocks[l].name
	var fail *errs.ConditionError
	for _, f := range res.Factorizations {
		// A singular M_i makes the result Newton-only instead, a
		// rank-deficient h̃ a pseudo-inverse (result64).
		full := f.Rank == min(f.Rows, f.Cols) || f.Samples > 0 || f.rows
		if fail == nil && (!(f.Cond <= o.MaxCond) || !full) {
			fail = &errs.ConditionError{Block: l, Weight: w, Node: f.Node, Op: f.Op, Value: f.Cond,
				Reason: fmt.Sprintf("%d×%d matrix of rank %d, condition estimate %.3g (limit %.0e, %s)",
					f.Rows, f.Cols, f.Rank, f.Cond, o.MaxCond, f.Method)}
		}
	}
	ok := res.Residual <= o.Tol || (res.Kind == KindPseudoInverse && res.NormalResidual <= o.Tol)
	if o.NoCertificate {
		ok = true // not checked; Certified stays false below
	}
	// A B-pass refused by the conditions report is never certified; any
	// other method's result is KindRefused by definition (not an exact
	// inverse product) and certified by its residual alone.
	refused := res.Kind == KindRefused && res.Method.BPass()
	if fail == nil && !ok {
		reason := fmt.Sprintf("%s result: residual ‖H u − v‖/‖v‖ = %.3g > tolerance %.3g", what(res), res.Residual, o.Tol)
		switch {
		case res.Kind == KindNewtonOnly:
			reason += " (a Newton-only block solves H u = v only for v in the range of H, such as the gradient)"
		case res.Kind == KindPseudoInverse:
			reason += fmt.Sprintf(", and normal residual %.3g", res.NormalResidual)
			for _, f := range res.Factorizations {
				if f.rows && f.Rank < min(f.Rows, f.Cols) {
					reason += " — " + rowsReason(f)
				}
			}
		case refused:
			reason += " (the conditions report refused this block)"
		}
		fail = &errs.ConditionError{Block: l, Weight: w, Reason: reason, Value: res.Residual}
	}
	if fail == nil && refused {
		fail = &errs.ConditionError{Block: l, Weight: w, Reason: "refused by the conditions report: " + strings.Join(res.Reasons, "; ")}
	}
	res.Certified = fail == nil && !o.NoCertificate
	if fail == nil || o.BestEffort {
		return nil
	}
	fail.Node, fail.Reason = p.model.Annotate(fail.Node), p.model.Annotate(fail.Reason)
	return fail
}

// normalResidual measures how far r = H u − v is from orthogonal to the
// range of H (zero for a least-squares solution): ‖H r‖ / (σ̂ ‖r‖), with
// σ̂ = max(‖H u‖/‖u‖, ‖H v‖/‖v‖) ≤ ‖H‖ an estimate of the norm of H (u
// alone leans to the small eigenvalues), and H the damped operator
// H_ll + λ·h̃ᵀh̃ ⊗ I (hu = H u). Two extra Hv products.
func (p *Problem) normalResidual(l int, u, hu, v *params.Vector, lambda float64) (float64, error) {
	r := hu.Clone()
	r.AddScaled(-1, v)
	hr, err := p.dampedHv(l, r, lambda)
	if err != nil {
		return 0, err
	}
	hv, err := p.dampedHv(l, v, lambda)
	if err != nil {
		return 0, err
	}
	sigma := math.Max(hu.Norm()/u.Norm(), hv.Norm()/v.Norm())
	if !(sigma > 0) || r.Norm() == 0 {
		return 0, nil
	}
	return hr.Norm() / (sigma * r.Norm()), nil
}

// factorizations reports every distinct matrix the given nodes factorise,
// from the values of a run; rows is the per-sample route's h̃ (nil for
// the chain route).
func factorizations(nodes []*G.Node, vals graph.Values, rows *G.Node) ([]Factorization, error) {
	seen := map[*G.Node]bool{}
	var out []Factorization
	for _, n := range nodes {
		in := graph.Children(n)
		if len(in) == 0 || seen[in[0]] {
			continue
		}
		seen[in[0]] = true
		vs := make([]G.Value, len(in))
		for i, c := range in {
			if vs[i] = vals[c]; vs[i] == nil {
				vs[i] = c.Value() // an input not bound in the run
			}
		}
		mc, err := n.Op().(ops.Conditioner).Condition(vs)
		if err != nil {
			return nil, fmt.Errorf("condition of %s: %w", errs.Label(in[0]), err)
		}
		_, pinv := n.Op().(ops.PInvOp)
		out = append(out, Factorization{Node: errs.Label(in[0]), Op: n.Op().String(), MatrixCondition: mc, rows: pinv && rows != nil && in[0] == rows})
	}
	return out, nil
}

// functionalInverse is Block.FunctionalInverse.
func (p *Problem) functionalInverse(l int, g *params.Vector) (*params.Vector, error) {
	b := p.fdBlock(l)
	if b.fdErr != nil {
		return nil, b.fdErr
	}
	bl := p.layout.Block(l)
	if err := p.checkVec(g, bl, "gradient"); err != nil {
		return nil, err
	}
	bind := graph.Values{b.fdRoot: valueOf(b.fdRoot, g.Weight(0))}
	vals, err := p.run(fmt.Sprintf("functional-inverse/%d", l), []*G.Node{b.fd.Result}, bind, cost{rows: p.batch, other: 1})
	if err != nil {
		return nil, err
	}
	w, err := p.vector(bl, vals, []*G.Node{b.fd.Result})
	if err != nil {
		return nil, err
	}
	w.Round()
	return w, nil
}
