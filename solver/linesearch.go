package solver

import (
	"math"

	"github.com/newtonia/newtonia/errs"
)

// LineSearch is the Armijo backtracking line search every method of this
// package takes (gonum's lbfgs and bfgs take gonum's own): along a descent
// direction d with slope ⟨g, d⟩ < 0 it tries the step sizes t₀, t₀·Shrink,
// t₀·Shrink², … and accepts the first t with
//
//	J(w + t·d) ≤ J(w) + Armijo·t·⟨g, d⟩,
//
// making at most MaxTrials trials (the first one included); past them the
// search fails and the caller keeps the weights. Every zero field means
// the default beside it.
type LineSearch struct {
	Armijo    float64 // sufficient-decrease constant c, in (0, 1) (0: 1e-4)
	Shrink    float64 // factor per backtrack, in (0, 1) (0: 0.5; HF's default is 0.8)
	MaxTrials int     // trials before the search fails, ≥ 1 (0: 31, the first step and 30 backtracks)
}

// Defaults of LineSearch.
const (
	DefaultArmijo    = 1e-4
	DefaultShrink    = 0.5
	DefaultMaxTrials = 31
)

// LineResult is what a LineSearch found.
type LineResult struct {
	OK     bool    // a step size met the Armijo condition
	T      float64 // the accepted step size (0 when !OK)
	Loss   float64 // J(w + T·d) (J(w) when !OK)
	Trials int     // loss evaluations made
}

func (ls LineSearch) validate(prefix string) error {
	if err := firstErr(
		fractionErr(prefix+"Armijo", ls.Armijo),
		fractionErr(prefix+"Shrink", ls.Shrink),
	); err != nil {
		return err
	}
	if ls.MaxTrials < 0 {
		return &errs.ArgumentError{What: prefix + "MaxTrials", Value: ls.MaxTrials, Reason: "want ≥ 1 (0: the default, 31)"}
	}
	return nil
}

// Validate reports the first field outside its domain as an
// *errs.ArgumentError naming it.
func (ls LineSearch) Validate() error { return ls.validate("LineSearch.") }

// withDefaults returns ls with every zero field at its default, Shrink at
// shrink.
func (ls LineSearch) withDefaults(shrink float64) LineSearch {
	if ls.Armijo == 0 {
		ls.Armijo = DefaultArmijo
	}
	if ls.Shrink == 0 {
		ls.Shrink = shrink
	}
	if ls.MaxTrials == 0 {
		ls.MaxTrials = DefaultMaxTrials
	}
	return ls
}

// Search runs the line search from the loss loss0 with slope ⟨g, d⟩ < 0
// and first step size t0: lossAt(t) is the loss at w + t·d (+Inf, NaN or
// an error for a point outside the loss's domain, which fails the
// condition). Zero fields of ls take their defaults (Shrink 0.5); ls is
// taken as valid (Validate: the settings that hold one validate it).
func (ls LineSearch) Search(loss0, slope, t0 float64, lossAt func(t float64) (float64, error)) LineResult {
	ls = ls.withDefaults(DefaultShrink)
	res := LineResult{Loss: loss0}
	t := t0
	for res.Trials < ls.MaxTrials {
		res.Trials++
		l, err := lossAt(t)
		if err == nil && !math.IsNaN(l) && l <= loss0+ls.Armijo*t*slope {
			res.OK, res.T, res.Loss = true, t, l
			return res
		}
		t *= ls.Shrink
	}
	return res
}
