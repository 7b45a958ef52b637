package solver

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Fallback says how Newton replaces a block whose exact Newton direction
// is refused, fails its checks, or is not a descent direction.
type Fallback int

const (
	// FallbackCG solves (H_ll + λI) u = g_l by conjugate gradients on the
	// exact Hv (NewtonSettings.CG), and takes a gradient step if even that
	// is not a descent direction.
	FallbackCG Fallback = iota
	// FallbackGradient takes u = LearnRate·g_l.
	FallbackGradient
)

// Combine says how Newton combines the block directions u_l into a step.
type Combine int

const (
	// CombineBest (the default) tries, each step, every block's damped
	// exact step alone and their sum, and takes the one that lowers the
	// loss most — measured, not predicted. The damping λ adapts
	// Levenberg–Marquardt style to the ratio of the actual decrease to
	// the exact quadratic model's (one Hv); a step that lowers nothing is
	// retried with 10λ, then replaced by a gradient step with a
	// backtracking line search, so the loss never increases and the
	// method never stalls where gradient descent makes progress.
	CombineBest Combine = iota
	// CombineSubspace minimises the exact quadratic model of the loss over
	// the span of the block directions: d = −Σ_l t_l u_l with t solving the
	// L×L system M t = b, M_kl = u_kᵀ H_kl u_l (cross-block curvature, from
	// L exact Hv products), b_l = ⟨g_l, u_l⟩. Each u_l alone minimises its
	// block's model; t accounts for their coupling. Where M is not
	// positive definite (the loss is not convex on that span) it takes the
	// average of the block steps, t_l = 1/L.
	CombineSubspace
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

// defaultMaxRadius is MaxRadius's default: no cap in effect.
const defaultMaxRadius = 1e6

// NewtonSettings configure Newton. Every zero value means the default
// documented beside it.
type NewtonSettings struct {
	Combine Combine // (0: CombineBest)
	// Damping is the λ of the exactly damped block steps
	// (H_ll + λ·h̃ᵀh̃ ⊗ I) u = g_l (method.md §9). 0 means the default:
	// 1e-3 with CombineBest (and Method), which adapts it per block
	// Levenberg–Marquardt style unless FixedDamping; undamped with the
	// other combinations, which keep it fixed. NoDamping: undamped, λ = 0
	// at every step, never adapted. A block without a per-sample route
	// cannot be damped: it takes its undamped B-pass or the fallback.
	// Checks.Damping is a synonym: set one of them (both: equal).
	Damping       float64
	FixedDamping  bool    // CombineBest keeps every λ_l at Damping
	MaxStep       float64 // first step size of the line search (0: 1)
	Shrink        float64 // factor per backtrack, in (0, 1) (0: 0.5)
	Armijo        float64 // sufficient decrease c in (0, 1): J(w + t d) ≤ J(w) + c·t·⟨g, d⟩ (0: 1e-4)
	MaxBacktracks int     // (0: 30); past it the step is rejected and the weights kept
	// Radius is the initial trust radius: the first step tried is at most
	// min(Radius, MaxRadius)·max(‖w‖, 1) long (0: 1). It then adapts:
	// doubled after a full step (up to MaxRadius), set to the accepted
	// length after a backtrack, quartered after a rejected step.
	Radius float64
	// MaxRadius caps the trust radius (0: 1e6; +Inf: no cap): no step
	// taken is longer than MaxRadius·max(‖w‖, 1), ‖w‖ the norm of all
	// weights before the step. With CombineBest, set below 1e6, it caps
	// every candidate step (a longer one is shortened along itself, and
	// measured and modelled as shortened) and the gradient fallback's.
	// Stochastic training, where each step sees a new minibatch, wants it
	// small: an exact Newton step fits its batch, and a long one does not
	// generalise.
	MaxRadius float64
	Fallback  Fallback // (0: FallbackCG)
	// CG are the fallback's settings (zero: tolerance 1e-6, at most 100
	// iterations — 20 with CombineBest — and the damping 1e-4·‖g_l‖, or
	// λ_l·‖g_l‖ with CombineBest, a scale-free stand-in for λ·h̃ᵀh̃;
	// CG.Damping = NoDamping: undamped CG).
	CG        CGOptions
	LearnRate float64 // of the gradient fallback (0: 1e-2)
	// ExactOnly sends Newton-only blocks to the fallback too: their B-pass
	// solves H_ll u = g_l, but not with the minimum norm, and on wide,
	// ill-conditioned blocks the extra null-space component can dwarf the
	// useful one (measured on MNIST: README).
	ExactOnly bool
	// Checks are the exact products' checks (zero: the defaults of
	// hvp.Options), as given: with BestEffort or NoCertificate, B-pass
	// results that fail or skip their checks are taken when they are
	// descent directions (BlockStep.Certified false). Newton always uses
	// the gradient as the direction, so Newton-only blocks qualify.
	// Checks.Damping is Damping's synonym (above).
	Checks hvp.Options
}

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
	// of hvp.Options (or, for CG, converged). Newton takes uncertified
	// B-pass results only when Checks.BestEffort or Checks.NoCertificate
	// asks for them; the dense per-sample solve is an LU solve, not
	// certified; a gradient step never is.
	Certified bool
	Slope     float64 // ⟨g_l, u_l⟩ > 0: the block's share of the descent
	// Damping is the λ_l the block's step was computed with,
	// (H_ll + λ_l·h̃ᵀh̃ ⊗ I) u = g_l, before CombineBest adapts it (0:
	// undamped; a CG fallback damps with its own λ, NewtonSettings.CG).
	Damping float64
	// Replaced is empty, or why the exact direction was replaced (each
	// reason once) and, after the last "; ", by what: "dense per-sample
	// solve", "undamped B-pass", "conjugate gradients" or "gradient step".
	Replaced string
}

