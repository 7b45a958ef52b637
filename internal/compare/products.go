package compare

import (
	"errors"
	"fmt"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
)

// Method names of the entries: the file name's middle part of the
// command's results. FD gives "fd r=…".
const (
	Exact       = "exact"       // an exact result; for InvHv only a certified exact or pseudo-inverse one
	NewtonOnly  = "newton-only" // a certified solution of H u = v that is not H⁺v
	Uncertified = "uncertified" // a B-pass refused before running or that failed its checks, computed anyway
	CG          = "cg"
	Dense       = "dense"    // from a dense matrix of exact R-pass columns
	DenseFD     = "dense-fd" // from a dense matrix of finite differences
)

// FD is the method name of finite differences with step r.
func FD(r float64) string { return fmt.Sprintf("fd r=%g", r) }

// source is what computed an entry, apart from its label.
type source int

const (
	srcExact source = iota
	srcFD
	srcCG
	srcDense
	srcDenseFD
)

// Entry is one product by one method.
type Entry struct {
	Block   string `json:"block"`   // a block's weights (e.g. "W1+b1"), or "full" for the whole Hessian
	Product string `json:"product"` // "Hv" or "InvHv"
	// Method names how the value was computed (the constants above, or
	// FD(r)); the note says more, e.g. where the dense solve is the
	// block's result.
	Method       string   `json:"method"`
	Files        []string `json:"files,omitempty"` // filled by the command when written
	RelToDense   *float64 `json:"rel_to_dense,omitempty"`
	RelToExact   *float64 `json:"rel_to_exact,omitempty"`
	Residual     *float64 `json:"residual,omitempty"` // InvHv: ‖H_ll u − v‖/‖v‖ with the exact Hv
	Kind         string   `json:"kind,omitempty"`
	Certified    *bool    `json:"certified,omitempty"`
	Seconds      float64  `json:"seconds"`
	CGIterations *int     `json:"cg_iterations,omitempty"`
	Capped       string   `json:"capped,omitempty"` // the cap that stopped the method: "iterations", "time"
	Note         string   `json:"note,omitempty"`
	Error        string   `json:"error,omitempty"` // why this product has no value

	src     source
	scope   int
	value   *params.Vector      // of the block's layout, or the whole problem's for Full
	err     error               // Error's error
	res     *hvp.Result         // of the B-pass, FD or CG
	sol     *reference.Solution // of a dense InvHv
	fatal   bool                // an exact Hv failed
	result  bool                // a dense solve that is its block's result
	stopped string              // why CG stopped
	outcome string              // of an uncertified B-pass, for stderr
}

// Value returns the entry's result, nil if it has none.
func (e *Entry) Value() *params.Vector { return e.value }

// Err returns why the entry has no value (nil if it has one).
func (e *Entry) Err() error { return e.err }

// Result returns the hvp.Result of an InvHv by the B-pass, finite
// differences or CG; nil otherwise.
func (e *Entry) Result() *hvp.Result { return e.res }

// Solution returns the dense solve of a dense InvHv; nil otherwise.
func (e *Entry) Solution() *reference.Solution { return e.sol }

// Stopped returns why an InvHv by CG stopped ("" for other methods).
func (e *Entry) Stopped() string { return e.stopped }

// BlockResult reports whether the entry is the dense solve that is its
// block's result, the B-pass having given no certified one (Run).
func (e *Entry) BlockResult() bool { return e.result }

// run makes the entry of one product by one method: it times run, turns a
// panic into the entry's error and marks a cap that stopped it.
func (e *Engine) run(scope int, product, method string, src source, run func(x *Entry) error) *Entry {
	x := &Entry{Product: product, Method: method, src: src, scope: scope}
	t0 := time.Now()
	err := func() (err error) {
		_, name, err := e.size(scope)
		if err != nil {
			return err
		}
		x.Block = name
		defer errs.Recover(name+" "+product+" "+method, &err)
		return run(x)
	}()
	if err != nil {
		x.value, x.err, x.Error = nil, err, err.Error()
		var le *errs.LimitError
		if errors.As(err, &le) && le.Reached {
			x.Capped = le.Resource
		}
	}
	x.Seconds = time.Since(t0).Seconds()
	return x
}

// HvExact is H v (scope Full) or H_ll v (a block) by the exact R-pass.
func (e *Engine) HvExact(scope int, v *params.Vector) *Entry {
	return e.run(scope, "Hv", Exact, srcExact, func(x *Entry) (err error) {
		if scope == Full {
			x.value, err = e.p.Hv(v)
		} else {
			x.value, err = e.p.Block(scope).Hv(v)
		}
		x.fatal = err != nil
		return err
	})
}

