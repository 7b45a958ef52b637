package hvp

import (
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kind is how an inverse product was obtained, and so what it means.
type Kind int

const (
	// KindExact: u = H_ll⁻¹ v by the B-pass.
	KindExact Kind = iota
	// KindPseudoInverse: u = H_ll⁺ v by the B-pass (batch < fan-in).
	KindPseudoInverse
	// KindNewtonOnly: the B-pass solves H_ll u = v only for v in the
	// range of H_ll, such as the gradient (widths shrinking).
	KindNewtonOnly
	// KindRefused: a B-pass computed although the conditions fail, for a
	// caller who asked for best effort.
	KindRefused
	// KindFiniteDifference: central differences of the inverse pass.
	KindFiniteDifference
	// KindCG: conjugate gradients on the exact Hv.
	KindCG
)

func (k Kind) String() string {
	return [...]string{"exact inverse", "pseudo-inverse", "Newton-only", "refused (best effort)", "finite differences", "conjugate gradients"}[k]
}

// MarshalText names the kind in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func kindOf(k graph.Kind) Kind {
	return map[graph.Kind]Kind{graph.Exact: KindExact, graph.PseudoInverse: KindPseudoInverse,
		graph.NewtonOnly: KindNewtonOnly, graph.Refused: KindRefused}[k]
}

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
)

// Options control the checks of an inverse product. The zero value (or a
// nil *Options) means: the defaults above, errors on any failed check, no
// fallback.
type Options struct {
	Tol        float64 // 0: DefaultTol
	MaxCond    float64 // 0: DefaultMaxCond
	BestEffort bool    // return results that fail a check, Certified = false, instead of an error
	// Fallback, when set, makes InvHv exact-else-CG: a block that is
	// refused or fails a check is solved by conjugate gradients on the
	// exact Hv with these settings, and the result says why (Fallback).
	Fallback *CGOptions
	// NoCertificate skips the residual and the R-pass it costs (about one
	// and a half gradients for all blocks of a 3-layer net): the result
	// comes back with Certified = false and Residual = NaN, and no residual
	// check runs (condition checks still do). For callers who time the
	// B-pass alone or certify otherwise. It cannot be combined with
	// Fallback, which needs the residual to decide.
	NoCertificate bool
}

func (o *Options) withDefaults() Options {
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
	return r
}

// Factorization is the rank and condition of one matrix the inverse pass
// (or its B-pass) factorises.
type Factorization struct {
	Node string // the matrix's node
	Op   string // the op that factorises it
	ops.MatrixCondition
}

// Inverse is an inverse-Hessian-vector product with its certificate.
type Inverse struct {
	U      *tensor.Dense
	Kind   Kind
	Method string
	// Residual is ‖H_ll U − v‖_F / ‖v‖_F, with H_ll v from the exact R-pass.
	Residual float64
	// NormalResidual, for a pseudo-inverse whose Residual is above
	// tolerance, is ‖H_ll r‖ / (σ̂ ‖r‖) with r = H_ll U − v and σ̂ an
	// estimate of ‖H_ll‖: near rounding when U is a least-squares solution
	// although v lies outside the range (Residual is then O(1)).
	NormalResidual float64
	// Certified reports that every check passed: residual (or, for a
	// pseudo-inverse, normal residual) within tolerance, every factorised
	// matrix within MaxCond, CG converged. Uncertified results are only
	// returned to callers who asked for best effort.
	Certified      bool
	Reasons        []string        // why the kind is not exact, from the conditions report
	Factorizations []Factorization // of the inverse pass and B-pass
	CG             *CGStats        // for KindCG
	Fallback       string          // why an exact-else-CG product fell back
}

// InvHv returns u = H_ll⁻¹ v by the B-pass, certified with the default
// Options: an error (typed: *ConditionError, *NoInverseError, *ShapeError,
// *NotFiniteError) unless every check passes.
func (p *Products) InvHv(l int, v *tensor.Dense) (*Inverse, error) {
	return p.InvHvWith(l, v, nil)
}

// InvHvWith is InvHv with explicit options.
func (p *Products) InvHvWith(l int, v *tensor.Dense, opt *Options) (res *Inverse, err error) {
	defer recoverTo(&err)
	o := opt.withDefaults()
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	if err := check(p.Weights[l], v, "direction"); err != nil {
		return nil, err
	}
	if err := p.checkInputs(); err != nil {
		return nil, err
	}
	if o.NoCertificate && o.Fallback != nil {
		return nil, &ShapeError{What: "options", Reason: "NoCertificate cannot be combined with Fallback"}
	}
	res, err = p.exact(l, v, o, func() error {
		if err := bind(p.blocks[l].dir, v); err != nil { // checked above
			return err
		}
		if o.NoCertificate {
			return p.run(fmt.Sprintf("inv/%d/raw", l), []*G.Node{p.blocks[l].u})
		}
		return p.run(fmt.Sprintf("inv/%d", l), []*G.Node{p.blocks[l].u, p.blocks[l].hu})
	})
	return p.fallback(l, v, o, res, err)
}