// StepRecord records one Newton step, for a caller to log.
type StepRecord struct {
	Step     int
	Combined string // CombineBest: which candidate was taken ("block 2", "sum", "gradient")
	// Damping is the λ the step taken was computed with (not the next
	// step's). CombineBest: its block's BlockStep.Damping, the largest of
	// them for the sum, NaN when no damped step was taken (a gradient
	// step, a rejected or a stationary one); the other combinations: the
	// fixed λ of every block.
	Damping    float64
	Rho        float64 // CombineBest: actual / predicted decrease
	Loss       float64 // before the step
	NewLoss    float64 // after (equal to Loss when the step was rejected)
	StepSize   float64 // the line search's t (0: rejected)
	Backtracks int
	Blocks     []BlockStep
	Fallbacks  int       // blocks that fell back in this step
	Weights    []float64 // CombineSubspace's t_l (nil with CombineSum)
	Duration   time.Duration
}

// Newton takes block-Newton steps on the weights of a Problem: per block
// the exact u_l = H_ll⁻¹ g_l (a solution of H_ll u = g_l for Newton-only
// blocks), combined into d = −(u_1, …, u_L), with a backtracking line
// search on the loss. It is also a gorgonia.Solver.
type Newton struct {
	P        *hvp.Problem
	Settings NewtonSettings
	// Steps and Fallbacks count the steps taken and the blocks that fell
	// back, over the solver's life.
	Steps, Fallbacks int
	radius           float64   // the current trust radius, relative to ‖w‖
	lambdas          []float64 // CombineBest's damping, per block
}

var _ G.Solver = (*Newton)(nil)

// NewNewton returns a Newton solver on p's weights (settings may be nil).
func NewNewton(p *hvp.Problem, settings *NewtonSettings) *Newton {
	n := &Newton{P: p}
	if settings != nil {
		n.Settings = *settings
	}
	return n
}

