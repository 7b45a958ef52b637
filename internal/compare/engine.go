package compare

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
)

// Full is the scope of the whole Hessian, where a block index is asked.
const Full = -1

// Settings of an Engine. Defaults returns the command's; every field is
// checked by Validate (New calls it).
type Settings struct {
	// Steps are the finite-difference steps r of the "fd r=…" methods
	// (each > 0, finite): the perturbation r·v/‖v‖ has norm r.
	Steps []float64
	// CGTol (> 0), CGMaxIter (≥ 0; 0: solver's default, min(2n,
	// solver.DefaultCGMaxIter)) and CGMaxTime (> 0) bound InvHvCG.
	CGTol     float64
	CGMaxIter int
	CGMaxTime time.Duration
	// CGDamping λ ≥ 0: InvHvCG solves (H_ll + λI) u = v (0: undamped).
	CGDamping float64
	// ExactDamping λ ≥ 0: InvHvExact and InvHvDense solve
	// (H_ll + λ·h̃ᵀh̃ ⊗ I) u = v (per-sample route; 0: undamped).
	ExactDamping float64
	// DenseMax ≥ 0 is the largest parameter count of a dense matrix (block
	// or full); DenseMem (> 0, bytes) and DenseTime (> 0) cap each dense
	// build and, separately, each dense solve, estimated before it starts.
	DenseMax  int
	DenseMem  int64
	DenseTime time.Duration
	// Strict makes InvHvExact return the B-pass's refusal or failed check
	// as the entry's error; otherwise (the command) the result is computed
	// anyway and labelled "uncertified".
	Strict bool
	// Progress, if set, receives progress lines: one per entry of Run,
	// and at most one every two seconds inside long builds and solves.
	Progress io.Writer
}

// Defaults returns the settings of newtonia products without flags.
func Defaults() Settings {
	return Settings{Steps: []float64{1e-6, 1e-4}, CGTol: 1e-10, CGMaxTime: solver.DefaultCGMaxTime,
		DenseMax: 1024, DenseMem: reference.DefaultMaxBytes, DenseTime: reference.DefaultMaxTime}
}