// InvHvAll returns H_ll⁻¹ v_l for every block l, running every B-pass in
// one machine. It fails, naming the block, if any block fails its checks
// (after the fallback, if one is set).
func (p *Products) InvHvAll(v []*tensor.Dense) ([]*Inverse, error) { return p.InvHvAllWith(v, nil) }

// InvHvAllWith is InvHvAll with explicit options.
func (p *Products) InvHvAllWith(v []*tensor.Dense, opt *Options) (out []*Inverse, err error) {
	defer recoverTo(&err)
	o := opt.withDefaults()
	if err := p.checkAll(v, "direction"); err != nil {
		return nil, err
	}
	if err := p.checkInputs(); err != nil {
		return nil, err
	}
	if o.NoCertificate && o.Fallback != nil {
		return nil, &ShapeError{What: "options", Reason: "NoCertificate cannot be combined with Fallback"}
	}
	var roots []*G.Node
	for l, b := range p.blocks {
		if b.u == nil {
			continue
		}
		if err := bind(b.dir, v[l]); err != nil { // checked above
			return nil, err
		}
		roots = append(roots, b.u)
		if !o.NoCertificate {
			roots = append(roots, b.hu)
		}
	}
	key := "inv/all"
	if o.NoCertificate {
		key = "inv/all/raw"
	}
	var runErr error
	ran := false
	run := func() error {
		if !ran {
			ran, runErr = true, p.run(key, roots)
		}
		return runErr
	}
	out = make([]*Inverse, len(p.blocks))
	for l := range p.blocks {
		res, err := p.exact(l, v[l], o, run)
		if out[l], err = p.fallback(l, v[l], o, res, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exact runs (through run) and certifies block l's B-pass.
func (p *Products) exact(l int, v *tensor.Dense, o Options, run func() error) (*Inverse, error) {
	b := p.blocks[l]
	if b.err != nil {
		return nil, b.err
	}
	w := p.Weights[l].Name()
	if b.kind == graph.Refused && !o.BestEffort {
		return nil, &ConditionError{Block: l, Weight: w, Reason: "refused before running: " + strings.Join(b.reasons, "; ")}
	}
	if err := run(); err != nil {
		if s, node, ok := asSingular(err); ok {
			return nil, &ConditionError{Block: l, Weight: w, Node: node, Op: s.Op, Reason: s.Error(), Value: s.Cond}
		}
		return nil, err
	}
	u, err := value(b.u)
	if err != nil {
		return nil, err
	}
	res := &Inverse{U: u, Kind: kindOf(b.kind), Method: "B-pass", Residual: math.NaN(), Reasons: b.reasons}
	if res.Factorizations, err = factorizations(b.factors); err != nil {
		return nil, err
	}
	if o.NoCertificate {
		return res, p.certify(l, res, o)
	}
	hu, err := value(b.hu)
	if err != nil {
		return nil, err
	}
	res.Residual = relDiff(hu, v)
	if res.Kind == KindPseudoInverse && res.Residual > o.Tol {
		if res.NormalResidual, err = p.normalResidual(l, u, hu, v); err != nil {
			return nil, err
		}
	}
	return res, p.certify(l, res, o)
}

// certify sets res.Certified and returns the first failed check as a
// *ConditionError (nil with BestEffort).
func (p *Products) certify(l int, res *Inverse, o Options) error {
	w := p.Weights[l].Name()
	var fail *ConditionError
	for _, f := range res.Factorizations {
		full := f.Rank == min(f.Rows, f.Cols)
		if fail == nil && (!(f.Cond <= o.MaxCond) || !full) {
			fail = &ConditionError{Block: l, Weight: w, Node: f.Node, Op: f.Op, Value: f.Cond,
				Reason: fmt.Sprintf("%d×%d matrix of rank %d, condition estimate %.3g (limit %.0e, %s)",
					f.Rows, f.Cols, f.Rank, f.Cond, o.MaxCond, f.Method)}
		}
	}
	ok := res.Residual <= o.Tol || (res.Kind == KindPseudoInverse && res.NormalResidual <= o.Tol)
	if res.Kind == KindCG {
		ok = res.CG.Converged
	}
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
		case KindRefused:
			reason += " (the conditions report refused this block)"
		case KindCG:
			reason = fmt.Sprintf("conjugate gradients: %s after %d iterations, residual %.3g", res.CG.Reason, res.CG.Iterations, res.CG.Residual)
		}
		fail = &ConditionError{Block: l, Weight: w, Reason: reason, Value: res.Residual}
	}
	res.Certified = fail == nil && res.Kind != KindRefused && !o.NoCertificate
	if fail == nil || o.BestEffort {
		return nil
	}
	fail.Result = res
	return fail
}

// fallback applies exact-else-CG and best effort to the outcome of an
// exact product.
func (p *Products) fallback(l int, v *tensor.Dense, o Options, res *Inverse, err error) (*Inverse, error) {
	if err == nil && (res.Certified || o.Fallback == nil) {
		return res, nil
	}
	if o.Fallback == nil {
		return nil, err
	}
	why := "the exact result is not certified"
	if err != nil {
		why = err.Error()
	}
	cg, cgErr := p.invHvCG(l, v, o.Fallback, o)
	if cg != nil {
		cg.Fallback = why
	}
	if cgErr != nil {
		return nil, fmt.Errorf("%w (after: %s)", cgErr, why)
	}
	return cg, nil
}

// normalResidual measures how far r = H u − v is from orthogonal to the
// range of H (zero for a least-squares solution): ‖H r‖ / (σ̂ ‖r‖), with
// σ̂ = max(‖H u‖/‖u‖, ‖H v‖/‖v‖) ≤ ‖H‖ an estimate of the norm of H (u
// alone leans to the small eigenvalues). Two extra Hv products.
func (p *Products) normalResidual(l int, u, hu, v *tensor.Dense) (float64, error) {
	r := axpy(hu, -1, v)
	hr, err := p.BlockHv(l, r)
	if err != nil {
		return 0, err
	}
	hv, err := p.BlockHv(l, v)
	if err != nil {
		return 0, err
	}
	sigma := math.Max(Norm(hu)/Norm(u), Norm(hv)/Norm(v))
	if !(sigma > 0) || Norm(r) == 0 {
		return 0, nil
	}
	return Norm(hr) / (sigma * Norm(r)), nil
}

// factorizations reports every distinct matrix the given nodes factorise,
// from the values of the last run.
func factorizations(nodes []*G.Node) ([]Factorization, error) {
	seen := map[*G.Node]bool{}
	var out []Factorization
	for _, n := range nodes {
		in := graphChildren(n)
		if len(in) == 0 || seen[in[0]] {
			continue
		}
		seen[in[0]] = true
		vals := make([]G.Value, len(in))
		for i, c := range in {
			vals[i] = c.Value()
		}
		mc, err := n.Op().(ops.Conditioner).Condition(vals)
		if err != nil {
			return nil, fmt.Errorf("hvp: condition of %s: %w", graph.Label(in[0]), err)
		}
		out = append(out, Factorization{Node: graph.Label(in[0]), Op: n.Op().String(), MatrixCondition: mc})
	}
	return out, nil
}

func graphChildren(n *G.Node) []*G.Node {
	it := n.Graph().From(n.ID())
	var out []*G.Node
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

// InvHvFD returns the central difference of block l's functional inverse,
// (G_l⁻¹(g_l + r v) − G_l⁻¹(g_l − r v)) / 2r, the other blocks and inputs
// at the current point: the seed's finite-difference method, with error
// about ε·cond/r for small r, and activation-pattern flips of the
// reconstructed pre-activations for large r. It is certified like InvHv by
// its residual, computed with the exact BlockHv.
func (p *Products) InvHvFD(l int, v *tensor.Dense, r float64) (*Inverse, error) {
	return p.InvHvFDWith(l, v, r, nil)
}

// InvHvFDWith is InvHvFD with explicit options (Fallback is ignored).
func (p *Products) InvHvFDWith(l int, v *tensor.Dense, r float64, opt *Options) (res *Inverse, err error) {
	defer recoverTo(&err)
	o := opt.withDefaults()
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &ShapeError{What: "finite-difference step", Reason: fmt.Sprintf("r = %v, want a finite r > 0", r)}
	}
	b := p.blocks[l]
	if b.fdErr != nil {
		return nil, &NoInverseError{Block: l, Weight: p.Weights[l].Name(), Err: b.fdErr}
	}
	if err := check(p.Weights[l], v, "direction"); err != nil {
		return nil, err
	}
	_, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	at := func(s float64) (*tensor.Dense, error) {
		if err := p.set(b.fdRoot, axpy(g[l], s, v), "gradient"); err != nil {
			return nil, err
		}
		if err := p.run(fmt.Sprintf("fd/%d", l), []*G.Node{b.fd.Result}); err != nil {
			return nil, err
		}
		return value(b.fd.Result)
	}
	wp, err := at(r)
	if err != nil {
		return nil, err
	}
	wm, err := at(-r)
	if err != nil {
		return nil, err
	}
	u := scaled(1/(2*r), axpy(wp, -1, wm))
	hu, err := p.BlockHv(l, u)
	if err != nil {
		return nil, err
	}
	res = &Inverse{U: u, Kind: KindFiniteDifference, Method: fmt.Sprintf("finite differences of the inverse pass, r = %g", r),
		Residual: relDiff(hu, v), Reasons: b.reasons}
	return res, p.certify(l, res, o)
}
