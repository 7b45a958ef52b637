package solver

import (
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
)

// NoDamping, given as any damping field of this package's settings
// (DampedNewtonSettings.LMDamping, BlockNewtonSettings.LMDamping,
// HFSettings.Tikhonov, KFACSettings.FactorDamping, CGOptions.Tikhonov and
// the CG fallbacks' CG.Tikhonov), turns that damping off: the computation
// is undamped, λ = 0 at every step and never adapted. Zero keeps its
// meaning of "the default", which for some fields is a damping > 0 (each
// field says). Every other negative, NaN or infinite damping is an
// *errs.ArgumentError. NoDamping is kept as one named "off" rather than a
// per-field switch so that a damping is one number everywhere; its value,
// the most negative float64, is no damping anyone means.
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

// checksErr checks the hvp.Options of a Newton method's settings.
func checksErr(prefix string, o hvp.Options) error {
	switch {
	case o.Tol != 0 && !(o.Tol > 0) || math.IsInf(o.Tol, 0):
		return &errs.ArgumentError{What: prefix + "Checks.Tol", Value: o.Tol, Reason: "want a finite value > 0 (0: the default)"}
	case o.MaxCond != 0 && !(o.MaxCond >= 1):
		return &errs.ArgumentError{What: prefix + "Checks.MaxCond", Value: o.MaxCond, Reason: "want a condition limit ≥ 1 (0: the default)"}
	case o.Damping != 0:
		return &errs.ArgumentError{What: prefix + "Checks.Damping", Value: o.Damping, Reason: "set " + prefix + "LMDamping: it is the damping of the block steps"}
	}
	return nil
}

func fallbackErr(what string, f Fallback) error {
	if f < FallbackCG || f > FallbackGradient {
		return &errs.ArgumentError{What: what, Value: f, Reason: "want FallbackCG or FallbackGradient"}
	}
	return nil
}

func maxRadiusErr(what string, r float64) error {
	if !(r >= 0) { // +Inf: no cap
		return &errs.ArgumentError{What: what, Value: r, Reason: "want a radius > 0 (0: the default)"}
	}
	return nil
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; NewDampedNewton, New and Method
// call it.
func (s DampedNewtonSettings) Validate() error {
	const p = "DampedNewtonSettings."
	return firstErr(
		dampingErr(p+"LMDamping", s.LMDamping),
		positiveErr(p+"Radius", s.Radius),
		maxRadiusErr(p+"MaxRadius", s.MaxRadius),
		s.LineSearch.validate(p+"LineSearch."),
		fallbackErr(p+"Fallback", s.Fallback),
		s.CG.validate(p+"CG."),
		positiveErr(p+"LearnRate", s.LearnRate),
		checksErr(p, s.Checks),
	)
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; NewBlockNewton and New call it.
func (s BlockNewtonSettings) Validate() error {
	const p = "BlockNewtonSettings."
	if s.Combine < CombineSubspace || s.Combine > CombineCyclic {
		return &errs.ArgumentError{What: p + "Combine", Value: s.Combine, Reason: "want CombineSubspace, CombineSum or CombineCyclic"}
	}
	if s.Degree < 0 || s.Degree > 2 {
		return &errs.ArgumentError{What: p + "Degree", Value: s.Degree, Reason: "want 0 or 1 (Newton) or 2 (Halley; Chebyshev with BlockNewtonSettings.Chebyshev); degree 3 needs fourth derivatives, which the ops do not give"}
	}
	return firstErr(
		dampingErr(p+"LMDamping", s.LMDamping),
		positiveErr(p+"MaxStep", s.MaxStep),
		positiveErr(p+"Radius", s.Radius),
		maxRadiusErr(p+"MaxRadius", s.MaxRadius),
		s.LineSearch.validate(p+"LineSearch."),
		fallbackErr(p+"Fallback", s.Fallback),
		s.CG.validate(p+"CG."),
		positiveErr(p+"LearnRate", s.LearnRate),
		checksErr(p, s.Checks),
	)
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; NewHF and New call it.
func (s HFSettings) Validate() error {
	if err := firstErr(
		dampingErr("HFSettings.Tikhonov", s.Tikhonov),
		countErr("HFSettings.MaxCG", s.MaxCG),
		s.LineSearch.validate("HFSettings.LineSearch."),
	); err != nil {
		return err
	}
	if s.Decay != 0 && !(s.Decay > 0 && s.Decay <= 1) {
		return &errs.ArgumentError{What: "HFSettings.Decay", Value: s.Decay, Reason: "want 0 < Decay ≤ 1 (0: the default)"}
	}
	return nil
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; NewKFAC and New call it.
func (s KFACSettings) Validate() error {
	if err := firstErr(
		dampingErr("KFACSettings.FactorDamping", s.FactorDamping),
		countErr("KFACSettings.Refresh", s.Refresh),
		countErr("KFACSettings.StatsEvery", s.StatsEvery),
		countErr("KFACSettings.StatsSamples", s.StatsSamples),
		positiveErr("KFACSettings.LearnRate", s.LearnRate),
	); err != nil {
		return err
	}
	switch {
	case !(s.Decay >= 0 && s.Decay < 1):
		return &errs.ArgumentError{What: "KFACSettings.Decay", Value: s.Decay, Reason: "want 0 ≤ Decay < 1 (0: the default)"}
	case !(s.MaxRadius >= 0): // +Inf: no cap
		return &errs.ArgumentError{What: "KFACSettings.MaxRadius", Value: s.MaxRadius, Reason: "want a radius ≥ 0 (0: no cap)"}
	case s.Momentum && s.LearnRate > 0:
		return &errs.ArgumentError{What: "KFACSettings.LearnRate", Value: s.LearnRate,
			Reason: "a fixed step length cannot be combined with KFACSettings.Momentum, whose (α, β) the Gauss–Newton model sets; set one of them"}
	}
	return nil
}

// Validate reports the first option outside its domain as an
// *errs.ArgumentError naming the field; the solves call it.
func (o CGOptions) Validate() error { return o.validate("CGOptions.") }

func (o CGOptions) validate(prefix string) error {
	switch {
	case o.Tikhonov != NoDamping && !(o.Tikhonov >= 0) || math.IsInf(o.Tikhonov, 0):
		return &errs.ArgumentError{What: prefix + "Tikhonov", Value: o.Tikhonov, Reason: "want a finite λ ≥ 0, or solver.NoDamping for none"}
	case o.Tol != 0 && !(o.Tol > 0) || math.IsInf(o.Tol, 0):
		return &errs.ArgumentError{What: prefix + "Tol", Value: o.Tol, Reason: "want a finite tolerance > 0 (0: the default)"}
	case o.MaxIter < 0:
		return &errs.ArgumentError{What: prefix + "MaxIter", Value: o.MaxIter, Reason: "want ≥ 0 (0: the default)"}
	case o.MaxTime < 0:
		return &errs.ArgumentError{What: prefix + "MaxTime", Value: o.MaxTime, Reason: "want ≥ 0 (0: the default)"}
	}
	return nil
}

// cgTikhonov is the λ a CGOptions.Tikhonov stands for (NoDamping: 0).
func cgTikhonov(o *CGOptions) float64 {
	if o == nil || o.Tikhonov == NoDamping {
		return 0
	}
	return o.Tikhonov
}