// HvFD is the product by central differences of the gradient, with step r.
func (e *Engine) HvFD(scope int, v *params.Vector, r float64) *Entry {
	return e.run(scope, "Hv", FD(r), srcFD, func(x *Entry) (err error) {
		if scope == Full {
			x.value, err = reference.HvFD(e.p, v, r)
			return err
		}
		full := params.New(e.p.Layout())
		full.Block(scope).CopyFrom(v)
		hv, err := reference.HvFD(e.p, full, r)
		if err == nil {
			x.value = hv.Block(scope).Clone()
		}
		x.Note = "central differences of the gradient, perturbation of norm r"
		return err
	})
}

// HvDense is the product of the scope's dense matrix with v: the matrix
// of exact R-pass columns, or of finite differences if fd.
func (e *Engine) HvDense(scope int, v *params.Vector, fd bool) *Entry {
	method, src := denseMethod(fd)
	return e.run(scope, "Hv", method, src, func(x *Entry) error {
		if err := e.direction(scope, x.Block, v); err != nil {
			return err
		}
		h, err := e.matrix(scope, fd, "Hv")
		if err != nil {
			return err
		}
		x.value = matVec(h, v)
		switch {
		case scope == Full && fd:
			x.Note = "central differences of the gradient, Richardson-extrapolated: O(r⁴) truncation"
		case scope == Full:
			x.Note = "dense Hessian of exact R-pass columns"
		case fd:
			x.Note = "dense block of Richardson-extrapolated central differences of the gradient"
		default:
			x.Note = "dense block of exact R-pass columns"
		}
		return nil
	})
}

// direction returns an *errs.ShapeError unless v has the layout of the
// scope (the products by the R-pass, B-pass and finite differences check
// theirs).
func (e *Engine) direction(scope int, name string, v *params.Vector) error {
	want := e.p.Layout()
	if scope != Full {
		want = e.p.Block(scope).Layout()
	}
	if v == nil || !params.Same(v.Layout(), want) {
		return &errs.ShapeError{What: "direction of " + name, Reason: fmt.Sprintf("want the layout %v", want)}
	}
	return nil
}

func denseMethod(fd bool) (string, source) {
	if fd {
		return DenseFD, srcDenseFD
	}
	return Dense, srcDense
}

// What a refusal before running means, and only that.
const (
	refusedBPass = "B-pass was refused before running (the conditions report says why: no op-by-op inverse on its route, " +
		"or a per-sample route that needs batch ≤ fan-in)"
	saysNothing = "the refusal says nothing of H_ll, which may be invertible"
)

// InvHvExact is block l's B-pass, damped by ExactDamping. Its Method is
// Exact only for a certified exact or pseudo-inverse result, NewtonOnly
// for a certified Newton-only one, Uncertified otherwise (with Strict, a
// refused or failed B-pass is the entry's error).
func (e *Engine) InvHvExact(l int, v *params.Vector) *Entry {
	return e.run(l, "InvHv", Exact, srcExact, func(x *Entry) error {
		if l == Full {
			return errFullInverse
		}
		res, err := e.p.Block(l).InvHv(v, &hvp.Options{BestEffort: !e.s.Strict, Damping: e.s.ExactDamping})
		if err != nil {
			x.Method = Uncertified
			return err
		}
		fill(x, res)
		note := fmt.Sprintf("%s route", res.Method)
		if res.Damping > 0 {
			note += fmt.Sprintf(", damped: (H + %g·h̃ᵀh̃ ⊗ I)⁻¹v", res.Damping)
		}
		switch {
		case res.Kind == hvp.KindRefused:
			x.Method = Uncertified
			note += "; " + refusedBPass + " and computed anyway for comparison: not an inverse product; " + saysNothing
		case !res.Certified:
			x.Method = Uncertified
			note += "; a B-pass that failed its checks (best effort): not an inverse product"
		case res.Kind == hvp.KindNewtonOnly:
			x.Method = NewtonOnly
			note += "; a solution of H u = v, not H⁺v (Newton-only block)"
		case res.Kind != hvp.KindExact && res.Kind != hvp.KindPseudoInverse:
			x.Method = Uncertified
		}
		x.Note = note
		return nil
	})
}

