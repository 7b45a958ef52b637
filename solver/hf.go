package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// minHFDamping keeps G + λI away from singular: CG on a singular G
// diverges along its null space.
const minHFDamping = 1e-10

func allFinite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// HFSettings configure HF. Every zero value means the default beside it.
type HFSettings struct {
	// Tikhonov is the first λ of (G + λI) d = −g, then adapted
	// Levenberg–Marquardt style (0: 1). NoDamping: undamped, λ = 0 at
	// every step, never adapted (CG on a singular G then stops at its
	// last finite iterate, or at MaxCG).
	Tikhonov float64
	MaxCG    int // CG iterations per step (0: 250)
	// Decay, in (0, 1], scales the previous step to start CG from (0: 0.95).
	Decay float64
	// LineSearch is the search on the chosen CG iterate (zero: LineSearch's
	// defaults, except Shrink 0.8).
	LineSearch LineSearch
	// Kronecker preconditions CG, block by block, with the Kronecker
	// factorisation of the exact per-sample curvature (KFRA-style):
	// H_ll = Σ_i (h̃_iᵀh̃_i) ⊗ M_i ≈ (h̃ᵀh̃/B) ⊗ (Σ_i M_i), each factor damped
	// (the step's λ split by the factors' mean eigenvalues) and inverted by
	// Cholesky; a block without a per-sample route, or whose factor is
	// not positive definite, is left unpreconditioned (a Step.Fallbacks
	// entry). It costs n_l JVPs per block per step (hvp.Block.Curvature).
	// false: unpreconditioned CG.
	Kronecker bool
}

// hfShrink is HF's default LineSearch.Shrink.
const hfShrink = 0.8

// withDefaults returns s with its defaults; undamped reports NoDamping
// (Tikhonov then 0).
func (s HFSettings) withDefaults() (HFSettings, bool) {
	undamped := false
	switch s.Tikhonov {
	case 0:
		s.Tikhonov = 1
	case NoDamping:
		s.Tikhonov, undamped = 0, true
	}
	if s.MaxCG == 0 {
		s.MaxCG = 250
	}
	if s.Decay == 0 {
		s.Decay = 0.95
	}
	s.LineSearch = s.LineSearch.withDefaults(hfShrink)
	return s, undamped
}

// HFDetail is Step.Detail of HF.
type HFDetail struct {
	Tikhonov     float64 // the λ the step was solved with
	Rho          float64 // actual / predicted decrease (NaN: no step)
	CGIterations int
	Chosen       int // the CG iterate taken (CG backtracking)
	Backtracks   int // the line search's backtracks (trials − 1)
	// Refused are the step sizes whose loss by newtonia's float64 passes
	// was lower but not as the model's own ops compute it
	// (hvp.Problem.ModelLossAt), and why; also named in Step.Fallbacks.
	Refused []string
}

// HF is Hessian-free optimisation as in Martens (2010): each step solves
// (G + λI) d = −g by conjugate gradients on exact Gauss–Newton products
// (hvp.Problem.GGNv), started from the previous step scaled by Decay and
// stopped by Martens' relative-progress criterion; keeps the iterates at
// i = ⌈1.3^k⌉ and takes the latest one whose loss is not beaten by an
// earlier one (CG backtracking); adapts λ Levenberg–Marquardt style to the
// ratio ρ of the actual decrease to the Gauss–Newton model's (λ ·3/2 for
// ρ < ¼, ·2/3 for ρ > ¾); and takes it with the line search, so the
// loss never increases.
type HF struct {
	meter
	s        HFSettings // with defaults
	undamped bool
	steps    int
	lambda   float64   // the current λ (0 before the first step, and with NoDamping)
	prev     []float64 // the previous step, flattened
}

