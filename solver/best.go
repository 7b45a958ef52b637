package solver

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// Bounds of CombineBest's damping.
const (
	minDamping = 1e-9 // below it a step is undamped
	maxDamping = 1e8
)

// best takes one CombineBest step (see CombineBest). Each block keeps
// its own damping λ_l: a block whose step alone does not lower the loss
// gets 4λ_l; the block whose step is taken gets λ_l adapted to ρ (all
// blocks when the sum is taken).
func (n *Newton) best(s NewtonSettings, t0 time.Time) (*StepRecord, error) {
	p := n.P
	loss, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	rec := &StepRecord{Step: n.Steps, Loss: loss, NewLoss: loss, Rho: math.NaN(), Damping: math.NaN()}
	n.Steps++
	L := p.Blocks()
	if len(n.lambdas) != L {
		n.lambdas = make([]float64, L)
		for l := range n.lambdas {
			n.lambdas[l] = s.Damping
		}
	}
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	if g.Norm() == 0 {
		rec.Combined, rec.Duration = "stationary", time.Since(t0)
		return rec, nil
	}
	// at returns the weights w + d and the loss there.
	at := func(d *params.Vector) (*params.Vector, float64) {
		ws := base.Clone()
		ws.AddScaled(1, d)
		l, err := p.LossAt(ws)
		if err != nil || math.IsNaN(l) {
			return ws, math.Inf(1) // outside the domain: not a candidate
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
		rec.Blocks = make([]BlockStep, L)
		type cand struct {
			name   string
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
			u, bs, err := n.dampedDirection(l, g.Block(l), lambda, s)
			if err != nil {
				return nil, err
			}
			bs.Damping = lambda // before this step adapts it
			rec.Blocks[l] = bs
			if bs.Replaced != "" && try == 0 {
				rec.Fallbacks++
				n.Fallbacks++
			}
			mu := u.Clone()
			mu.Scale(-1)
			d := params.New(p.Layout())
			d.Block(l).CopyFrom(mu)
			d = capped(d)
			sum.Block(l).CopyFrom(d.Block(l))
			c := cand{name: fmt.Sprintf("block %d", l), blocks: []int{l}, d: d}
			if c.ws, c.loss = at(d); !(c.loss < loss) && !s.FixedDamping {
				n.lambdas[l] = math.Min(math.Max(n.lambdas[l], minDamping)*10, maxDamping)
			}
			cands = append(cands, c)
		}
		if L > 1 {
			all := make([]int, L)
			for l := range all {
				all[l] = l
			}
			c := cand{name: "sum", blocks: all, d: capped(sum)}
			c.ws, c.loss = at(c.d) // the capped sum: the step taken is the one measured and modelled
			cands = append(cands, c)
		}
		bestI := -1
		for i := range cands {
			if cands[i].loss < loss && (bestI < 0 || cands[i].loss < cands[bestI].loss) {
				bestI = i
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
					n.lambdas[l] = math.Min(math.Max(n.lambdas[l], minDamping)*3, maxDamping)
				case rho > 0.75:
					n.lambdas[l] /= 5
				}
			}
		}
		if err := p.SetWeights(c.ws); err != nil {
			return nil, err
		}
		rec.Combined, rec.NewLoss, rec.StepSize, rec.Rho = c.name, c.loss, 1, rho
		rec.Damping = 0 // the λ the step was computed with, not the next one
		for _, l := range c.blocks {
			rec.Damping = math.Max(rec.Damping, rec.Blocks[l].Damping)
		}
		rec.Duration = time.Since(t0)
		return rec, nil
	}
	// No damped step lowered the loss: a gradient step, backtracking.
	rec.Fallbacks++
	n.Fallbacks++
	gn, wn := g.Norm(), base.Norm()
	if n.radius == 0 {
		n.radius = s.Radius
	}
	n.radius = math.Min(n.radius, s.MaxRadius) // no longer than MaxRadius·max(‖w‖, 1) either
	t := n.radius * math.Max(wn, 1) / gn
	for rec.Backtracks = 0; rec.Backtracks <= s.MaxBacktracks; rec.Backtracks++ {
		d := g.Clone()
		d.Scale(-t)
		if ws, lt := at(d); lt <= loss-s.Armijo*t*gn*gn {
			if err := p.SetWeights(ws); err != nil {
				return nil, err
			}
			rec.Combined, rec.NewLoss, rec.StepSize = "gradient", lt, t
			n.radius = t * gn / math.Max(wn, 1)
			rec.Duration = time.Since(t0)
			return rec, nil
		}
		t *= s.Shrink
	}
	rec.Combined, rec.Duration = "rejected", time.Since(t0)
	return rec, nil
}

