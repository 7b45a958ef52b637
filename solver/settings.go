package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
)

// NoDamping, given as any damping of this package's settings
// (NewtonSettings.Damping and its synonym Checks.Damping,
// NewtonSettings.CG.Damping, HFSettings.Damping, KFACSettings.Damping,
// CGOptions.Damping), turns that damping off: the computation is undamped,
// λ = 0 at every step and never adapted. Zero keeps its meaning of "the
// default", which for some fields is a damping > 0 (each field says).
// Every other negative, NaN or infinite damping is an *errs.ArgumentError.
// (Its value, the most negative float64, is no damping anyone means.)
const NoDamping = -math.MaxFloat64

// dampingErr checks a damping field: 0 (the default), NoDamping, or a
// finite λ > 0.
func dampingErr(what string, v float64) error {
	if v == 0 || v == NoDamping || v > 0 && !math.IsInf(v, 1) {
		return nil
	}
	return &errs.ArgumentError{What: what, Value: v, Reason: "want a finite λ > 0, 0 for the default, or solver.NoDamping for none"}
}

// positiveErr checks a field whose zero means its default and whose other
// values must be finite and > 0.
func positiveErr(what string, v float64) error {
	if v == 0 || v > 0 && !math.IsInf(v, 1) {
		return nil
	}
	return &errs.ArgumentError{What: what, Value: v, Reason: "want a finite value > 0 (0: the default)"}
}

// fractionErr checks a field whose zero means its default and whose other
// values must lie in (0, 1).
func fractionErr(what string, v float64) error {
	if v == 0 || v > 0 && v < 1 {
		return nil
	}
	return &errs.ArgumentError{What: what, Value: v, Reason: "want 0 < value < 1 (0: the default)"}
}

// countErr checks a count whose zero means its default.
func countErr(what string, v int) error {
	if v >= 0 {
		return nil
	}
	return &errs.ArgumentError{What: what, Value: v, Reason: "want ≥ 0 (0: the default)"}
}

// firstErr returns the first non-nil error.
func firstErr(es ...error) error {
	for _, e := range es {
		if e != nil {
			return e
		}
	}
	return nil
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; Newton.Iterate and Method call it.
func (s NewtonSettings) Validate() error {
	if err := firstErr(
		dampingErr("NewtonSettings.Damping", s.Damping),
		positiveErr("NewtonSettings.MaxStep", s.MaxStep),
		fractionErr("NewtonSettings.Shrink", s.Shrink),
		fractionErr("NewtonSettings.Armijo", s.Armijo),
		countErr("NewtonSettings.MaxBacktracks", s.MaxBacktracks),
		positiveErr("NewtonSettings.Radius", s.Radius),
		positiveErr("NewtonSettings.LearnRate", s.LearnRate),
		s.CG.validate("NewtonSettings.CG."),
		positiveErr("NewtonSettings.Checks.Tol", s.Checks.Tol),
		dampingErr("NewtonSettings.Checks.Damping", s.Checks.Damping),
	); err != nil {
		return err
	}
	switch {
	case s.Combine < CombineBest || s.Combine > CombineCyclic:
		return &errs.ArgumentError{What: "NewtonSettings.Combine", Value: s.Combine, Reason: "want CombineBest, CombineSubspace, CombineSum or CombineCyclic"}
	case s.Fallback < FallbackCG || s.Fallback > FallbackGradient:
		return &errs.ArgumentError{What: "NewtonSettings.Fallback", Value: s.Fallback, Reason: "want FallbackCG or FallbackGradient"}
	case !(s.MaxRadius >= 0): // +Inf: no cap
		return &errs.ArgumentError{What: "NewtonSettings.MaxRadius", Value: s.MaxRadius, Reason: "want a radius > 0 (0: the default)"}
	case s.Checks.MaxCond != 0 && !(s.Checks.MaxCond >= 1):
		return &errs.ArgumentError{What: "NewtonSettings.Checks.MaxCond", Value: s.Checks.MaxCond, Reason: "want a condition limit ≥ 1 (0: the default)"}
	case s.Damping != 0 && s.Checks.Damping != 0 && s.Damping != s.Checks.Damping:
		return &errs.ArgumentError{What: "NewtonSettings.Checks.Damping", Value: s.Checks.Damping,
			Reason: fmt.Sprintf("differs from NewtonSettings.Damping = %g: Checks.Damping is its synonym, set one of them", s.Damping)}
	}
	return nil
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; HF.Iterate calls it.
func (s HFSettings) Validate() error {
	if err := firstErr(
		dampingErr("HFSettings.Damping", s.Damping),
		countErr("HFSettings.MaxCG", s.MaxCG),
		fractionErr("HFSettings.Armijo", s.Armijo),
		countErr("HFSettings.MaxBacktracks", s.MaxBacktracks),
	); err != nil {
		return err
	}
	if s.Decay != 0 && !(s.Decay > 0 && s.Decay <= 1) {
		return &errs.ArgumentError{What: "HFSettings.Decay", Value: s.Decay, Reason: "want 0 < Decay ≤ 1 (0: the default)"}
	}
	return nil
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; KFAC.Iterate calls it.
func (s KFACSettings) Validate() error {
	if err := firstErr(
		dampingErr("KFACSettings.Damping", s.Damping),
		countErr("KFACSettings.Refresh", s.Refresh),
	); err != nil {
		return err
	}
	switch {
	case !(s.Decay >= 0 && s.Decay < 1):
		return &errs.ArgumentError{What: "KFACSettings.Decay", Value: s.Decay, Reason: "want 0 ≤ Decay < 1 (0: the default)"}
	case !(s.MaxRadius >= 0): // +Inf: no cap
		return &errs.ArgumentError{What: "KFACSettings.MaxRadius", Value: s.MaxRadius, Reason: "want a radius ≥ 0 (0: no cap)"}
	}
	return nil
}

// Validate reports the first option outside its domain as an
// *errs.ArgumentError naming the field; the solves call it.
func (o CGOptions) Validate() error { return o.validate("CGOptions.") }

func (o CGOptions) validate(prefix string) error {
	switch {
	case o.Damping != NoDamping && !(o.Damping >= 0) || math.IsInf(o.Damping, 0):
		return &errs.ArgumentError{What: prefix + "Damping", Value: o.Damping, Reason: "want a finite λ ≥ 0, or solver.NoDamping for none"}
	case o.Tol != 0 && !(o.Tol > 0) || math.IsInf(o.Tol, 0):
		return &errs.ArgumentError{What: prefix + "Tol", Value: o.Tol, Reason: "want a finite tolerance > 0 (0: the default)"}
	case o.MaxIter < 0:
		return &errs.ArgumentError{What: prefix + "MaxIter", Value: o.MaxIter, Reason: "want ≥ 0 (0: the default)"}
	case o.MaxTime < 0:
		return &errs.ArgumentError{What: prefix + "MaxTime", Value: o.MaxTime, Reason: "want ≥ 0 (0: the default)"}
	}
	return nil
}

// cgDamping is the λ a CGOptions.Damping stands for (NoDamping: 0).
func cgDamping(o *CGOptions) float64 {
	if o == nil || o.Damping == NoDamping {
		return 0
	}
	return o.Damping
}