// NewHF returns an HF on p's weights (settings nil: the defaults), or the
// first invalid setting as an *errs.ArgumentError naming it.
func NewHF(p *hvp.Problem, settings *HFSettings) (*HF, error) {
	var s HFSettings
	if settings != nil {
		s = *settings
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	h := &HF{meter: newMeter(p)}
	h.s, h.undamped = s.withDefaults()
	return h, nil
}

// Name is the registry's name: "hf-kron" with the Kronecker
// preconditioner, else "hf-ggn".
func (h *HF) Name() string {
	if h.s.Kronecker {
		return "hf-kron"
	}
	return "hf-ggn"
}

// Step takes one HF step and binds the new weights (Detail: *HFDetail).
func (h *HF) Step() (rec *Step, err error) {
	defer errs.Recover("solver.HF.Step", &err)
	st, err := h.start()
	if err != nil {
		return nil, err
	}
	s, undamped, p := h.s, h.undamped, h.p
	if h.lambda == 0 || undamped {
		h.lambda = s.Tikhonov
	}
	loss, gs, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	det := &HFDetail{Tikhonov: h.lambda, Rho: math.NaN()}
	rec = &Step{Iter: h.steps, LossBefore: loss, LossAfter: loss, Detail: det}
	h.steps++
	g := gs.Flat()
	if floats.Norm(g, 2) == 0 {
		return st.finish(rec)
	}
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	w := base.Flat()
	gv := func(x []float64) ([]float64, error) {
		out, err := p.GGNv(params.FromFlat(p.Layout(), x))
		if err != nil {
			return nil, err
		}
		return out.Flat(), nil
	}
	lossAt := func(x []float64) float64 {
		l, err := p.LossAt(params.FromFlat(p.Layout(), x))
		if err != nil || math.IsNaN(l) {
			return math.Inf(1)
		}
		return l
	}
	// CG on (G + λI) d = −g from x₀ = Decay·previous step.
	lambda := h.lambda
	x := make([]float64, len(g))
	if len(h.prev) == len(g) {
		floats.ScaleTo(x, s.Decay, h.prev)
	}
	apply := func(x []float64) ([]float64, error) {
		ax, err := gv(x)
		if err != nil {
			return nil, err
		}
		floats.AddScaled(ax, lambda, x)
		return ax, nil
	}
	ax, err := apply(x)
	if err != nil {
		return nil, err
	}
	r := make([]float64, len(g)) // r = −g − A x
	for i := range r {
		r[i] = -g[i] - ax[i]
	}
	precond := func(z, r []float64) { copy(z, r) }
	if s.Kronecker {
		precond, rec.Fallbacks = h.kronecker(lambda)
	}
	z := make([]float64, len(r))
	precond(z, r)
	d := append([]float64(nil), z...)
	rr := floats.Dot(r, z)
	// φ(x) = ½xᵀAx + gᵀx, tracked for the stopping rule.
	phi := func(x, ax []float64) float64 { return 0.5*floats.Dot(x, ax) + floats.Dot(g, x) }
	phis := []float64{phi(x, ax)}
	type saved struct {
		i int
		x []float64
	}
	keep := []saved{}
	next := 1.0
	for i := 1; i <= s.MaxCG; i++ {
		if !allFinite(d) { // G + λI nearly singular: stop with the last finite iterate
			break
		}
		ad, err := apply(d)
		if err != nil {
			return nil, err
		}
		dad := floats.Dot(d, ad)
		if !(dad > 0) { // G + λI is positive definite; rounding only
			break
		}
		alpha := rr / dad
		floats.AddScaled(x, alpha, d)
		floats.AddScaled(ax, alpha, ad)
		floats.AddScaled(r, -alpha, ad)
		precond(z, r)
		rrNew := floats.Dot(r, z)
		floats.AddScaledTo(d, z, rrNew/rr, d)
		rr = rrNew
		det.CGIterations = i
		phis = append(phis, phi(x, ax))
		if float64(i) >= math.Ceil(next) {
			keep = append(keep, saved{i, append([]float64(nil), x...)})
			next *= 1.3
		}
		k := max(10, i/10)
		if i > k && phis[i] < 0 && (phis[i]-phis[i-k])/phis[i] < float64(k)*5e-4 {
			break
		}
	}
	if len(keep) == 0 || keep[len(keep)-1].i != det.CGIterations {
		keep = append(keep, saved{det.CGIterations, append([]float64(nil), x...)})
	}
	h.prev = append(h.prev[:0], keep[len(keep)-1].x...)
	// CG backtracking: from the last iterate back while the loss improves.
	trial := func(d []float64) []float64 {
		out := append([]float64(nil), w...)
		floats.Add(out, d)
		return out
	}
	best := len(keep) - 1
	bestLoss := lossAt(trial(keep[best].x))
	for j := best - 1; j >= 0; j-- {
		l := lossAt(trial(keep[j].x))
		if !(l < bestLoss) {
			break
		}
		best, bestLoss = j, l
	}
	step := keep[best].x
	det.Chosen = keep[best].i
	// ρ against the undamped Gauss–Newton model q(d) = gᵀd + ½dᵀGd.
	gd, err := gv(step)
	if err != nil {
		return nil, err
	}
	q := floats.Dot(g, step) + 0.5*floats.Dot(step, gd)
	det.Rho = (bestLoss - loss) / q
	switch {
	case undamped:
	case !(det.Rho > 0.25):
		h.lambda = math.Min(h.lambda*1.5, maxDamping)
	case det.Rho > 0.75:
		h.lambda = math.Max(h.lambda*2/3, minHFDamping)
	}
	// Line search on the chosen iterate.
	slope := floats.Dot(g, step)
	if !(slope < 0) {
		h.prev = nil
		return st.finish(rec)
	}
	var xt []float64
	guard := newGuard(p)
	res := s.LineSearch.Search(loss, slope, 1, func(a float64) (float64, error) {
		scaledStep := append([]float64(nil), step...)
		floats.Scale(a, scaledStep)
		xt = trial(scaledStep)
		l := bestLoss // a = 1: already evaluated
		if a != 1 {
			l = lossAt(xt)
		}
		if l < loss { // a point the search may take: the model's own ops must accept it
			if why := guard.refuses(params.FromFlat(p.Layout(), xt), l); why != "" {
				det.Refused = append(det.Refused, fmt.Sprintf("t = %.3g: %s", a, why))
				return math.Inf(1), nil
			}
		}
		return l, nil
	})
	det.Backtracks = res.Trials - 1
	if len(det.Refused) > 0 {
		rec.Fallbacks = append(rec.Fallbacks, refusedFallback(det.Refused, res))
	}
	if res.OK {
		if err := p.SetWeights(params.FromFlat(p.Layout(), xt)); err != nil {
			return nil, err
		}
		rec.LossAfter, rec.StepSize = res.Loss, res.T
		return st.finish(rec)
	}
	if !undamped {
		h.lambda = math.Min(h.lambda*1.5, maxDamping)
	}
	h.prev = nil
	return st.finish(rec)
}

// kronecker returns the Kronecker-factored block preconditioner at the
// current point for damping λ: dst = P⁻¹ r, both in params.Vector's flat
// order; and the blocks it leaves unpreconditioned, and why.
func (h *HF) kronecker(lambda float64) (func(dst, r []float64), []BlockFallback) {
	p := h.p
	type blockInv struct {
		off, k, n int
		a, g      *mat.Cholesky
	}
	var blocks []blockInv
	var fall []BlockFallback
	for l := 0; l < p.Blocks(); l++ {
		c, err := p.Block(l).Curvature()
		if err != nil {
			fall = append(fall, BlockFallback{Block: l, Weight: p.Block(l).Name(), Reason: "unpreconditioned: " + err.Error(), Err: err})
			continue
		}
		bsz, k := c.Rows.Dims()
		n, _ := c.M[0].Dims()
		var a mat.SymDense
		a.SymOuterK(1/float64(bsz), c.Rows.T())
		g := mat.NewSymDense(n, nil)
		for _, m := range c.M {
			for i := range n {
				for j := i; j < n; j++ {
					g.SetSym(i, j, g.At(i, j)+0.5*(m.At(i, j)+m.At(j, i)))
				}
			}
		}
		ta, tg := mat.Trace(&a)/float64(k), mat.Trace(g)/float64(n)
		if !(ta > 0) || !(tg > 0) {
			fall = append(fall, BlockFallback{Block: l, Weight: p.Block(l).Name(), Reason: "unpreconditioned: a Kronecker factor has no positive mean eigenvalue"})
			continue
		}
		pi := math.Sqrt(ta / tg)
		sq := math.Sqrt(lambda)
		for i := range k {
			a.SetSym(i, i, a.At(i, i)+sq*pi)
		}
		for i := range n {
			g.SetSym(i, i, g.At(i, i)+sq/pi)
		}
		var ca, cg mat.Cholesky
		if !ca.Factorize(&a) || !cg.Factorize(g) {
			fall = append(fall, BlockFallback{Block: l, Weight: p.Block(l).Name(), Reason: "unpreconditioned: a damped Kronecker factor is not positive definite"})
			continue
		}
		blocks = append(blocks, blockInv{off: p.Layout().Offset(p.Layout().BlockWeights(l)[0]), k: k, n: n, a: &ca, g: &cg})
	}
	return func(dst, r []float64) {
		copy(dst, r)
		for _, b := range blocks {
			v := mat.NewDense(b.k, b.n, append([]float64(nil), r[b.off:b.off+b.k*b.n]...))
			var x, y mat.Dense
			if err := b.a.SolveTo(&x, v); err != nil {
				continue
			}
			if err := b.g.SolveTo(&y, x.T()); err != nil { // (A⁻¹ V G⁻¹)ᵀ = G⁻¹ (A⁻¹V)ᵀ
				continue
			}
			for i := range b.k {
				for j := range b.n {
					dst[b.off+i*b.n+j] = y.At(j, i)
				}
			}
		}
	}, fall
}
