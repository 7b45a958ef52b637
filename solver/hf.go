package solver

import (
	"math"
	"time"

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
	// Damping is the first λ of (G + λI) d = −g, then adapted
	// Levenberg–Marquardt style (0: 1). NoDamping: undamped, λ = 0 at
	// every step, never adapted (CG on a singular G then stops at its
	// last finite iterate, or at MaxCG).
	Damping float64
	MaxCG   int // CG iterations per step (0: 250)
	// Decay, in (0, 1], scales the previous step to start CG from (0: 0.95).
	Decay  float64
	Armijo float64 // sufficient decrease of the line search, in (0, 1) (0: 1e-4)
	// MaxBacktracks of the line search on the chosen CG iterate (0: 30).
	MaxBacktracks int
	// Kronecker preconditions CG, block by block, with the Kronecker
	// factorisation of the exact per-sample curvature (KFRA-style):
	// H_ll = Σ_i (h̃_iᵀh̃_i) ⊗ M_i ≈ (h̃ᵀh̃/B) ⊗ (Σ_i M_i), each factor damped
	// (Tikhonov, split by the factors' mean eigenvalues) and inverted by
	// Cholesky; a block without a per-sample route, or whose factor is
	// not positive definite, is left unpreconditioned. It costs n_l JVPs
	// per block per step (hvp.Block.Curvature).
	Kronecker bool
}

// HFRecord records one HF step.
type HFRecord struct {
	Step          int
	Loss, NewLoss float64
	Damping       float64 // λ the step was solved with
	Rho           float64 // actual / predicted decrease
	CGIterations  int
	Chosen        int     // the CG iterate taken (CG backtracking)
	StepSize      float64 // the line search's α (0: rejected)
	Duration      time.Duration
}

// HF is Hessian-free optimisation as in Martens (2010): each step solves
// (G + λI) d = −g by conjugate gradients on exact Gauss–Newton products
// (hvp.Problem.GGNv), started from the previous step scaled by Decay and
// stopped by Martens' relative-progress criterion; keeps the iterates at
// i = ⌈1.3^k⌉ and takes the latest one whose loss is not beaten by an
// earlier one (CG backtracking); adapts λ Levenberg–Marquardt style to the
// ratio ρ of the actual decrease to the Gauss–Newton model's (λ ·3/2 for
// ρ < ¼, ·2/3 for ρ > ¾); and takes it with an Armijo line search, so the
// loss never increases.
type HF struct {
	P        *hvp.Problem
	Settings HFSettings
	Steps    int
	lambda   float64   // the current λ (0 before the first step, and with NoDamping)
	prev     []float64 // the previous step, flattened
}

// NewHF returns an HF solver on p's weights (settings may be nil).
func NewHF(p *hvp.Problem, settings *HFSettings) *HF {
	h := &HF{P: p}
	if settings != nil {
		h.Settings = *settings
	}
	return h
}

// settings returns h's settings validated and with their defaults;
// undamped reports NoDamping.
func (h *HF) settings() (s HFSettings, undamped bool, err error) {
	s = h.Settings
	if err := s.Validate(); err != nil {
		return s, false, err
	}
	switch s.Damping {
	case 0:
		s.Damping = 1
	case NoDamping:
		s.Damping, undamped = 0, true
	}
	if s.MaxCG == 0 {
		s.MaxCG = 250
	}
	if s.Decay == 0 {
		s.Decay = 0.95
	}
	if s.Armijo == 0 {
		s.Armijo = 1e-4
	}
	if s.MaxBacktracks == 0 {
		s.MaxBacktracks = 30
	}
	return s, undamped, nil
}

// Iterate takes one HF step and binds the new weights.
func (h *HF) Iterate() (rec *HFRecord, err error) {
	defer errs.Recover("solver.HF.Iterate", &err)
	t0 := time.Now()
	s, undamped, err := h.settings()
	if err != nil {
		return nil, err
	}
	p := h.P
	if h.lambda == 0 || undamped {
		h.lambda = s.Damping
	}
	loss, gs, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	rec = &HFRecord{Step: h.Steps, Loss: loss, NewLoss: loss, Damping: h.lambda, Rho: math.NaN()}
	h.Steps++
	g := gs.Flat()
	if floats.Norm(g, 2) == 0 {
		rec.Duration = time.Since(t0)
		return rec, nil
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
		precond = h.kronecker(lambda)
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
		rec.CGIterations = i
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
	if len(keep) == 0 || keep[len(keep)-1].i != rec.CGIterations {
		keep = append(keep, saved{rec.CGIterations, append([]float64(nil), x...)})
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
	rec.Chosen = keep[best].i
	// ρ against the undamped Gauss–Newton model q(d) = gᵀd + ½dᵀGd.
	gd, err := gv(step)
	if err != nil {
		return nil, err
	}
	q := floats.Dot(g, step) + 0.5*floats.Dot(step, gd)
	rec.Rho = (bestLoss - loss) / q
	switch {
	case undamped:
	case !(rec.Rho > 0.25):
		h.lambda = math.Min(h.lambda*1.5, maxDamping)
	case rec.Rho > 0.75:
		h.lambda = math.Max(h.lambda*2/3, minHFDamping)
	}
	// Line search on the chosen iterate.
	slope := floats.Dot(g, step)
	if !(slope < 0) {
		h.prev = nil
		rec.Duration = time.Since(t0)
		return rec, nil
	}
	a := 1.0
	for b := 0; b <= s.MaxBacktracks; b++ {
		scaledStep := append([]float64(nil), step...)
		floats.Scale(a, scaledStep)
		x := trial(scaledStep)
		l := bestLoss // a = 1: already evaluated
		if b > 0 {
			l = lossAt(x)
		}
		if l <= loss+s.Armijo*a*slope {
			if err := p.SetWeights(params.FromFlat(p.Layout(), x)); err != nil {
				return nil, err
			}
			rec.NewLoss, rec.StepSize = l, a
			rec.Duration = time.Since(t0)
			return rec, nil
		}
		a *= 0.8
	}
	if !undamped {
		h.lambda = math.Min(h.lambda*1.5, maxDamping)
	}
	h.prev = nil
	rec.Duration = time.Since(t0)
	return rec, nil
}

// kronecker returns the Kronecker-factored block preconditioner at the
// current point for damping λ: dst = P⁻¹ r, both in params.Vector's flat
// order.
func (h *HF) kronecker(lambda float64) func(dst, r []float64) {
	p := h.P
	type blockInv struct {
		off, k, n int
		a, g      *mat.Cholesky
	}
	var blocks []blockInv
	for l := 0; l < p.Blocks(); l++ {
		c, err := p.Block(l).Curvature()
		if err != nil {
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
	}
}
