package solver

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// Bounds of DampedNewton's damping.
const (
	minDamping = 1e-9 // below it a step is undamped
	maxDamping = 1e8
)

// DampedNewtonSettings configure DampedNewton (and Method). Every zero
// value means the default documented beside it.
type DampedNewtonSettings struct {
	// LMDamping is the first λ_l of every block's exactly damped step
	// (H_ll + λ_l·h̃ᵀh̃ ⊗ I) u = g_l (method.md §9), then adapted per
	// block Levenberg–Marquardt style unless FixedDamping (0: 1e-3).
	// NoDamping: undamped, λ = 0 at every step, never adapted. A block
	// without a per-sample route cannot be damped: it takes its undamped
	// B-pass or the fallback.
	LMDamping    float64
	FixedDamping bool // keep every λ_l at LMDamping (false: adapted)
	// Radius is the gradient fallback's initial trust radius: its first
	// step is min(Radius, MaxRadius)·max(‖w‖, 1) long (0: 1), then the
	// accepted length.
	Radius float64
	// MaxRadius (0: 1e6, no cap; +Inf: no cap), set below 1e6, caps every
	// candidate step at MaxRadius·max(‖w‖, 1), ‖w‖ the norm of all
	// weights before the step (a longer one is shortened along itself,
	// and measured and modelled as shortened), and the gradient
	// fallback's. Stochastic training, where each step sees a new
	// minibatch, wants it small: an exact Newton step fits its batch, and
	// a long one does not generalise.
	MaxRadius float64
	// LineSearch is the gradient fallback's (zero: LineSearch's defaults).
	LineSearch LineSearch
	Fallback   Fallback // of a block whose damped step fails (0: FallbackCG)
	// CG are the fallback's settings (zero: tolerance 1e-6, at most 20
	// iterations — a refused block is not worth more Hv per step — and
	// the Tikhonov damping λ_l·‖g_l‖, a scale-free stand-in for
	// λ_l·h̃ᵀh̃; CG.Tikhonov = NoDamping: undamped CG).
	CG        CGOptions
	LearnRate float64 // of the gradient fallback of a block (0: 1e-2)
	// ExactOnly sends Newton-only blocks to the fallback too: their B-pass
	// solves H_ll u = g_l, but not with the minimum norm, and on wide,
	// ill-conditioned blocks the extra null-space component can dwarf the
	// useful one (measured on MNIST: README).
	ExactOnly bool
	// Checks are the exact products' checks (zero: the defaults of
	// hvp.Options), as given: with BestEffort or NoCertificate, B-pass
	// results that fail or skip their checks are taken when they are
	// descent directions (BlockStep.Certified false). Checks.Damping must
	// be 0: the damping is LMDamping.
	Checks hvp.Options
}

// withDefaults returns s with its defaults; LMDamping 0 for NoDamping
// (then FixedDamping).
func (s DampedNewtonSettings) withDefaults() DampedNewtonSettings {
	switch s.LMDamping {
	case 0:
		s.LMDamping = 1e-3
	case NoDamping:
		s.LMDamping, s.FixedDamping = 0, true
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
		s.CG.MaxIter = 20
	}
	return s
}

// DampedNewton takes damped exact block-Newton steps: each step it tries
// every block's damped exact step (H_ll + λ_l·h̃ᵀh̃ ⊗ I)⁻¹ g_l alone and
// their sum, and takes the one that lowers the loss most — measured, not
// predicted. Each λ_l adapts Levenberg–Marquardt style to the ratio of the
// actual decrease to the exact quadratic model's (one Hv); a step that
// lowers nothing is retried with 10λ, then replaced by a gradient step
// with the line search, so the loss never increases and the method never
// stalls where gradient descent makes progress.
type DampedNewton struct {
	meter
	s       DampedNewtonSettings // with defaults
	steps   int
	radius  float64   // the gradient fallback's trust radius, relative to ‖w‖
	lambdas []float64 // the damping, per block
}

