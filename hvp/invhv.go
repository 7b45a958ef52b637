package hvp

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
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
	// operator. A block without a per-sample route cannot be damped.
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
	// and the bytes. 0: the default, a quarter of physical memory.
	MaxBytes int64
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
	switch {
	case !(r.Tol > 0) || math.IsInf(r.Tol, 0):
		return r, &errs.ArgumentError{What: "Options.Tol", Value: r.Tol, Reason: "want a finite tolerance > 0"}
	case !(r.Tol32 > 0) || math.IsInf(r.Tol32, 0):
		return r, &errs.ArgumentError{What: "Options.Tol32", Value: r.Tol32, Reason: "want a finite tolerance > 0"}
	case !(r.MaxCond >= 1):
		return r, &errs.ArgumentError{What: "Options.MaxCond", Value: r.MaxCond, Reason: "want a condition limit ≥ 1"}
	case !(r.Damping >= 0) || math.IsInf(r.Damping, 0):
		return r, &errs.ArgumentError{What: "Options.Damping", Value: r.Damping, Reason: "want a finite λ ≥ 0"}
	case r.MaxBytes < 0:
		return r, &errs.ArgumentError{What: "Options.MaxBytes", Value: r.MaxBytes, Reason: "want a memory cap in bytes ≥ 0 (0: the default)"}
	}
	return r, nil
}

// Factorization is the rank and condition of one matrix the inverse pass
// (or its B-pass) factorises, or, for the per-sample solve, the worst of
// its per-sample matrices (Samples > 0).
type Factorization struct {
	Node string // the matrix's node
	Op   string // the op that factorises it
	ops.MatrixCondition

	rows bool // h̃ of the per-sample route: a rank deficiency makes the result a pseudo-inverse
}

// Result is an inverse-Hessian-vector product u ≈ H_ll⁻¹ v with what
// certifies it. Kind says what u is; only Certified results of KindExact
// and KindPseudoInverse are exact inverse products.
type Result struct {
	U       []*tensor.Dense // one matrix per weight of the block
	Kind    Kind
	Method  string  // how U was computed, e.g. "B-pass (chain)", "conjugate gradients, damping 0"
	Route   string  // RouteChain or RoutePerSample, for the B-pass
	Damping float64 // λ of (H_ll + λ·h̃ᵀh̃ ⊗ I), for the B-pass
	// Residual is ‖(H_ll + λ·h̃ᵀh̃ ⊗ I) U − v‖_F / ‖v‖_F (λ = Damping), with
	// H_ll U from the exact R-pass (0 when v = 0 and U = 0; NaN when not
	// computed).
	Residual float64
	// RoundedResidual, for a float32 graph, is the residual of U as
	// returned, rounded to float32 (Residual is that of the float64 result
	// it rounds): rounding adds up to ε₃₂·cond(H_ll). It is checked
	// against Options.Tol32. NaN when not computed, 0 for float64 graphs.
	RoundedResidual float64
	// NormalResidual, for a pseudo-inverse whose Residual is above
	// tolerance, is ‖H r‖ / (σ̂ ‖r‖) with H = H_ll + λ·h̃ᵀh̃ ⊗ I,
	// r = H U − v and σ̂ an estimate of ‖H‖: near rounding when U is a
	// least-squares solution although v lies outside the range (Residual
	// is then O(1)).
	NormalResidual float64
	// Certified reports that every check passed: the residual (or, for a
	// pseudo-inverse, the normal residual) within tolerance, every
	// factorised matrix within MaxCond, the method's own criterion (CG
	// converged) and, for a float32 graph, the residual of the result as
	// returned (RoundedResidual) within Tol32: it speaks of U as returned,
	// not only of the float64 result it was rounded from. Uncertified
	// results reach only callers who asked for best effort, with both
	// residuals.
	Certified      bool
	Reasons        []string        // why the kind is not exact, from the conditions report
	Factorizations []Factorization // of the inverse pass and B-pass
	Note           string          // what else the method reports (CG's stopping reason, a fallback)
}

