package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
)

// guard checks a step as the model computes it: newtonia measures trial
// losses by its own passes in float64 (LossAt), while the user's
// TapeMachine computes the loss by Gorgonia's ops in the model's dtype
// (hvp.Problem.ModelLossAt). The two agree to rounding until Gorgonia's
// ops leave the dtype's range: a float32 net whose exact Newton step fits
// its batch with logits ~100 apart has a finite loss in newtonia's float64
// and NaN in Gorgonia's float32 LogSoftMax. A step taken must have a
// finite loss as the model computes it, no larger than before the step
// (only finite for a graph with random nodes, which draw anew in each of
// Gorgonia's runs, so that two of its losses are of two draws).
type guard struct {
	p       *hvp.Problem
	on      bool    // the graph is translated: its own loss may differ
	random  bool    // only finiteness is compared
	before  float64 // the model's loss at the step's start (NaN: not yet measured)
	started bool
}

// newGuard returns the guard of one step of p.
func newGuard(p *hvp.Problem) *guard {
	return &guard{p: p, on: p.Translated(), random: len(p.Random()) > 0, before: math.NaN()}
}

// refuses returns "" when the weights ws, whose loss by newtonia's passes
// is mine, have a finite loss as the model computes it and (without random
// nodes) one no larger than before the step; else why not, naming both
// losses.
func (g *guard) refuses(ws *params.Vector, mine float64) string {
	if !g.on {
		return ""
	}
	if !g.started && !g.random {
		g.started = true
		g.before, _ = g.p.ModelLossAt(nil) // NaN or an error: only finiteness is asked below
	}
	theirs, err := g.p.ModelLossAt(ws)
	dt := g.p.Layout().Dtype()
	switch {
	case err != nil:
		return fmt.Sprintf("the loss by the model's own %v ops fails (%v), newtonia's float64 loss %.6g", dt, err, mine)
	case math.IsNaN(theirs) || math.IsInf(theirs, 0):
		return fmt.Sprintf("the loss by the model's own %v ops is %v (newtonia's float64 loss %.6g: Gorgonia's ops leave the %v range)", dt, theirs, mine, dt)
	case !g.random && theirs > g.before:
		return fmt.Sprintf("the loss by the model's own %v ops rises, %.8g → %.8g (newtonia's float64 loss %.8g)", dt, g.before, theirs, mine)
	}
	return ""
}

// refusedFallback is the Step.Fallbacks entry of a line search some of
// whose step sizes the guard refused: how many, the first and why, and
// what the search took.
func refusedFallback(refused []string, res LineResult) BlockFallback {
	why := fmt.Sprintf("%d step sizes refused (first: %s)", len(refused), refused[0])
	if res.OK {
		why += fmt.Sprintf("; took t = %.3g", res.T)
	} else {
		why += "; no step taken"
	}
	return BlockFallback{Block: -1, Reason: why}
}