// settings returns n's settings validated and with their defaults; the
// damping as one λ in Damping (0: undamped), and, for the combinations
// other than CombineBest (best false), in Checks.Damping, which their
// B-passes use. Method's direction is CombineBest's (best true).
func (n *Newton) settings(best bool) (NewtonSettings, error) {
	s := n.Settings
	if err := s.Validate(); err != nil {
		return s, err
	}
	if s.MaxStep == 0 {
		s.MaxStep = 1
	}
	if s.Radius == 0 {
		s.Radius = 1
	}
	if s.MaxRadius == 0 {
		s.MaxRadius = defaultMaxRadius
	}
	if s.Shrink == 0 {
		s.Shrink = 0.5
	}
	if s.Armijo == 0 {
		s.Armijo = 1e-4
	}
	if s.MaxBacktracks == 0 {
		s.MaxBacktracks = 30
	}
	if s.LearnRate == 0 {
		s.LearnRate = 1e-2
	}
	if s.CG.Tol == 0 {
		s.CG.Tol = 1e-6
	}
	if s.CG.MaxIter == 0 {
		s.CG.MaxIter = 100
	}
	if s.Damping == 0 { // its synonym (Validate: equal when both are set)
		s.Damping = s.Checks.Damping
	}
	switch s.Damping {
	case 0:
		if best {
			s.Damping = 1e-3
		}
	case NoDamping:
		s.Damping, s.FixedDamping = 0, true
	}
	s.Checks.Damping = 0
	if !best {
		s.Checks.Damping = s.Damping
	}
	// Checks.BestEffort and Checks.NoCertificate are the caller's: with
	// them, uncertified B-pass results are taken when they are descent
	// directions (BlockStep.Certified says which were).
	return s, nil
}