// dampedDirection returns block l's u = (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ g_l: by the
// B-pass; where it has none (batch > fan-in + 1) or it is not a certified
// descent direction, by the block's per-sample curvature solved densely
// (when small), else, for λ > 0, by the undamped B-pass (a block without a
// per-sample route may have a chain route), else by the fallback (CG,
// then a gradient step). Replaced gives each distinct reason once.
func (n *Newton) dampedDirection(l int, gl *params.Vector, lambda float64, s NewtonSettings) (*params.Vector, BlockStep, error) {
	p := n.P
	o := s.Checks
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
	if u, ok := n.denseStep(l, gl, lambda); ok {
		return u, BlockStep{Direction: DirectionDense, Kind: hvp.KindRefused, Residual: math.NaN(), Slope: gl.Dot(u),
			Replaced: "damped B-pass: " + why + "; dense per-sample solve"}, nil
	}
	replaced := "damped B-pass: " + why
	if lambda > 0 { // undamped, the B-pass may take another route
		o.Damping = 0
		u, bs, why0 := n.exact(l, gl, o, s.ExactOnly)
		if why0 == "" {
			bs.Replaced = replaced + "; undamped B-pass"
			return u, bs, nil
		}
		if why0 != why {
			replaced += "; undamped B-pass: " + why0
		}
	}
	cs := s
	if n.Settings.CG.MaxIter == 0 {
		cs.CG.MaxIter = 20 // truncated: a refused block is not worth 100 Hv per step
	}
	// λ·‖g_l‖: a scale-free stand-in for λ·h̃ᵀh̃ when CG.Damping is 0.
	return n.fallback(l, gl, cs, replaced, math.Max(lambda, 1e-8)*gl.Norm())
}

// maxDenseFlops caps the dense per-sample solve: forming the block costs
// 2·B·k²·n² flops and factorising it (kn)³·2/3.
const maxDenseFlops = 4e8

// denseStep solves (H_ll + λ·h̃ᵀh̃ ⊗ I) u = g_l with the block's per-sample
// curvature formed densely, when that is cheap; ok is false otherwise, or
// when the solve fails or u is not a descent direction.
func (n *Newton) denseStep(l int, g *params.Vector, lambda float64) (*params.Vector, bool) {
	p := n.P
	size := g.Len()
	if float64(size)*float64(size)*float64(size) > maxDenseFlops {
		return nil, false
	}
	c, err := p.Block(l).Curvature()
	if err != nil {
		return nil, false
	}
	bsz, k := c.Rows.Dims()
	nn, _ := c.M[0].Dims()
	if k*nn != size || 2*float64(bsz)*float64(k*k)*float64(nn*nn) > maxDenseFlops {
		return nil, false
	}
	h, err := c.Dense(lambda)
	if err != nil {
		return nil, false
	}
	var u mat.VecDense
	if err := u.SolveVec(h, mat.NewVecDense(size, append([]float64(nil), g.Flat()...))); err != nil {
		return nil, false
	}
	us := params.FromFlat(g.Layout(), u.RawVector().Data)
	if !(g.Dot(us) > 0) {
		return nil, false
	}
	return us, true
}