// NewDampedNewton returns a DampedNewton on p's weights (settings nil:
// the defaults), or the first invalid setting as an *errs.ArgumentError
// naming it.
func NewDampedNewton(p *hvp.Problem, settings *DampedNewtonSettings) (*DampedNewton, error) {
	var s DampedNewtonSettings
	if settings != nil {
		s = *settings
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &DampedNewton{meter: newMeter(p), s: s.withDefaults()}, nil
}

// Name is the registry's name, "newton".
func (n *DampedNewton) Name() string { return "newton" }

func (n *DampedNewton) fallback() fallbackSettings {
	return fallbackSettings{kind: n.s.Fallback, cg: n.s.CG, learnRate: n.s.LearnRate, exactOnly: n.s.ExactOnly}
}

// Step takes one step at the inputs as bound (Detail: *NewtonDetail).
// Each block keeps its own damping λ_l: a block whose step alone does not
// lower the loss gets 10λ_l; the block whose step is taken gets λ_l
// adapted to ρ (all blocks when the sum is taken).
func (n *DampedNewton) Step() (rec *Step, err error) {
	defer errs.Recover("solver.DampedNewton.Step", &err)
	st, err := n.start()
	if err != nil {
		return nil, err
	}
	s, p := n.s, n.p
	loss, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	det := &NewtonDetail{Rho: math.NaN(), Damping: math.NaN()}
	rec = &Step{Iter: n.steps, LossBefore: loss, LossAfter: loss, Detail: det}
	n.steps++
	gd, guarded := newGuard(p), false // guarded: the guard refused a step
	L := p.Blocks()
	if len(n.lambdas) != L {
		n.lambdas = make([]float64, L)
		for l := range n.lambdas {
			n.lambdas[l] = s.LMDamping
		}
	}
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	if g.Norm() == 0 {
		det.Combined = "stationary"
		return st.finish(rec)
	}
	// at returns the weights w + d and the loss there.
	at := func(d *params.Vector, name string) (*params.Vector, float64) {
		ws := base.Clone()
		ws.AddScaled(1, d)
		l, err := p.LossAt(ws)
		if err != nil || math.IsNaN(l) { // outside the domain: not a candidate, and said so
			why := "NaN"
			if err != nil {
				why = err.Error()
			}
			det.Refused = append(det.Refused, fmt.Sprintf("%s: newtonia's loss there: %s", name, why))
			return ws, math.Inf(1)
		}
		return ws, l
	}
	// With MaxRadius set, no candidate is longer than MaxRadius·max(‖w‖, 1)
	// (a longer one is shortened along itself): the trust region that keeps
	// a step on one minibatch from fitting that batch alone.
	limit := math.Inf(1)
	if s.MaxRadius < defaultMaxRadius {
		limit = s.MaxRadius * math.Max(base.Norm(), 1)
	}
	capped := func(d *params.Vector) *params.Vector {
		if dn := d.Norm(); dn > limit {
			d = d.Clone()
			d.Scale(limit / dn)
		}
		return d
	}
	for try := 0; try < 3; try++ {
		det.Blocks = make([]BlockStep, L)
		type cand struct {
			name   string // NewtonDetail.Combined's
			label  string // in messages: the block's weights named
			blocks []int
			d      *params.Vector // the step, to be added
			ws     *params.Vector // the weights with it
			loss   float64
		}
		var cands []cand
		sum := g.Clone()
		sum.Scale(0)
		for l := range L {
			lambda := n.lambdas[l]
			if lambda < minDamping { // undamped: the exact block inverse (chain route where there is one)
				lambda = 0
			}
			u, bs, err := dampedDirection(p, l, g.Block(l), lambda, s.Checks, n.fallback())
			if err != nil {
				return nil, err
			}
			bs.Damping = lambda // before this step adapts it
			det.Blocks[l] = bs
			mu := u.Clone()
			mu.Scale(-1)
			d := params.New(p.Layout())
			d.Block(l).CopyFrom(mu)
			d = capped(d)
			sum.Block(l).CopyFrom(d.Block(l))
			c := cand{name: fmt.Sprintf("block %d", l), label: fmt.Sprintf("block %d (%s)", l, p.Block(l).Name()), blocks: []int{l}, d: d}
			if c.ws, c.loss = at(d, fmt.Sprintf("%s at try %d", c.label, try+1)); !(c.loss < loss) && !s.FixedDamping {
				n.raise(l, 10)
			}
			cands = append(cands, c)
		}
		if try == 0 {
			rec.Fallbacks = blockFallbacks(p, det.Blocks)
		}
		if L > 1 {
			all := make([]int, L)
			for l := range all {
				all[l] = l
			}
			c := cand{name: "sum", label: "sum", blocks: all, d: capped(sum)}
			c.ws, c.loss = at(c.d, fmt.Sprintf("sum at try %d", try+1)) // the capped sum: the step taken is the one measured and modelled
			cands = append(cands, c)
		}
		// The candidates that lower newtonia's loss, best first; the first
		// the model's own ops accept (guard) is taken, each refused one's
		// blocks damped 10× more.
		var lower []int
		for i := range cands {
			if cands[i].loss < loss {
				lower = append(lower, i)
			}
		}
		sort.SliceStable(lower, func(a, b int) bool { return cands[lower[a]].loss < cands[lower[b]].loss })
		bestI := -1
		for _, i := range lower {
			why := gd.refuses(cands[i].ws, cands[i].loss)
			if why == "" {
				bestI = i
				break
			}
			det.Refused = append(det.Refused, fmt.Sprintf("%s at try %d: %s", cands[i].label, try+1, why))
			guarded = true
			if !s.FixedDamping {
				for _, l := range cands[i].blocks {
					n.raise(l, 10)
				}
			}
		}
		if bestI < 0 {
			if s.FixedDamping {
				break // the same λ_l would give the same candidates
			}
			continue // every λ_l grew: again
		}
		c := cands[bestI]
		// ρ against the exact quadratic model m(d) = ⟨g, d⟩ + ½⟨d, H d⟩.
		hd, err := p.Hv(c.d)
		if err != nil {
			return nil, err
		}
		model := g.Dot(c.d) + 0.5*c.d.Dot(hd)
		rho := (c.loss - loss) / model
		if !s.FixedDamping {
			for _, l := range c.blocks {
				switch {
				case !(rho > 0.25):
					n.raise(l, 3)
				case rho > 0.75:
					n.lambdas[l] /= 5
				}
			}
		}
		if err := p.SetWeights(c.ws); err != nil {
			return nil, err
		}
		det.Combined, rec.LossAfter, rec.StepSize, det.Rho = c.name, c.loss, 1, rho
		if guarded { // the step newtonia's loss preferred was not taken
			rec.Fallbacks = append(rec.Fallbacks, BlockFallback{Block: -1, Reason: fmt.Sprintf(
				"steps refused (%s); took %s", strings.Join(det.Refused, "; "), c.label)})
		}
		det.Damping = 0 // the λ the step was computed with, not the next one
		for _, l := range c.blocks {
			det.Damping = math.Max(det.Damping, det.Blocks[l].Damping)
		}
		return st.finish(rec)
	}
	// No damped step lowered the loss: a gradient step, backtracking.
	why := "no damped step lowered the loss, nor with 10λ"
	if len(det.Refused) > 0 {
		why += fmt.Sprintf(" (steps refused: %s)", strings.Join(det.Refused, "; "))
	}
	rec.Fallbacks = append(rec.Fallbacks, BlockFallback{Block: -1, Reason: why + "; gradient step"})
	gn, wn := g.Norm(), base.Norm()
	if n.radius == 0 {
		n.radius = s.Radius
	}
	n.radius = math.Min(n.radius, s.MaxRadius) // no longer than MaxRadius·max(‖w‖, 1) either
	var ws *params.Vector
	res := s.LineSearch.Search(loss, -gn*gn, n.radius*math.Max(wn, 1)/gn, func(t float64) (float64, error) {
		d := g.Clone()
		d.Scale(-t)
		var l float64
		ws, l = at(d, fmt.Sprintf("gradient step t = %.3g", t))
		if l < loss { // a point the line search may take: the model's own ops must accept it
			if why := gd.refuses(ws, l); why != "" {
				det.Refused = append(det.Refused, fmt.Sprintf("gradient step t = %.3g: %s", t, why))
				guarded = true
				return math.Inf(1), nil
			}
		}
		return l, nil
	})
	det.Backtracks = res.Trials - 1
	if !res.OK {
		det.Combined = "rejected"
		return st.finish(rec)
	}
	if err := p.SetWeights(ws); err != nil {
		return nil, err
	}
	det.Combined, rec.LossAfter, rec.StepSize = "gradient", res.Loss, res.T
	n.radius = res.T * gn / math.Max(wn, 1)
	return st.finish(rec)
}

// dampedDirection returns block l's u = (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ g_l: by the
// B-pass; where it has none (batch > fan-in + 1) or it is not a certified
// descent direction, by the block's per-sample curvature solved densely
// (when small), else, for λ > 0, by the undamped B-pass (a block without a
// per-sample route may have a chain route), else by the fallback (CG,
// then a gradient step). Replaced gives each distinct reason once.
func dampedDirection(p *hvp.Problem, l int, gl *params.Vector, lambda float64, o hvp.Options, f fallbackSettings) (*params.Vector, BlockStep, error) {
	o.Damping = lambda
	res, err := p.Block(l).InvHv(gl, &o)
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case !(gl.Dot(res.U) > 0):
		why = "not a descent direction"
	default:
		return res.U, BlockStep{Direction: DirectionBPass, Kind: res.Kind, Residual: res.Residual, Slope: gl.Dot(res.U), Certified: res.Certified}, nil
	}
	u, noDense := denseStep(p, l, gl, lambda)
	if noDense == "" {
		return u, BlockStep{Direction: DirectionDense, Kind: hvp.KindRefused, Residual: math.NaN(), Slope: gl.Dot(u),
			Replaced: "damped B-pass: " + why + "; dense per-sample solve"}, nil
	}
	replaced := "damped B-pass: " + why + "; no dense solve: " + noDense
	if noDense == why { // each reason once
		replaced = "damped B-pass, and a dense solve: " + why
	}
	if lambda > 0 { // undamped, the B-pass may take another route
		o.Damping = 0
		u, bs, why0 := exactStep(p, l, gl, o, f.exactOnly)
		if why0 == "" {
			bs.Replaced = replaced + "; undamped B-pass"
			return u, bs, nil
		}
		if why0 != why {
			replaced += "; undamped B-pass: " + why0
		}
	}
	// λ·‖g_l‖: a scale-free stand-in for λ·h̃ᵀh̃ when CG.Tikhonov is 0.
	return fallbackStep(p, l, gl, f, replaced, math.Max(lambda, 1e-8)*gl.Norm())
}

