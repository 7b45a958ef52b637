package solver

import (
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Fallback says how DampedNewton and BlockNewton replace a block whose
// exact Newton direction is refused, fails its checks, or is not a
// descent direction.
type Fallback int

const (
	// FallbackCG solves (H_ll + λI) u = g_l by conjugate gradients on the
	// exact Hv (the settings' CG), and takes a gradient step if even that
	// is not a descent direction.
	FallbackCG Fallback = iota
	// FallbackGradient takes u = LearnRate·g_l.
	FallbackGradient
)

// Combine says how BlockNewton combines the block directions u_l into a
// step.
type Combine int

const (
	// CombineSubspace (the default) minimises the exact quadratic model of
	// the loss over the span of the block directions: d = −Σ_l t_l u_l
	// with t solving the L×L system M t = b, M_kl = u_kᵀ H_kl u_l
	// (cross-block curvature, from L exact Hv products), b_l = ⟨g_l, u_l⟩.
	// Each u_l alone minimises its block's model; t accounts for their
	// coupling. Where M is not positive definite (the loss is not convex
	// on that span) it takes the average of the block steps, t_l = 1/L.
	CombineSubspace Combine = iota
	// CombineSum takes d = −Σ_l u_l (block-Jacobi Newton): blocks ignore
	// each other's curvature, and the line search has to shrink the step,
	// typically by about the number of blocks.
	CombineSum
	// CombineCyclic updates one block per step, in turn (block coordinate
	// Newton): with a piecewise-linear net and squared error the loss is
	// exactly quadratic in one block while the activation pattern holds, so
	// the step minimises it there.
	CombineCyclic
)

var combineNames = [...]string{"subspace", "sum", "cyclic"}

func (c Combine) String() string {
	if c < 0 || int(c) >= len(combineNames) {
		return fmt.Sprintf("Combine(%d)", int(c))
	}
	return combineNames[c]
}

// defaultMaxRadius is MaxRadius's default: no cap in effect.
const defaultMaxRadius = 1e6

// Direction is what computed a block's step.
type Direction int

const (
	// DirectionNone: the block did not move (CombineCyclic's other
	// blocks).
	DirectionNone Direction = iota
	// DirectionBPass: the exact B-pass (BlockStep.Kind says what it
	// computed).
	DirectionBPass
	// DirectionDense: the block's per-sample curvature solved densely.
	DirectionDense
	// DirectionCG: conjugate gradients on the exact Hv.
	DirectionCG
	// DirectionGradient: the gradient step LearnRate·g_l.
	DirectionGradient
)

var directionNames = [...]string{"none", "B-pass", "dense per-sample solve", "conjugate gradients", "gradient step"}

func (d Direction) String() string {
	if d < 0 || int(d) >= len(directionNames) {
		return fmt.Sprintf("Direction(%d)", int(d))
	}
	return directionNames[d]
}

// BlockStep records what one block contributed to a step.
type BlockStep struct {
	Direction Direction // what computed the direction used
	// Kind is the B-pass's kind for DirectionBPass; any other direction
	// is not an exact inverse product: hvp.KindRefused.
	Kind     hvp.Kind
	Residual float64 // ‖H_ll u − g_l‖/‖g_l‖ of the direction used (NaN: not computed)
	// Certified reports that the direction's product passed every check
	// of hvp.Options (or, for CG, converged). Uncertified B-pass results
	// are taken only when Checks.BestEffort or Checks.NoCertificate asks
	// for them; the dense per-sample solve is an LU solve, not certified;
	// a gradient step never is.
	Certified bool
	Slope     float64 // ⟨g_l, u_l⟩ > 0: the block's share of the descent
	// Damping is the λ_l of the block's step,
	// (H_ll + λ_l·h̃ᵀh̃ ⊗ I) u = g_l, before DampedNewton adapts it (0:
	// undamped; a CG fallback damps with its own Tikhonov λ, CG.Tikhonov).
	Damping float64
	// Replaced is empty, or why the exact direction was replaced (each
	// reason once) and, after the last "; ", by what: "dense per-sample
	// solve", "undamped B-pass", "conjugate gradients" or "gradient step".
	Replaced string
	// Degree is the Householder degree of the direction used: 1 for
	// Newton's (and every fallback), 2 for Halley's or Chebyshev's
	// (BlockNewtonSettings.Degree).
	Degree int
	// Householder is empty, or why a higher degree asked for was not
	// taken (the block's Newton direction was kept).
	Householder string
}

// NewtonDetail is Step.Detail of DampedNewton and BlockNewton.
type NewtonDetail struct {
	// Combined is which candidate DampedNewton took ("block 2", "sum",
	// "gradient", "rejected", "stationary"), or BlockNewton's Combine.
	Combined string
	// Damping is the λ the step taken was computed with (not the next
	// step's). DampedNewton: its block's BlockStep.Damping, the largest of
	// them for the sum, NaN when no damped step was taken (a gradient
	// step, a rejected or a stationary one); BlockNewton: the fixed λ of
	// every block.
	Damping    float64
	Rho        float64 // DampedNewton: actual / predicted decrease (NaN: none)
	Backtracks int     // the line search's backtracks (trials − 1)
	// Refused are the steps that lowered newtonia's float64 loss but not
	// the loss as the model's own ops compute it (hvp.Problem.ModelLossAt:
	// Gorgonia's, in the model's dtype), and why: each is also named in
	// Step.Fallbacks, with what was taken instead.
	Refused []string
	Blocks  []BlockStep
	// Coefficients are CombineSubspace's t_l (nil otherwise).
	Coefficients []float64
}

// blockFallbacks returns the blocks of bs that were replaced, and why.
func blockFallbacks(p *hvp.Problem, bs []BlockStep) []BlockFallback {
	var out []BlockFallback
	for l, b := range bs {
		if b.Replaced != "" {
			out = append(out, BlockFallback{Block: l, Weight: p.Block(l).Name(), Reason: b.Replaced})
		}
	}
	return out
}

// fallbackSettings are what replaces a refused block's exact step.
type fallbackSettings struct {
	kind      Fallback
	cg        CGOptions
	learnRate float64
	exactOnly bool
}

// exactStep returns block l's B-pass direction with the checks of o, or
// why it is not one (refused, failing its checks, not a descent
// direction).
func exactStep(p *hvp.Problem, l int, g *params.Vector, o hvp.Options, exactOnly bool) (*params.Vector, BlockStep, string) {
	res, err := p.Block(l).InvHv(g, &o)
	if err == nil && exactOnly && res.Kind == hvp.KindNewtonOnly {
		res, err = nil, fmt.Errorf("block %d (%s) is Newton-only and ExactOnly is set", l, p.Block(l).Name())
	}
	if err != nil {
		return nil, BlockStep{}, err.Error()
	}
	sl := g.Dot(res.U)
	if !(sl > 0) {
		return nil, BlockStep{}, fmt.Sprintf("%s direction is not a descent direction", res.Kind)
	}
	return res.U, BlockStep{Direction: DirectionBPass, Kind: res.Kind, Residual: res.Residual, Slope: sl, Certified: res.Certified}, ""
}

// fallbackStep replaces block l's exact step, refused for the reason why,
// by CG on (H_ll + λI) u = g_l (FallbackCG; λ = f.cg.Tikhonov, or
// tikhonov when that is 0), else by the gradient step learnRate·g_l.
// Replaced says why, then what replaced it.
func fallbackStep(p *hvp.Problem, l int, g *params.Vector, f fallbackSettings, why string, tikhonov float64) (*params.Vector, BlockStep, error) {
	bs := BlockStep{Replaced: why}
	if f.kind == FallbackCG {
		cg := f.cg
		if cg.Tikhonov == 0 {
			cg.Tikhonov = tikhonov
		}
		// An unconverged CG iterate is still a descent direction of the
		// damped model: taken when it comes with a result (Certified false),
		// and CG's failure said when it does not.
		res, err := InvHvCG(p, l, g, &cg)
		switch {
		case res == nil:
			bs.Replaced += "; conjugate gradients: " + err.Error()
		case !(g.Dot(res.U) > 0):
			bs.Replaced += "; conjugate gradients: not a descent direction"
		default:
			bs.Direction, bs.Kind, bs.Residual, bs.Slope, bs.Certified = DirectionCG, res.Kind, res.Residual, g.Dot(res.U), res.Certified
			bs.Replaced += "; conjugate gradients"
			return res.U, bs, nil
		}
	}
	u := g.Clone()
	u.Scale(f.learnRate)
	bs.Direction, bs.Kind, bs.Slope, bs.Residual = DirectionGradient, hvp.KindRefused, g.Dot(u), math.NaN()
	bs.Replaced += "; gradient step"
	return u, bs, nil
}

// BlockNewtonSettings configure BlockNewton. Every zero value means the
// default documented beside it.
type BlockNewtonSettings struct {
	Combine Combine // (0: CombineSubspace)
	// LMDamping is the fixed λ of every block's step
	// (H_ll + λ·h̃ᵀh̃ ⊗ I) u = g_l (method.md §9), never adapted (0:
	// undamped; NoDamping: undamped too). A block without a per-sample
	// route cannot be damped: it takes its undamped B-pass or the
	// fallback.
	LMDamping float64
	MaxStep   float64 // first step size of the line search (0: 1)
	// Radius is the initial trust radius: the first step tried is at most
	// min(Radius, MaxRadius)·max(‖w‖, 1) long (0: 1). It then adapts:
	// doubled after a full step (up to MaxRadius), set to the accepted
	// length after a backtrack, quartered after a rejected step.
	Radius float64
	// MaxRadius caps the trust radius (0: 1e6; +Inf: no cap): no step
	// taken is longer than MaxRadius·max(‖w‖, 1), ‖w‖ the norm of all
	// weights before the step.
	MaxRadius  float64
	LineSearch LineSearch // on the combined direction (zero: LineSearch's defaults)
	Fallback   Fallback   // (0: FallbackCG)
	// CG are the fallback's settings (zero: tolerance 1e-6, at most 100
	// iterations, and the Tikhonov damping 1e-4·‖g_l‖;
	// CG.Tikhonov = NoDamping: undamped CG).
	CG        CGOptions
	LearnRate float64 // of the gradient fallback (0: 1e-2)
	// ExactOnly sends Newton-only blocks to the fallback too: their B-pass
	// solves H_ll u = g_l, but not with the minimum norm, and on wide,
	// ill-conditioned blocks the extra null-space component can dwarf the
	// useful one.
	ExactOnly bool
	// Checks are the exact products' checks (zero: the defaults of
	// hvp.Options), as given: with BestEffort or NoCertificate, B-pass
	// results that fail or skip their checks are taken when they are
	// descent directions (BlockStep.Certified false). Checks.Damping must
	// be 0: the damping is LMDamping.
	Checks hvp.Options
	// Degree is the Householder degree of the block steps (0 or 1:
	// Newton's; 2: Halley's, of cubic order, from the exact third
	// derivatives, see Householder and BlockHouseholder). A block whose
	// step of degree 2 fails its certificate, is not a descent direction,
	// or is damped (LMDamping) takes its Newton direction
	// (BlockStep.Householder says why). With CombineSubspace the
	// coefficients t_l are those of the Newton directions, applied to the
	// Householder ones: one block's t is 1 and its step Halley's.
	Degree int
	// Chebyshev takes Chebyshev's step at Degree 2 instead of Halley's
	// (cubic too, with no inner iteration).
	Chebyshev bool
}

// withDefaults returns s with its defaults, the damping as one λ in
// LMDamping (0: undamped).
func (s BlockNewtonSettings) withDefaults() BlockNewtonSettings {
	if s.MaxStep == 0 {
		s.MaxStep = 1
	}
	if s.Radius == 0 {
		s.Radius = 1
	}
	if s.MaxRadius == 0 {
		s.MaxRadius = defaultMaxRadius
	}
	s.LineSearch = s.LineSearch.withDefaults(DefaultShrink)
	if s.LearnRate == 0 {
		s.LearnRate = 1e-2
	}
	if s.CG.Tol == 0 {
		s.CG.Tol = 1e-6
	}
	if s.CG.MaxIter == 0 {
		s.CG.MaxIter = 100
	}
	if s.LMDamping == NoDamping {
		s.LMDamping = 0
	}
	return s
}

// BlockNewton is classic block Newton: per block the exact
// u_l = H_ll⁻¹ g_l (a solution of H_ll u = g_l for Newton-only blocks;
// (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ g_l with LMDamping), combined into one direction
// by Combine, with a trust-radius-capped Armijo line search (LineSearch)
// on the loss; a rejected step keeps the weights.
type BlockNewton struct {
	meter
	s      BlockNewtonSettings // with defaults
	name   string
	steps  int
	radius float64 // the current trust radius, relative to ‖w‖
}

// NewBlockNewton returns a BlockNewton on p's weights (settings nil: the
// defaults), or the first invalid setting as an *errs.ArgumentError
// naming it.
func NewBlockNewton(p *hvp.Problem, settings *BlockNewtonSettings) (*BlockNewton, error) {
	var s BlockNewtonSettings
	if settings != nil {
		s = *settings
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	return &BlockNewton{meter: newMeter(p), s: s, name: "newton-" + s.Combine.String()}, nil
}

// Name is the registry's name: newton-subspace, newton-sum or
// newton-cyclic.
func (n *BlockNewton) Name() string { return n.name }

func (n *BlockNewton) fallback() fallbackSettings {
	return fallbackSettings{kind: n.s.Fallback, cg: n.s.CG, learnRate: n.s.LearnRate, exactOnly: n.s.ExactOnly}
}

// Step takes one step at the inputs as bound (Detail: *NewtonDetail).
func (n *BlockNewton) Step() (rec *Step, err error) {
	defer errs.Recover("solver.BlockNewton.Step", &err)
	st, err := n.start()
	if err != nil {
		return nil, err
	}
	s, p := n.s, n.p
	loss, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	det := &NewtonDetail{Combined: s.Combine.String(), Damping: s.LMDamping, Rho: math.NaN()}
	rec = &Step{Iter: n.steps, LossBefore: loss, LossAfter: loss, Detail: det}
	checks := s.Checks
	checks.Damping = s.LMDamping
	L := p.Blocks()
	ub := make([]*params.Vector, L) // each block's step
	hh := make([]*params.Vector, L) // each block's Householder direction (nil: Newton's)
	for l := range L {
		var bs BlockStep
		gl := g.Block(l)
		if s.Combine == CombineCyclic && l != n.steps%L {
			ub[l] = gl.Clone()
			ub[l].Scale(0)
			det.Blocks = append(det.Blocks, bs)
			continue
		}
		u, bs, why := exactStep(p, l, gl, checks, s.ExactOnly)
		if why != "" {
			if u, bs, err = fallbackStep(p, l, gl, n.fallback(), why, 1e-4*gl.Norm()); err != nil {
				return nil, err
			}
		}
		ub[l] = u
		bs.Damping = s.LMDamping
		bs.Degree = 1
		if s.Degree >= 2 && bs.Direction == DirectionBPass {
			hh[l], bs.Householder = n.householder(l, gl, checks)
			if hh[l] != nil {
				bs.Degree = 2
			}
		}
		det.Blocks = append(det.Blocks, bs)
	}
	rec.Fallbacks = blockFallbacks(p, det.Blocks)
	if s.Combine == CombineSubspace {
		var why string
		if det.Coefficients, why, err = n.subspace(g, ub); err != nil {
			return nil, err
		}
		if why != "" {
			rec.Fallbacks = append(rec.Fallbacks, BlockFallback{Block: -1, Reason: "subspace coefficients: " + why + "; the average of the block steps"})
		}
		for l := range ub {
			ub[l].Scale(det.Coefficients[l])
		}
	}
	for l, h := range hh {
		if h != nil {
			t := 1.0
			if det.Coefficients != nil {
				t = det.Coefficients[l]
			}
			h.Scale(t)
			ub[l] = h
		}
	}
	u := params.New(p.Layout())
	for l := range ub {
		u.Block(l).CopyFrom(ub[l])
	}
	var slope float64 // ⟨g, d⟩ < 0, weight by weight
	for k := range p.Layout().Weights() {
		slope -= floats.Dot(g.Weight(k), u.Weight(k))
	}
	n.steps++
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	// The first step is capped at the trust radius (relative to ‖w‖): an
	// exact Newton step of an ill-conditioned block can be enormous along
	// its flat directions, far beyond the region where the model holds.
	dn, wn := u.Norm(), base.Norm()
	if n.radius == 0 {
		n.radius = s.Radius
	}
	n.radius = math.Min(n.radius, s.MaxRadius) // the first radius too is capped
	t := s.MaxStep
	if capped := n.radius * math.Max(wn, 1) / dn; capped < t {
		t = capped
	}
	var ws *params.Vector
	gd := newGuard(p)
	res := s.LineSearch.Search(loss, slope, t, func(t float64) (float64, error) {
		ws = base.Clone()
		ws.AddScaled(-t, u)
		l, err := p.LossAt(ws)
		if err == nil && l < loss { // a point the search may take: the model's own ops must accept it
			if why := gd.refuses(ws, l); why != "" {
				det.Refused = append(det.Refused, fmt.Sprintf("t = %.3g: %s", t, why))
				return math.Inf(1), nil
			}
		}
		return l, err
	})
	det.Backtracks = res.Trials - 1
	if len(det.Refused) > 0 {
		rec.Fallbacks = append(rec.Fallbacks, refusedFallback(det.Refused, res))
	}
	if !res.OK {
		n.radius /= 4 // rejected: the weights stay
		return st.finish(rec)
	}
	if err := p.SetWeights(ws); err != nil {
		return nil, err
	}
	rec.StepSize, rec.LossAfter = res.T, res.Loss
	// Grow the radius after a full step, shrink it to what worked.
	if res.Trials == 1 {
		n.radius = math.Min(2*n.radius, s.MaxRadius)
	} else {
		n.radius = res.T * dn / math.Max(wn, 1)
	}
	return st.finish(rec)
}

// householder returns block l's direction of degree 2 in the sign of
// Newton's u (the step is −u), or nil and why Newton's is kept.
func (n *BlockNewton) householder(l int, g *params.Vector, checks hvp.Options) (*params.Vector, string) {
	if n.s.LMDamping > 0 {
		return nil, "damped (LMDamping): Householder steps are of the undamped Hessian"
	}
	m := HouseholderHalley
	if n.s.Chebyshev {
		m = HouseholderChebyshev
	}
	st, err := BlockHouseholder(n.p, l, g, m, &HouseholderOptions{Checks: checks})
	if err != nil {
		return nil, err.Error()
	}
	d := st.S.Clone()
	d.Scale(-1)
	if !(g.Dot(d) > 0) {
		return nil, fmt.Sprintf("%s direction is not a descent direction", m)
	}
	return d, ""
}

// subspace returns t minimising the quadratic model over span{u_l}:
// M t = b with M_kl = u_kᵀ (H (0, …, u_l, …, 0))_k, b_l = ⟨g_l, u_l⟩; all
// the average t_l = 1/L if M is not positive definite (the loss is not
// convex on the span: every block's step alone may already fit the batch)
// or a t_l is not positive, and why.
func (n *BlockNewton) subspace(g *params.Vector, u []*params.Vector) ([]float64, string, error) {
	L := len(u)
	m := mat.NewSymDense(L, nil)
	b := mat.NewVecDense(L, nil)
	ones := make([]float64, L) // the fallback: the average of the block steps
	for l := range u {
		ones[l] = 1 / float64(L)
		b.SetVec(l, g.Block(l).Dot(u[l]))
		ul := params.New(n.p.Layout())
		ul.Block(l).CopyFrom(u[l])
		hu, err := n.p.Hv(ul)
		if err != nil {
			return nil, "", err
		}
		for k := 0; k <= l; k++ {
			m.SetSym(k, l, u[k].Dot(hu.Block(k)))
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(m) {
		return ones, "the cross-block curvature M is not positive definite", nil
	}
	var t mat.VecDense
	if err := chol.SolveVecTo(&t, b); err != nil {
		return ones, "solving M t = b: " + err.Error(), nil
	}
	for l, x := range t.RawVector().Data {
		if !(x > 0) || math.IsInf(x, 0) { // keep each block's step a descent step
			return ones, fmt.Sprintf("t_%d = %.3g is not a positive step", l, x), nil
		}
	}
	return t.RawVector().Data, "", nil
}

// joinReasons is the text of fallbacks for error messages.
func joinReasons(fs []BlockFallback) string {
	why := make([]string, len(fs))
	for i, f := range fs {
		why[i] = f.String()
	}
	return strings.Join(why, "; ")
}
