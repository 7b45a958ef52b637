package solver

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"gorgonia.org/tensor"
)

// Bounds of CombineBest's damping.
const (
	minDamping = 1e-9 // below it a step is undamped
	maxDamping = 1e8
)

// best takes one CombineBest step (see CombineBest).
func (n *Newton) best(s NewtonSettings, t0 time.Time) (*StepRecord, error) {
	p := n.P
	loss, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	rec := &StepRecord{Step: n.Steps, Loss: loss, NewLoss: loss, Rho: math.NaN()}
	n.Steps++
	if n.lambda == 0 {
		n.lambda = s.Damping
	}
	base, err := p.CurrentWeights()
	if err != nil {
		return nil, err
	}
	if hvp.Norm(g...) == 0 {
		rec.Combined, rec.Duration = "stationary", time.Since(t0)
		return rec, nil
	}
	for try := 0; try < 3; try++ {
		lambda := n.lambda
		if lambda < minDamping { // undamped: the exact block inverse (chain route where there is one)
			lambda = 0
		}
		ub, blocks, err := n.dampedDirections(g, lambda, s)
		if err != nil {
			return nil, err
		}
		rec.Blocks, rec.Damping = blocks, lambda
		// Candidates: each block alone, and all together.
		type cand struct {
			name string
			d    []*tensor.Dense // the step, to be added
			loss float64
		}
		var cands []cand
		sum := make([]*tensor.Dense, len(g))
		for k := range sum {
			sum[k] = scaled(0, g[k])
		}
		for l := range ub {
			d := p.Scatter(l, scaledAll(-1, ub[l]))
			for i, k := range p.Block(l) {
				sum[k] = ub[l][i]
				d[k] = hvp.AsDtype(d[k], tensor.Float64)
			}
			cands = append(cands, cand{name: fmt.Sprintf("block %d", l), d: d})
		}
		if len(ub) > 1 {
			cands = append(cands, cand{name: "sum", d: scaledAll(-1, sum)})
		}
		bestI := -1
		for i := range cands {
			ws := make([]*tensor.Dense, len(base))
			for k := range base {
				ws[k] = axpy(base[k], 1, cands[i].d[k])
			}
			if cands[i].loss, err = p.LossAt(ws); err != nil || math.IsNaN(cands[i].loss) {
				cands[i].loss = math.Inf(1) // outside the domain: not a candidate
			}
			if bestI < 0 || cands[i].loss < cands[bestI].loss {
				bestI = i
			}
		}
		c := cands[bestI]
		if c.loss < loss {
			// ρ against the exact quadratic model m(d) = ⟨g, d⟩ + ½⟨d, H d⟩.
			hd, err := p.Hv(c.d)
			if err != nil {
				return nil, err
			}
			model := dotAll(g, c.d) + 0.5*dotAll(c.d, hd)
			rho := (c.loss - loss) / model
			if !s.FixedDamping {
				switch {
				case !(rho > 0.25):
					n.lambda = math.Min(n.lambda*3, maxDamping)
				case rho > 0.75:
					n.lambda /= 5
				}
			}
			ws := make([]*tensor.Dense, len(base))
			for k := range base {
				ws[k] = axpy(base[k], 1, c.d[k])
			}
			if err := setWeights(p, ws); err != nil {
				return nil, err
			}
			rec.Combined, rec.NewLoss, rec.StepSize, rec.Rho = c.name, c.loss, 1, rho
			rec.Duration = time.Since(t0)
			return rec, nil
		}
		if s.FixedDamping {
			break
		}
		n.lambda = math.Min(math.Max(n.lambda, minDamping)*10, maxDamping)
	}
	// No damped step lowered the loss: a gradient step, backtracking.
	rec.Fallbacks++
	n.Fallbacks++
	gn, wn := hvp.Norm(g...), hvp.Norm(base...)
	if n.radius == 0 {
		n.radius = s.Radius
	}
	t := n.radius * math.Max(wn, 1) / gn
	for rec.Backtracks = 0; rec.Backtracks <= s.MaxBacktracks; rec.Backtracks++ {
		ws := make([]*tensor.Dense, len(base))
		for k := range base {
			ws[k] = axpy(base[k], -t, g[k])
		}
		lt, err := p.LossAt(ws)
		if err == nil && lt <= loss-s.Armijo*t*gn*gn {
			if err := setWeights(p, ws); err != nil {
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

// dampedDirections returns each block's u_l = (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ g_l by
// the B-pass (all blocks in one program), or, for a block that cannot be
// damped exactly or whose result is not a descent direction, by the
// fallback.
func (n *Newton) dampedDirections(g []*tensor.Dense, lambda float64, s NewtonSettings) ([][]*tensor.Dense, []BlockStep, error) {
	p := n.P
	L := p.Blocks()
	ub := make([][]*tensor.Dense, L)
	bs := make([]BlockStep, L)
	o := s.Checks
	o.Damping, o.BestEffort = lambda, true
	res, err := p.InvHvAll(g, &o)
	for l := range L {
		gl := p.BlockOf(l, g)
		if err == nil && res[l].Certified {
			if sl := dotAll(gl, res[l].U); sl > 0 {
				ub[l], bs[l] = res[l].U, BlockStep{Kind: res[l].Kind, Residual: res[l].Residual, Slope: sl}
				continue
			}
		}
		why := "not certified"
		if err != nil {
			why = err.Error()
		} else if res[l].Certified {
			why = "not a descent direction"
		}
		cs := s
		if cs.CG.Damping == 0 {
			cs.CG.Damping = lambda * hvp.Norm(gl...) // a scale-free stand-in for λ·h̃ᵀh̃
		}
		u, b, e := n.direction(l, gl, cs)
		if e != nil {
			return nil, nil, e
		}
		b.Replaced = "damped B-pass " + why + "; " + b.Replaced
		ub[l], bs[l] = u, b
	}
	return ub, bs, nil
}
