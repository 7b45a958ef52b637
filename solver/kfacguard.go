package solver

import (
	"errors"
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/params"
)

// K-FAC's step guard (Martens & Grosse 2015, §6.5): the step length α
// comes from the exact Gauss–Newton model along the direction d with a
// Tikhonov damping μ (absolute, 0 at first),
//
//	M(α) = α⟨g, d⟩ + ½α²(⟨d, G d⟩ + μ‖d‖²),  α = −⟨g, d⟩ / (⟨d, G d⟩ + μ‖d‖²),
//
// and μ adapts, Levenberg–Marquardt style, by the reduction ratio
// ρ = (J(w + αd) − J(w)) / M(α) measured after every step (one forward
// pass): ρ < 1/4 (the model promised much more than the loss gave) raises
// μ by 3/2, ρ > 3/4 lowers it by 2/3 (Martens & Grosse's ω₁ = 19/20 per
// step, here coarser because a step is one update, not T₁ = 5). A μ raised
// from 0 starts at ⟨d, G d⟩/‖d‖², G's own curvature along d, which halves
// α. When the loss does not fall (ρ ≤ 0, or not finite) the step is
// rejected: μ is quadrupled and α recomputed along the same d (no new
// product: ⟨g, d⟩, ⟨d, G d⟩ and ‖d‖ are kept; with KFACSettings.Momentum
// α and β are recomputed from the same 2×2 model, kfac_momentum.go), up to guardTries times; each
// rejection is counted in KFACDetail.Backtracks and said in Note, and if
// none decreases the loss, the weights are left unchanged (StepSize 0,
// Note says so). On a translated graph a step must also pass guard.go's
// check of the model's own loss (Gorgonia's ops in the model's dtype,
// hvp.Problem.ModelLossAt: finite, not above the loss before), like
// newton's and HF's; a step it refuses is rejected the same way, and Note
// says why. Departure from Martens & Grosse: μ enters the model that
// sets α, not the factors, whose damping stays relative (FactorDamping):
// the direction is not changed by the guard, only its length.
//
// Why (issue 21, the LSTM row of bench/gorgonia-models): the LSTM's
// recurrent weight Wh reads hidden states of norm ≈ 0.07 (h₀ = 0), so its
// input factor's mean eigenvalue is 0.004 against 0.2 for Wx: the
// Kronecker-factored direction moves Wh 143 (|g_Wh| = 0.0055) and the
// exact Gauss–Newton model along d, accurate at 1% of the step (loss
// 1.5939 against the model's 1.5920), promised 1.61 → 0.63 at α where the
// loss is 2.36: the gates saturate far outside the region where the
// net's linearisation holds. The factors themselves are consistent: along
// each block's part of d, ⟨d, G d⟩/⟨d, (A ⊗ DD) d⟩ is 5.4, 5.7 and 5.0
// for Wx, Wh, Wy (the mean over 5 steps). docs/optimizers.md has the
// measurements.
const guardTries = 8

// kfacGuard is the guard's state across steps: the damping μ.
type kfacGuard struct {
	mu float64
}

// guardedStep takes the step base + Σ x_i v_i of the model sub (the line
// along d, or with momentum the plane of d and δ₀: kfac_momentum.go)
// under the guard (the comment above), binding the weights it accepts,
// and fills rec and det. limit is the MaxRadius cap on the update's norm
// (0: no cap). It returns the weights it bound (a vector of its own, for
// stepStart.finishAt), nil when it rejected the step and bound base.
func (k *KFAC) guardedStep(rec *Step, det *KFACDetail, base *params.Vector, sub *subspace, limit float64) (*params.Vector, error) {
	p, gu := k.p, &k.guard
	model := newGuard(p) // the model's own loss (guard.go), on a translated graph
	f0 := rec.LossBefore
	dropped := ""
	for try := 0; ; try++ {
		x, why := sub.solve(gu.mu)
		dropped = why // of the try that is taken: a later μ may keep the plane
		capped := ""
		if n := sub.norm(x); limit > 0 && n > limit {
			capped = fmt.Sprintf("step capped by MaxRadius: ‖Δw‖ %.3g → %.3g (α %.3g → %.3g)", n, limit, x[0], x[0]*limit/n)
			for i := range x {
				x[i] *= limit / n
			}
		}
		m := sub.model(x, gu.mu)
		step := sub.update(x)
		ws := base.Clone()
		ws.AddScaled(1, step)
		f, err := p.LossAt(ws)
		switch {
		case errors.Is(err, errs.ErrNotFinite): // the step overflowed: rejected like a loss that rose
			f = math.Inf(1)
		case err != nil:
			return nil, err
		}
		rho := (f - f0) / m
		det.Model, det.Rho, det.Damping = m, rho, gu.mu
		falls, why := f <= f0 && !math.IsNaN(rho), ""
		if falls {
			why = model.refuses(ws, f)
		}
		if why != "" {
			det.addNote(fmt.Sprintf("α = %.3g refused: %s", x[0], why))
		}
		if falls && why == "" { // accepted
			switch {
			case rho < 0.25:
				gu.raise(1.5, sub.curvature())
			case rho > 0.75:
				gu.mu *= 2.0 / 3
			}
			if err := p.SetWeights(ws); err != nil {
				return nil, err
			}
			rec.StepSize, rec.LossAfter = x[0], f
			if len(x) > 1 {
				det.Momentum = x[1]
			}
			if dropped != "" {
				det.addNote(dropped)
			}
			if capped != "" {
				det.addNote(capped)
			}
			if k.s.Momentum {
				k.prev = step
			}
			if try > 0 {
				det.addNote(fmt.Sprintf("the step guard backtracked %d times (the loss rose; Tikhonov damping raised to μ = %.3g): α = %.3g", try, det.Damping, x[0]))
			}
			return ws, nil
		}
		det.Backtracks++
		if try+1 == guardTries {
			det.addNote(fmt.Sprintf("step rejected by the guard: the loss did not fall at any of %d step lengths (the last α = %.3g: loss %.6g → %.6g, "+
				"the model's change %.3g, μ = %.3g); the weights are unchanged", guardTries, x[0], f0, f, m, gu.mu))
			rec.StepSize, rec.LossAfter = 0, f0
			k.prev = nil // no update: the next step has no δ₀
			return nil, p.SetWeights(base)
		}
		gu.raise(4, sub.curvature())
	}
}

// raise multiplies μ by c, starting from start when it is 0.
func (gu *kfacGuard) raise(c, start float64) {
	if gu.mu == 0 {
		gu.mu = start
		return
	}
	gu.mu *= c
}