var errFullInverse = &errs.ArgumentError{What: "scope", Value: "full", Reason: "the inverse products are per block"}

// InvHvFD is block l's inverse product by central differences of the
// functional inverse, with step r (undamped: skipped with ExactDamping).
func (e *Engine) InvHvFD(l int, v *params.Vector, r float64) *Entry {
	return e.run(l, "InvHv", FD(r), srcFD, func(x *Entry) error {
		switch {
		case l == Full:
			return errFullInverse
		case e.s.ExactDamping > 0:
			return &SkippedError{Setting: "ExactDamping", Reason: "finite differences of the functional inverse are undamped (-exact-damping)"}
		}
		res, err := reference.InvHvFD(e.p, l, v, r, &hvp.Options{BestEffort: true})
		if err == nil {
			fill(x, res)
		}
		return err
	})
}

// InvHvCG is block l's solve by conjugate gradients within the CG
// settings; a solve stopped by a cap keeps its value, marked Capped.
func (e *Engine) InvHvCG(l int, v *params.Vector) *Entry {
	return e.run(l, "InvHv", CG, srcCG, func(x *Entry) error {
		if l == Full {
			return errFullInverse
		}
		tick := e.every(x.Block + " InvHv cg")
		res, err := solver.InvHvCG(e.p, l, v, &solver.CGOptions{Tol: e.s.CGTol, MaxIter: e.s.CGMaxIter, MaxTime: e.s.CGMaxTime, Tikhonov: e.s.CGDamping,
			Progress: func(i int, r float64) { tick(i, 0, fmt.Sprintf(" iterations, residual %.2g", r)) }})
		if res == nil {
			return err
		}
		fill(x, res.Result)
		it := res.CG.Iterations
		x.CGIterations, x.Capped, x.stopped = &it, res.CG.Capped, res.CG.Reason
		if !res.CG.Converged {
			x.Note = "not converged: " + res.CG.Reason
		}
		return nil
	})
}

// InvHvDense is the minimum-norm solve of block l's dense matrix (exact
// R-pass columns, or finite differences if fd), damped by ExactDamping,
// refused before it starts above DenseMem or DenseTime.
func (e *Engine) InvHvDense(l int, v *params.Vector, fd bool) *Entry {
	method, src := denseMethod(fd)
	return e.run(l, "InvHv", method, src, func(x *Entry) error {
		if l == Full {
			return errFullInverse
		}
		if err := e.direction(l, x.Block, v); err != nil {
			return err
		}
		h, err := e.matrix(l, fd, "InvHv")
		if err != nil {
			return err
		}
		if e.s.ExactDamping > 0 {
			if h, err = reference.Damp(e.p, l, h, e.s.ExactDamping); err != nil {
				return err
			}
		}
		n, _ := h.Dims()
		e.cache.stats.DenseSolves++
		sol, err := reference.MinNormSolveWithin(h, append([]float64(nil), v.Flat()...), fmt.Sprintf("%s solve of block %s (-dense-time, -dense-mem)", method, x.Block),
			&reference.Limits{MaxBytes: e.s.DenseMem, MaxTime: e.s.DenseTime, Busy: func(el, est time.Duration) {
				if e.s.Progress != nil {
					fmt.Fprintf(e.s.Progress, "    %s InvHv %s: factorising the %d×%d matrix, %.0f s of about %.0f s\n", x.Block, method, n, n, el.Seconds(), est.Seconds())
				}
			}})
		if err != nil {
			return err
		}
		b := e.p.Block(l)
		x.sol = &sol
		x.value, x.Note = params.FromFlat(b.Layout(), sol.U), sol.String()
		if hu, err := b.Hv(x.value); err == nil && e.s.ExactDamping == 0 {
			r := params.RelDiff(hu, v)
			x.Residual = &r
		}
		return nil
	})
}

func fill(x *Entry, res *hvp.Result) {
	x.value, x.res = res.U, res
	r, c := res.Residual, res.Certified
	x.Residual, x.Certified, x.Kind = &r, &c, res.Kind.String()
	if res.Note != "" {
		x.Note = res.Note
	}
}

// matVec returns h v, of v's layout (h is n×n for v's n values).
func matVec(h *mat.Dense, v *params.Vector) *params.Vector {
	n, _ := h.Dims()
	var y mat.VecDense
	y.MulVec(h, mat.NewVecDense(n, append([]float64(nil), v.Flat()...)))
	return params.FromFlat(v.Layout(), y.RawVector().Data)
}