// maxDenseFlops caps the dense per-sample solve: forming the block costs
// 2·B·k²·n² flops and factorising it (kn)³·2/3.
const maxDenseFlops = 4e8

// denseStep solves (H_ll + λ·h̃ᵀh̃ ⊗ I) u = g_l with the block's per-sample
// curvature formed densely, when that is cheap; else it returns why not
// (above the cap, no per-sample curvature, a failed solve, not a descent
// direction).
func denseStep(p *hvp.Problem, l int, g *params.Vector, lambda float64) (*params.Vector, string) {
	size := g.Len()
	if float64(size)*float64(size)*float64(size) > maxDenseFlops {
		return nil, fmt.Sprintf("%d weights, factorising costs more than %.0e flops", size, maxDenseFlops)
	}
	c, err := p.Block(l).Curvature()
	if err != nil {
		return nil, err.Error()
	}
	bsz, k := c.Rows.Dims()
	nn, _ := c.M[0].Dims()
	if k*nn != size {
		return nil, fmt.Sprintf("the per-sample curvature is of %d weights, the block has %d", k*nn, size)
	}
	if f := 2 * float64(bsz) * float64(k*k) * float64(nn*nn); f > maxDenseFlops {
		return nil, fmt.Sprintf("forming it costs %.2g flops, more than %.0e", f, maxDenseFlops)
	}
	h, err := c.Dense(lambda)
	if err != nil {
		return nil, err.Error()
	}
	var u mat.VecDense
	if err := u.SolveVec(h, mat.NewVecDense(size, append([]float64(nil), g.Flat()...))); err != nil {
		return nil, "LU solve: " + err.Error()
	}
	us := params.FromFlat(g.Layout(), u.RawVector().Data)
	if !(g.Dot(us) > 0) {
		return nil, "its solution is not a descent direction"
	}
	return us, ""
}

// raise multiplies block l's damping by c, from minDamping at least and up
// to maxDamping.
func (n *DampedNewton) raise(l int, c float64) {
	n.lambdas[l] = math.Min(math.Max(n.lambdas[l], minDamping)*c, maxDamping)
}