// Validate returns an *errs.ArgumentError naming the first bad field
// ("Settings.CGTol"), or nil.
func (s Settings) Validate() error {
	bad := func(field string, v any, reason string) error {
		return &errs.ArgumentError{What: "Settings." + field, Value: v, Reason: reason}
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	for _, r := range s.Steps {
		if !(r > 0) || !finite(r) {
			return bad("Steps", r, "want finite steps > 0")
		}
	}
	switch {
	case !(s.CGTol > 0) || !finite(s.CGTol):
		return bad("CGTol", s.CGTol, "want a finite tolerance > 0")
	case s.CGMaxIter < 0:
		return bad("CGMaxIter", s.CGMaxIter, "want ≥ 0 (0: the default)")
	case s.CGMaxTime <= 0:
		return bad("CGMaxTime", s.CGMaxTime, "want > 0")
	case !(s.CGDamping >= 0) || !finite(s.CGDamping):
		return bad("CGDamping", s.CGDamping, "want a finite λ ≥ 0")
	case !(s.ExactDamping >= 0) || !finite(s.ExactDamping):
		return bad("ExactDamping", s.ExactDamping, "want a finite λ ≥ 0")
	case s.DenseMax < 0:
		return bad("DenseMax", s.DenseMax, "want ≥ 0")
	case s.DenseMem <= 0:
		return bad("DenseMem", s.DenseMem, "want > 0")
	case s.DenseTime <= 0:
		return bad("DenseTime", s.DenseTime, "want > 0")
	}
	return nil
}

// Stats counts the engine's dense work: each matrix is built at most once.
type Stats struct {
	DenseBuilds int // dense matrices whose build started (refusals by an estimate included)
	DenseSolves int // minimum-norm solves started
}

// Engine computes the products of one problem by every method.
type Engine struct {
	p     *hvp.Problem
	s     Settings
	cache *cache // shared with Damped copies
}

// cache holds each dense matrix built, by scope and kind, and the stats.
type cache struct {
	m     map[matrixKey]*matrix
	stats Stats
}

type matrixKey struct {
	scope int
	fd    bool
}

// matrix is a built dense matrix, or why there is none: err for the entry
// that tried, later for every entry after.
type matrix struct {
	h          *mat.Dense
	err, later error
}

// New returns an engine for p with settings s (checked by Validate).
func New(p *hvp.Problem, s Settings) (*Engine, error) {
	if p == nil {
		return nil, &errs.ArgumentError{What: "compare.New problem", Value: nil, Reason: "want an *hvp.Problem"}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Engine{p: p, s: s, cache: &cache{m: map[matrixKey]*matrix{}}}, nil
}

// Damped returns an engine with ExactDamping λ sharing e's dense matrices
// (the damped operator is formed from them, reference.Damp).
func (e *Engine) Damped(lambda float64) (*Engine, error) {
	s := e.s
	s.ExactDamping = lambda
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Engine{p: e.p, s: s, cache: e.cache}, nil
}

// Stats returns the dense work done so far (shared with Damped copies).
func (e *Engine) Stats() Stats { return e.cache.stats }

// SkippedError is a product a setting excludes. It unwraps to an
// *errs.LimitError where the setting is a cap (DenseMax).
type SkippedError struct {
	Setting string // the Settings field, e.g. "DenseMax"
	Reason  string
	Limit   *errs.LimitError
}

func (e *SkippedError) Error() string { return "skipped: " + e.Reason }
func (e *SkippedError) Unwrap() error {
	if e.Limit == nil {
		return nil
	}
	return e.Limit
}

// size returns the parameter count of a scope and its name ("full" or the
// block's), or an *errs.ArgumentError for a block index out of range.
func (e *Engine) size(scope int) (int, string, error) {
	if scope == Full {
		return e.p.Layout().Len(), "full", nil
	}
	if scope < 0 || scope >= e.p.Blocks() {
		return 0, "", &errs.ArgumentError{What: "block", Value: scope, Reason: fmt.Sprintf("want 0 to %d, or compare.Full", e.p.Blocks()-1)}
	}
	b := e.p.Block(scope)
	return b.Layout().Len(), b.Name(), nil
}

// matrix returns the dense matrix of scope (R-pass columns, or finite
// differences if fd), building it on first use within DenseMax and the
// dense limits; by names the product asking, for the error of later ones.
func (e *Engine) matrix(scope int, fd bool, by string) (*mat.Dense, error) {
	key := matrixKey{scope, fd}
	if m, ok := e.cache.m[key]; ok {
		return m.h, m.later
	}
	n, name, err := e.size(scope)
	if err != nil {
		return nil, err
	}
	label := map[bool]string{false: "dense", true: "dense-fd"}[fd]
	m := &matrix{later: fmt.Errorf("no %s block (see its %s entry)", label, by)}
	e.cache.m[key] = m
	if n > e.s.DenseMax {
		m.err = &SkippedError{Setting: "DenseMax", Reason: fmt.Sprintf("%d parameters > -dense-max %d", n, e.s.DenseMax),
			Limit: &errs.LimitError{What: "dense " + name, Resource: "parameters", Estimate: float64(n), Limit: float64(e.s.DenseMax)}}
		return nil, m.err
	}
	tick := e.every(name + " " + label)
	lim := &reference.Limits{MaxBytes: e.s.DenseMem, MaxTime: e.s.DenseTime, Progress: func(d, t int) { tick(d, t, " columns") }}
	e.cache.stats.DenseBuilds++
	switch {
	case scope == Full && fd:
		m.h, m.err = reference.DenseHessianFD(e.p, 0, lim)
	case scope == Full:
		m.h, m.err = reference.DenseHessian(e.p, lim)
	case fd:
		m.h, m.err = reference.DenseBlockFD(e.p, scope, 0, lim)
	default:
		m.h, m.err = reference.DenseBlock(e.p, scope, lim)
	}
	if m.err == nil {
		m.later = nil
	}
	return m.h, m.err
}

// every returns a progress reporter for long steps: at most one line
// every two seconds.
func (e *Engine) every(what string) func(done, total int, extra string) {
	last := time.Now()
	return func(done, total int, extra string) {
		if e.s.Progress == nil || time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(e.s.Progress, "    %s: %d/%d%s\n", what, done, total, extra)
	}
}