// Iterate takes one step at the current inputs (set the batch with
// gorgonia.Let before calling) and binds the new weights (fresh tensors:
// the previous ones are not modified).
func (n *Newton) Iterate() (rec *StepRecord, err error) {
	defer errs.Recover("solver.Newton.Iterate", &err)
	t0 := time.Now()
	s, err := n.settings(n.Settings.Combine == CombineBest)
	if err != nil {
		return nil, err
	}
	if s.Combine == CombineBest {
		return n.best(s, t0)
	}
	p := n.P
	loss, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	rec = &StepRecord{Step: n.Steps, Loss: loss, NewLoss: loss, Damping: s.Damping}
	L := p.Blocks()
	ub := make([]*params.Vector, L) // each block's step
	for l := range L {
		var bs BlockStep
		gl := g.Block(l)
		if s.Combine == CombineCyclic && l != n.Steps%L {
			ub[l] = gl.Clone()
			ub[l].Scale(0)
			rec.Blocks = append(rec.Blocks, bs)
			continue
		}
		ub[l], bs, err = n.direction(l, gl, s)
		if err != nil {
			return nil, err
		}
		bs.Damping = s.Damping
		if bs.Replaced != "" {
			rec.Fallbacks++
		}
		rec.Blocks = append(rec.Blocks, bs)
	}
	if s.Combine == CombineSubspace {
		if rec.Weights, err = n.subspace(g, ub); err != nil {
			return nil, err
		}
		for l := range ub {
			ub[l].Scale(rec.Weights[l])
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
	n.Steps++
	n.Fallbacks += rec.Fallbacks
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
	first := t
	for rec.Backtracks = 0; rec.Backtracks <= s.MaxBacktracks; rec.Backtracks++ {
		ws := base.Clone()
		ws.AddScaled(-t, u)
		lt, err := p.LossAt(ws)
		if err == nil && lt <= loss+s.Armijo*t*slope {
			if err := p.SetWeights(ws); err != nil {
				return nil, err
			}
			rec.StepSize, rec.NewLoss = t, lt
			rec.Duration = time.Since(t0)
			// Grow the radius after a full step, shrink it to what worked.
			if t == first {
				n.radius = math.Min(2*n.radius, s.MaxRadius)
			} else {
				n.radius = t * dn / math.Max(wn, 1)
			}
			return rec, nil
		}
		t *= s.Shrink
	}
	rec.Backtracks--
	n.radius /= 4 // rejected: the weights stay
	rec.Duration = time.Since(t0)
	return rec, nil
}

// subspace returns t minimising the quadratic model over span{u_l}:
// M t = b with M_kl = u_kᵀ (H (0, …, u_l, …, 0))_k, b_l = ⟨g_l, u_l⟩; all
// the average t_l = 1/L if M is not positive definite (the loss is not
// convex on the span: every block's step alone may already fit the batch).
func (n *Newton) subspace(g *params.Vector, u []*params.Vector) ([]float64, error) {
	L := len(u)
	m := mat.NewSymDense(L, nil)
	b := mat.NewVecDense(L, nil)
	ones := make([]float64, L) // the fallback: the average of the block steps
	for l := range u {
		ones[l] = 1 / float64(L)
		b.SetVec(l, g.Block(l).Dot(u[l]))
		ul := params.New(n.P.Layout())
		ul.Block(l).CopyFrom(u[l])
		hu, err := n.P.Hv(ul)
		if err != nil {
			return nil, err
		}
		for k := 0; k <= l; k++ {
			m.SetSym(k, l, u[k].Dot(hu.Block(k)))
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(m) {
		return ones, nil
	}
	var t mat.VecDense
	if err := chol.SolveVecTo(&t, b); err != nil {
		return ones, nil
	}
	for _, x := range t.RawVector().Data {
		if !(x > 0) || math.IsInf(x, 0) { // keep each block's step a descent step
			return ones, nil
		}
	}
	return t.RawVector().Data, nil
}

// direction returns block l's step u_l (to be subtracted) and its record:
// the exact B-pass's, else the fallback's.
func (n *Newton) direction(l int, g *params.Vector, s NewtonSettings) (*params.Vector, BlockStep, error) {
	u, bs, why := n.exact(l, g, s.Checks, s.ExactOnly)
	if why == "" {
		return u, bs, nil
	}
	return n.fallback(l, g, s, why, 1e-4*g.Norm())
}

// exact returns block l's B-pass direction with the checks of o, or why it
// is not one (refused, failing its checks, not a descent direction).
func (n *Newton) exact(l int, g *params.Vector, o hvp.Options, exactOnly bool) (*params.Vector, BlockStep, string) {
	res, err := n.P.Block(l).InvHv(g, &o)
	if err == nil && exactOnly && res.Kind == hvp.KindNewtonOnly {
		res, err = nil, fmt.Errorf("block %d is Newton-only and ExactOnly is set", l)
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

// fallback replaces block l's exact step, refused for the reason why, by
// CG on (H_ll + λI) u = g_l (FallbackCG; λ = s.CG.Damping, or cgDamping
// when that is 0), else by the gradient step LearnRate·g_l. Replaced says
// why, then what replaced it.
func (n *Newton) fallback(l int, g *params.Vector, s NewtonSettings, why string, cgDamping float64) (*params.Vector, BlockStep, error) {
	bs := BlockStep{Replaced: why}
	if s.Fallback == FallbackCG {
		cg := s.CG
		if cg.Damping == 0 {
			cg.Damping = cgDamping
		}
		// An unconverged CG iterate is still a descent direction of the
		// damped model: its error is ignored when it comes with a result.
		if res, _ := InvHvCG(n.P, l, g, &cg); res != nil {
			if sl := g.Dot(res.U); sl > 0 {
				bs.Direction, bs.Kind, bs.Residual, bs.Slope, bs.Certified = DirectionCG, res.Kind, res.Residual, sl, res.Certified
				bs.Replaced += "; conjugate gradients"
				return res.U, bs, nil
			}
		}
	}
	u := g.Clone()
	u.Scale(s.LearnRate)
	bs.Direction, bs.Kind, bs.Slope, bs.Residual = DirectionGradient, hvp.KindRefused, g.Dot(u), math.NaN()
	bs.Replaced += "; gradient step"
	return u, bs, nil
}

// Step implements gorgonia.Solver: model must be the weights of n.P, in
// order. Their gradients are recomputed (the ValueGrads' own are not
// used) and the new weights are written into the model's value tensors.
func (n *Newton) Step(model []G.ValueGrad) error {
	ws := n.P.Weights()
	if len(model) != len(ws) {
		return &errs.ShapeError{What: "model", Reason: fmt.Sprintf("%d values for %d weights", len(model), len(ws))}
	}
	if _, err := n.Iterate(); err != nil {
		return err
	}
	w, err := n.P.Current()
	if err != nil {
		return err
	}
	for k, vg := range model {
		dst, ok := vg.Value().(*tensor.Dense)
		src, ok2 := ws[k].Value().(*tensor.Dense)
		if !ok || !ok2 || !dst.Shape().Eq(src.Shape()) {
			return &errs.ShapeError{What: fmt.Sprintf("model value %d", k), Reason: "not a matrix of the weight's shape"}
		}
		switch dst.Dtype() {
		case tensor.Float32:
			for i, x := range w.Weight(k) {
				dst.Float32s()[i] = float32(x)
			}
		default:
			copy(dst.Float64s(), w.Weight(k))
		}
	}
	return nil
}