// InvHv returns u = H_ll⁻¹ v for block l (v: one matrix per weight of the
// block, see BlockOf) by the B-pass, certified: an error (an
// *errs.ConditionError, or errs.ErrNoInverse, ErrShape, ErrNotFinite)
// unless every check of opt passes (nil opt: the defaults). v = 0 gives
// u = 0.
func (p *Products) InvHv(l int, v []*tensor.Dense, opt *Options) (res *Result, err error) {
	defer errs.Recover("hvp.InvHv", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if v, err = p.checkBlockDir(l, v, "direction"); err != nil {
		return nil, err
	}
	out, err := p.invHv([]int{l}, map[int][]*tensor.Dense{l: v}, o)
	if err != nil {
		return nil, err
	}
	out[0].U = p.outBlock(l, out[0].U)
	return out[0], nil
}

// InvHvAll returns H_ll⁻¹ v_l for every block l (v: one matrix per weight,
// in the order of Weights), evaluating every B-pass in one program. It
// fails, naming the block, if any block fails its checks (unless opt asks
// for best effort).
func (p *Products) InvHvAll(v []*tensor.Dense, opt *Options) (out []*Result, err error) {
	defer errs.Recover("hvp.InvHvAll", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if v, err = p.checkAll(v, "direction"); err != nil {
		return nil, err
	}
	all := make([]int, len(p.blocks))
	dirs := map[int][]*tensor.Dense{}
	for l := range all {
		all[l], dirs[l] = l, p.BlockOf(l, v)
	}
	if out, err = p.invHv(all, dirs, o); err != nil {
		return nil, err
	}
	for l, res := range out {
		res.U = p.outBlock(l, res.U)
	}
	return out, nil
}

// routeFor returns the route block l takes with the options: the
// per-sample route when damped.
func (p *Products) routeFor(l int, o Options) (*route, error) {
	b := p.block(l)
	if b.err != nil {
		return nil, b.err
	}
	if o.Damping == 0 {
		return b.main, nil
	}
	r, err := p.perSampleOf(l)
	if err != nil {
		return nil, &errs.ArgumentError{What: "Options.Damping", Value: o.Damping,
			Reason: fmt.Sprintf("block %d (%s) has no per-sample route to damp: %v", l, b.name, err)}
	}
	return r, nil
}

// invHv runs and certifies the B-passes of the given blocks, directions
// already checked. Each direction is scaled to unit norm for the run and
// the result scaled back (the product is linear in v).
func (p *Products) invHv(blocks []int, v map[int][]*tensor.Dense, o Options) ([]*Result, error) {
	var roots, keep []*G.Node
	var ran []int // the blocks whose B-pass runs
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
		if scale[l] = Norm(v[l]...); scale[l] == 0 {
			continue // u = 0
		}
		for i, d := range r.dirs {
			bind[d] = unit(v[l][i], scale[l])
		}
		if r.lambda != nil {
			bind[r.lambda] = G.NewF64(o.Damping)
		}
		roots = append(roots, r.u...)
		if !o.NoCertificate {
			roots = append(roots, r.hu...)
			roots = append(roots, r.damp...)
		}
		keep = append(keep, r.keep...)
		ran = append(ran, l)
		fmt.Fprintf(&key, "/%d%s", l, r.name)
	}
	if err := p.fitsRun(ran, routes, 0, o.MaxBytes, "Options.MaxBytes"); err != nil {
		return nil, err
	}
	if o.NoCertificate {
		key.WriteString("/raw")
	}
	vals := graph.Values{}
	if len(roots) > 0 {
		var err error
		if vals, err = p.run(key.String(), roots, bind, keep...); err != nil {
			return nil, p.userError(p.blockError(blocks, routes, err))
		}
	} else if err := p.checkBound(); err != nil {
		return nil, err
	}
	out := make([]*Result, len(blocks))
	for i, l := range blocks {
		res, err := p.result(l, routes[l], v[l], scale[l], vals, o)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// blockError turns a failed run into the *errs.ConditionError of the block
// whose factorisation failed, when it is one.
func (p *Products) blockError(blocks []int, routes map[int]*route, err error) error {
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
func (p *Products) domainError(blocks []int, routes map[int]*route, re *errs.RunError) error {
	for _, l := range blocksWith(blocks, routes, re.Node) {
		b := p.blocks[l]
		if routes[l].name != RouteChain || b.chain == nil {
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
func (p *Products) result(l int, r *route, v []*tensor.Dense, scale float64, vals graph.Values, o Options) (*Result, error) {
	res, err := p.result64(l, r, v, scale, vals, o)
	if err != nil || p.Dtype() != tensor.Float32 {
		return res, err
	}
	if err := p.round32(l, v, res, o); err != nil {
		return nil, err
	}
	return res, p.check32(l, res, o)
}

// check32 checks a float32 graph's rounded result: a residual of U as
// returned above Tol32 makes it uncertified, an *errs.ConditionError
// unless o asks for best effort.
func (p *Products) check32(l int, res *Result, o Options) error {
	if !res.Certified || !(res.RoundedResidual > o.Tol32) {
		return nil
	}
	res.Certified = false
	// ‖H δ‖ ≤ ‖H‖·ε₃₂‖u‖ ≤ ε₃₂·cond(H)·‖v‖ for the rounding δ of u = H⁻¹v:
	// what rounding added bounds the condition from below.
	fail := &errs.ConditionError{Block: l, Weight: p.blocks[l].name, Value: res.RoundedResidual,
		Reason: fmt.Sprintf("%s result rounded to float32: residual of the float32 result ‖H u − v‖/‖v‖ = %.3g > float32 tolerance %.3g (the float64 result's is %.3g): "+
			"rounding to float32 costs up to ε₃₂·cond(H_ll), so cond(H_ll) ≥ %.2g, more than float32 can hold — use a float64 model, or damp",
			res.Kind, res.RoundedResidual, o.Tol32, res.Residual, (res.RoundedResidual-res.Residual)/0x1p-24)}
	if o.BestEffort {
		return nil
	}
	return fail
}

// round32 rounds res.U to float32 values (kept in float64 until it leaves
// the API) and measures the residual of what is returned.
func (p *Products) round32(l int, v []*tensor.Dense, res *Result, o Options) error {
	for _, t := range res.U {
		x := t.Float64s()
		for j := range x {
			x[j] = float64(float32(x[j]))
		}
	}
	res.Note = strings.TrimPrefix(res.Note+"; rounded to float32, certified on the residual of the rounded result (Tol32)", "; ")
	s := Norm(v...)
	if o.NoCertificate || s == 0 {
		res.RoundedResidual = math.NaN()
		if s == 0 {
			res.RoundedResidual = 0
		}
		return nil
	}
	u, vu := make([]*tensor.Dense, len(v)), make([]*tensor.Dense, len(v))
	for i := range v {
		u[i], vu[i] = unit(res.U[i], s), unit(v[i], s)
	}
	hu, err := p.dampedHv(l, u, res.Damping)
	if err != nil {
		return err
	}
	res.RoundedResidual = FlatRelDiff(Flatten(hu), Flatten(vu))
	return nil
}

// result64 builds and certifies block l's result from a run's values.
func (p *Products) result64(l int, r *route, v []*tensor.Dense, scale float64, vals graph.Values, o Options) (*Result, error) {
	res := &Result{Kind: r.kind, Method: "B-pass (" + r.name + ")", Route: r.name, Damping: o.Damping, Residual: math.NaN(), Reasons: r.reasons}
	if r.lambda == nil {
		res.Damping = 0
	}
	if scale == 0 {
		res.U, res.Residual = zerosLike(v), 0
		if o.NoCertificate {
			res.Residual = math.NaN()
		}
		return res, p.check(l, res, o)
	}
	u, err := denseValues(vals, r.u)
	if err != nil {
		return nil, err
	}
	res.U = make([]*tensor.Dense, len(u))
	for i := range u {
		if res.U[i], err = scaledFinite(scale, u[i], "H⁻¹v for "+p.blocks[l].name); err != nil {
			return nil, err
		}
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
	hu, err := denseValues(vals, r.hu) // of the unit direction: H (u/s)
	if err != nil {
		return nil, err
	}
	if r.damp != nil && o.Damping > 0 {
		damp, err := denseValues(vals, r.damp)
		if err != nil {
			return nil, err
		}
		for i := range hu {
			hu[i] = axpy(hu[i], o.Damping, damp[i])
		}
	}
	vu := make([]*tensor.Dense, len(v))
	for i := range v {
		vu[i] = unit(v[i], scale)
	}
	// Scaled back into the subnormal range, U is rounded far more than u
	// was: certify what is returned.
	ub := make([]*tensor.Dense, len(u))
	for i := range u {
		ub[i] = unit(res.U[i], scale)
	}
	if FlatRelDiff(Flatten(ub), Flatten(u)) > 1e-12 {
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
		"which its normal residual certifies; otherwise the block needs a dense solve (BlockCurvature)",
		f.Rows, f.Cols, f.Node, f.Rank, min(f.Rows, f.Cols))
}

// Certify computes the residual ‖H_ll u − v‖/‖v‖ of a result of block l
// for direction v (undamped) with the exact BlockHv, and runs the checks
// of opt (nil: the defaults) as InvHv does: for callers that computed u
// another way (finite differences, conjugate gradients). It sets
// res.Residual, res.NormalResidual (pseudo-inverses) and res.Certified,
// and returns the failed check as an *errs.ConditionError unless opt asks
// for best effort. A method's own failure (CG not converged) is for the
// caller to record in res.Note before and to refuse after. A block out
// of range or a nil res is an *errs.ArgumentError.
func (p *Products) Certify(l int, v []*tensor.Dense, res *Result, opt *Options) (err error) {
	defer errs.Recover("hvp.Certify", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return err
	}
	if err := p.checkBlock(l); err != nil {
		return err
	}
	if res == nil {
		return &errs.ArgumentError{What: "Certify's result", Value: "nil", Reason: fmt.Sprintf("want the *Result whose U (one matrix per weight of block %s) to certify", p.blocks[l].name)}
	}
	if v, err = p.checkBlockDir(l, v, "direction"); err != nil {
		return err
	}
	ru, err := p.checkBlockDir(l, res.U, "result")
	if err != nil {
		return err
	}
	// At the scale of v/‖v‖, so that directions near the ends of the
	// float64 range are certified at full precision.
	s := Norm(v...)
	if s == 0 {
		s = 1
	}
	u, vu := make([]*tensor.Dense, len(v)), make([]*tensor.Dense, len(v))
	for i := range v {
		u[i], vu[i] = unit(ru[i], s), unit(v[i], s)
	}
	o.Damping, res.Damping = 0, 0
	return p.certifyUnit(l, u, vu, res, o)
}

// dampedHv returns (H_ll + λ·h̃ᵀh̃ ⊗ I) u by the exact R-pass.
func (p *Products) dampedHv(l int, u []*tensor.Dense, lambda float64) ([]*tensor.Dense, error) {
	hu, err := p.blockHv(l, u)
	if err != nil || lambda == 0 {
		return hu, err
	}
	d, err := p.dampingTerm(l, u)
	if err != nil {
		return nil, err
	}
	for i := range hu {
		hu[i] = axpy(hu[i], lambda, d[i])
	}
	return hu, nil
}

// certifyUnit sets the residual of u for vu (both at unit scale) and checks.
func (p *Products) certifyUnit(l int, u, vu []*tensor.Dense, res *Result, o Options) error {
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
func (p *Products) settle(l int, u, hu, vu []*tensor.Dense, res *Result, o Options) (err error) {
	res.Residual = FlatRelDiff(Flatten(hu), Flatten(vu))
	if res.Kind == KindPseudoInverse && res.Residual > o.Tol {
		if res.NormalResidual, err = p.normalResidual(l, u, hu, vu, res.Damping); err != nil {
			return err
		}
	}
	return p.check(l, res, o)
}

// Gram returns h̃ᵀh̃ (k×k) for a block with a per-sample route: h̃ is the
// layer's input, with a column of ones for a bias. The metric of
// Options.Damping is h̃ᵀh̃ ⊗ I, for references that build the damped
// operator.
func (p *Products) Gram(l int) (g *mat.Dense, err error) {
	defer errs.Recover("hvp.Gram", &err)
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	r, err := p.routeFor(l, Options{Damping: 1})
	if err != nil {
		return nil, err
	}
	vals, err := p.run(fmt.Sprintf("rows/%d", l), []*G.Node{r.rows}, nil)
	if err != nil {
		return nil, err
	}
	h, err := denseValue(vals, r.rows)
	if err != nil {
		return nil, err
	}
	hm := mat.NewDense(h.Shape()[0], h.Shape()[1], h.Float64s())
	g = &mat.Dense{}
	g.Mul(hm.T(), hm)
	return g, nil
}

// dampingTerm returns (h̃ᵀh̃ ⊗ I) u = G Û for block l, Û = u_W, or u_W
// over u_b.
func (p *Products) dampingTerm(l int, u []*tensor.Dense) ([]*tensor.Dense, error) {
	g, err := p.Gram(l)
	if err != nil {
		return nil, err
	}
	k, _ := g.Dims()
	n := u[0].Shape()[1]
	var d mat.Dense
	d.Mul(g, mat.NewDense(k, n, Flatten(u)))
	return SplitLike(d.RawMatrix().Data, u)
}

// check sets res.Certified and returns the first failed check as an
// *errs.ConditionError (nil with BestEffort).
func (p *Products) check(l int, res *Result, o Options) error {
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
	if fail == nil && !ok {
		reason := fmt.Sprintf("%s result: residual ‖H u − v‖/‖v‖ = %.3g > tolerance %.3g", res.Kind, res.Residual, o.Tol)
		switch res.Kind {
		case KindNewtonOnly:
			reason += " (a Newton-only block solves H u = v only for v in the range of H, such as the gradient)"
		case KindPseudoInverse:
			reason += fmt.Sprintf(", and normal residual %.3g", res.NormalResidual)
			for _, f := range res.Factorizations {
				if f.rows && f.Rank < min(f.Rows, f.Cols) {
					reason += " — " + rowsReason(f)
				}
			}
		case KindRefused:
			reason += " (the conditions report refused this block)"
		}
		fail = &errs.ConditionError{Block: l, Weight: w, Reason: reason, Value: res.Residual}
	}
	if fail == nil && res.Kind == KindRefused {
		fail = &errs.ConditionError{Block: l, Weight: w, Reason: "refused by the conditions report: " + strings.Join(res.Reasons, "; ")}
	}
	res.Certified = fail == nil && !o.NoCertificate
	if fail == nil || o.BestEffort {
		return nil
	}
	if p.tr != nil {
		fail.Node, fail.Reason = p.tr.Annotate(fail.Node), p.tr.Annotate(fail.Reason)
	}
	return fail
}

// normalResidual measures how far r = H u − v is from orthogonal to the
// range of H (zero for a least-squares solution): ‖H r‖ / (σ̂ ‖r‖), with
// σ̂ = max(‖H u‖/‖u‖, ‖H v‖/‖v‖) ≤ ‖H‖ an estimate of the norm of H (u
// alone leans to the small eigenvalues), and H the damped operator
// H_ll + λ·h̃ᵀh̃ ⊗ I (hu = H u). Two extra Hv products.
func (p *Products) normalResidual(l int, u, hu, v []*tensor.Dense, lambda float64) (float64, error) {
	r := make([]*tensor.Dense, len(hu))
	for i := range hu {
		r[i] = axpy(hu[i], -1, v[i])
	}
	hr, err := p.dampedHv(l, r, lambda)
	if err != nil {
		return 0, err
	}
	hv, err := p.dampedHv(l, v, lambda)
	if err != nil {
		return 0, err
	}
	sigma := math.Max(Norm(hu...)/Norm(u...), Norm(hv...)/Norm(v...))
	if !(sigma > 0) || Norm(r...) == 0 {
		return 0, nil
	}
	return Norm(hr...) / (sigma * Norm(r...)), nil
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

// FunctionalInverse returns G_l⁻¹(g): the weight of one-weight block l
// whose block gradient is g, the other blocks and inputs at their current
// values, by the inverse pass with piecewise-linear activations inverted by
// their plain functional inverse (their pattern follows the reconstructed
// values). Its central differences along v are the finite-difference
// approximation of H_ll⁻¹ v (package reference). Blocks without an
// op-by-op inverse pass (smooth activations, biases) have none.
func (p *Products) FunctionalInverse(l int, g *tensor.Dense) (w *tensor.Dense, err error) {
	defer errs.Recover("hvp.FunctionalInverse", &err)
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	b := p.fdBlock(l)
	if b.fdErr != nil {
		return nil, b.fdErr
	}
	if g, err = p.in(b.params[0], g, "gradient"); err != nil {
		return nil, err
	}
	vals, err := p.run(fmt.Sprintf("functional-inverse/%d", l), []*G.Node{b.fd.Result}, graph.Values{b.fdRoot: g})
	if err != nil {
		return nil, err
	}
	w, err = denseValue(vals, b.fd.Result)
	return p.out(b.params[0], w), err
}
