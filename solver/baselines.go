package solver

import (
	"fmt"
	"math"
	"slices"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GorgoniaSettings configure sgd and adam, Gorgonia's VanillaSolver and
// AdamSolver (their updates, computed as they compute them and fused in
// place) on newtonia's gradients. Every zero value means
// the default beside it.
type GorgoniaSettings struct {
	LearnRate float64 // (0: 0.01 for sgd, 1e-3 for adam)
	// BatchSize divides the gradient, as Gorgonia's WithBatchSize (0: 1,
	// right for a loss that averages over its rows; a loss summed over B
	// rows wants B).
	BatchSize float64
}

func (s GorgoniaSettings) withDefaults(name string) GorgoniaSettings {
	if s.LearnRate == 0 {
		s.LearnRate = map[string]float64{"sgd": 0.01, "adam": 1e-3}[name]
	}
	if s.BatchSize == 0 {
		s.BatchSize = 1
	}
	return s
}

// Validate reports the first setting outside its domain as an
// *errs.ArgumentError naming the field; New calls it.
func (s GorgoniaSettings) Validate() error {
	return firstErr(positiveErr("GorgoniaSettings.LearnRate", s.LearnRate), positiveErr("GorgoniaSettings.BatchSize", s.BatchSize))
}

// gorgoniaOpt is sgd or adam: Gorgonia's VanillaSolver and AdamSolver
// updates (v0.9.18, without their unused regularisers and clipping),
// computed as they compute them — the same operations in the same order,
// in the weights' dtype — so the weights are bit for bit theirs (tested
// against them), but fused into one loop over each weight's values, in
// place, with no tensors allocated. (Gorgonia's Adam clones the gradient
// four times per weight and step: on the 784-256-256-10 MNIST net that
// was more time than the gradient; docs/benchmarks.md.) A scalar weight
// (a *gorgonia.F64 or F32 value) is bound anew after its update.
type gorgoniaOpt struct {
	meter
	name  string
	s     GorgoniaSettings
	ws    []*G.Node
	state []any // per weight, adam's moments: *moments[float32] or [float64]
	steps int
}

func newGorgonia(name string, p *hvp.Problem, s GorgoniaSettings) (Optimizer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	o := &gorgoniaOpt{meter: newMeter(p), name: name, s: s.withDefaults(name), ws: p.Weights()}
	o.state = make([]any, len(o.ws))
	return o, nil
}

func (o *gorgoniaOpt) Name() string { return o.name }

// Step: LossAfter is NaN (the method does not measure it: the next step's
// LossBefore, on the next batch, is the loss it sees); StepSize is 1, the
// update being the solver's direction.
func (o *gorgoniaOpt) Step() (rec *Step, err error) {
	defer errs.Recover("solver."+o.name+".Step", &err)
	st := o.startNoCopy()
	loss, g, err := o.p.Gradient()
	if err != nil {
		return nil, err
	}
	for k := range o.ws { // every weight checked before any is updated
		if err := o.check(k, len(g.Weight(k))); err != nil {
			return nil, err
		}
	}
	o.steps++ // Gorgonia's iteration count: 1 at the first step
	var sq float64
	for k, w := range o.ws {
		switch v := w.Value().(type) {
		case *tensor.Dense:
			if v.Dtype() == tensor.Float64 {
				sq += update(o, k, v.Float64s(), g.Weight(k))
			} else {
				sq += update(o, k, v.Float32s(), g.Weight(k))
			}
		case *G.F64:
			x := []float64{float64(*v)}
			sq += update(o, k, x, g.Weight(k))
			err = G.Let(w, G.NewF64(x[0]))
		case *G.F32:
			x := []float32{float32(*v)}
			sq += update(o, k, x, g.Weight(k))
			err = G.Let(w, G.NewF32(x[0]))
		}
		if err != nil {
			return nil, err
		}
	}
	rec = &Step{Iter: o.steps - 1, LossBefore: loss, LossAfter: math.NaN(), StepSize: 1}
	return st.finishNorm(rec, math.Sqrt(sq)), nil
}

// float is a weight's dtype.
type float interface{ float32 | float64 }

// moments are Adam's running means of a weight's gradients and of their
// squares, in its dtype.
type moments[T float] struct{ m, v []T }

// check says why weight k's value cannot take an update of n values, if
// it cannot: a float64 or float32 tensor of n values, or a scalar (n = 1).
func (o *gorgoniaOpt) check(k, n int) error {
	w := o.ws[k]
	size := 1
	switch v := w.Value().(type) {
	case *tensor.Dense:
		if dt := v.Dtype(); dt != tensor.Float64 && dt != tensor.Float32 {
			return &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("dtype %v: want float64 or float32", dt)}
		}
		size = v.DataSize()
	case *G.F64, *G.F32:
	default:
		return &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("no tensor value (got %T)", w.Value())}
	}
	if size != n {
		return &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("%d values for a gradient of %d", size, n)}
	}
	return nil
}

// update applies step o.steps of o to weight k's values w (in place) with
// its gradient g (of w's length: check), and returns Σ(Δw)² in float64.
func update[T float](o *gorgoniaOpt, k int, w []T, g []float64) float64 {
	s := o.s
	onePerBatch, scale := T(1)/T(s.BatchSize), s.BatchSize > 1
	negEta := -T(s.LearnRate)
	if o.name == "sgd" {
		return sgdUpdate(w, g, negEta, onePerBatch, scale)
	}
	st, _ := o.state[k].(*moments[T])
	if st == nil {
		st = &moments[T]{m: make([]T, len(w)), v: make([]T, len(w))}
		o.state[k] = st
	}
	// Gorgonia's constants, as it computes them (corrections in float64).
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	c1 := T(1) / T(1-math.Pow(beta1, float64(o.steps)))
	c2 := T(1) / T(1-math.Pow(beta2, float64(o.steps)))
	return adamUpdate(w, g, st.m, st.v, adamConsts[T]{T(beta1), T(beta2), T(1) - T(beta1), T(1) - T(beta2), T(eps), negEta, onePerBatch, c1, c2}, scale)
}

// sgdUpdate is VanillaSolver's w += −η·(g/B), the division as a product
// by 1/B done only when B > 1.
func sgdUpdate[T float](w []T, g []float64, negEta, onePerBatch T, scale bool) (sq float64) {
	for i, gi := range g {
		x := T(gi)
		if scale {
			x *= onePerBatch
		}
		x *= negEta
		old := w[i]
		w[i] += x
		d := float64(w[i]) - float64(old)
		sq += d * d
	}
	return sq
}

type adamConsts[T float] struct{ b1, b2, omb1, omb2, eps, negEta, onePerBatch, c1, c2 T }

// adamUpdate is AdamSolver's update of one weight, element by element in
// its order of tensor operations: g/B; m ← β₁m + (1−β₁)g; v ← β₂v +
// (1−β₂)g²; w += (−η·m·c₁) / (√(v·c₂) + ε), c_i = 1/(1−β_iᵗ).
func adamUpdate[T float](w []T, g []float64, m, v []T, c adamConsts[T], scale bool) (sq float64) {
	for i, gi := range g {
		x := T(gi)
		if scale {
			x *= c.onePerBatch
		}
		t1 := x * c.omb1
		x *= x
		x *= c.omb2
		t1 += m[i] * c.b1
		x += v[i] * c.b2
		m[i], v[i] = t1, x
		mh, vh := t1*c.c1, x*c.c2
		vh = T(math.Sqrt(float64(vh)))
		vh += c.eps
		mh *= c.negEta
		mh /= vh
		old := w[i]
		w[i] += mh
		d := float64(w[i]) - float64(old)
		sq += d * d
	}
	return sq
}

// GonumSettings configure lbfgs and bfgs, gonum's methods on newtonia's
// loss and gradient (Problem), with gonum's line search (Bisection, its
// default for both).
type GonumSettings struct {
	Store int // lbfgs's memory, the pairs it keeps (0: 15; bfgs: must be 0)
}

func (s GonumSettings) withDefaults(name string) GonumSettings {
	if name == "lbfgs" && s.Store == 0 {
		s.Store = 15
	}
	return s
}

func (s GonumSettings) validate(name string) error {
	switch {
	case s.Store < 0:
		return &errs.ArgumentError{What: "GonumSettings.Store", Value: s.Store, Reason: "want ≥ 0 (0: the default, 15)"}
	case name == "bfgs" && s.Store != 0:
		return &errs.ArgumentError{What: "GonumSettings.Store", Value: s.Store, Reason: "bfgs keeps the whole inverse Hessian: want 0"}
	}
	return nil
}

// gonumOpt drives gonum's line-search method by hand, one major
// iteration per Step, on the loss and gradient of Problem.
type gonumOpt struct {
	meter
	name  string
	dirs  optimize.NextDirectioner
	ls    *optimize.LinesearchMethod
	prob  optimize.Problem
	perr  error
	loc   *optimize.Location // the last major iterate (nil: start afresh)
	bound []float64          // the weights as bound at loc.X (rounded, for float32 weights)
	dir   []float64          // the direction of the current line search
	steps int
}

func newGonum(name string, p *hvp.Problem, s GonumSettings) (Optimizer, error) {
	if err := s.validate(name); err != nil {
		return nil, err
	}
	s = s.withDefaults(name)
	o := &gonumOpt{meter: newMeter(p), name: name}
	if name == "lbfgs" {
		o.dirs = &optimize.LBFGS{Store: s.Store}
	} else {
		o.dirs = &optimize.BFGS{}
	}
	o.ls = &optimize.LinesearchMethod{NextDirectioner: (*recordDir)(o), Linesearcher: &optimize.Bisection{}}
	o.prob = Problem(o.p, &o.perr)
	return o, nil
}

// recordDir keeps each direction gonum's method computes, for StepSize.
type recordDir gonumOpt

func (r *recordDir) InitDirection(loc *optimize.Location, dir []float64) float64 {
	t := r.dirs.InitDirection(loc, dir)
	r.dir = append(r.dir[:0], dir...)
	return t
}

func (r *recordDir) NextDirection(loc *optimize.Location, dir []float64) float64 {
	t := r.dirs.NextDirection(loc, dir)
	r.dir = append(r.dir[:0], dir...)
	return t
}

func (o *gonumOpt) Name() string { return o.name }

// Step is one major iteration of gonum's method: a line search along its
// direction (gonum's Bisection, its evaluations counted in Cost), the
// weights bound at the point it accepts. The method keeps the loss and
// gradient of its last iterate, as gonum does on a fixed function (new
// inputs bound between steps are not seen until it restarts): it restarts
// from the weights bound (a fresh loss, gradient and history) when they
// were changed from outside, or after a failed step. A failed
// line search (gonum's ErrNoProgress, ErrLinesearcherFailure, …) is an
// *errs.ConditionError, the weights kept.
func (o *gonumOpt) Step() (rec *Step, err error) {
	defer errs.Recover("solver."+o.name+".Step", &err)
	st, err := o.start()
	if err != nil {
		return nil, err
	}
	o.perr = nil
	var op optimize.Operation
	if o.loc == nil || !slices.Equal(o.bound, st.w0.Flat()) {
		x := append([]float64(nil), st.w0.Flat()...)
		o.loc = &optimize.Location{X: x, F: o.prob.Func(x), Gradient: make([]float64, len(x))}
		o.prob.Grad(o.loc.Gradient, x)
		if o.perr != nil {
			o.loc = nil
			return nil, o.perr
		}
		op, err = o.ls.Init(o.loc)
	} else {
		op, err = o.ls.Iterate(o.loc) // after a major iteration: the next line search
	}
	loss := o.loc.F
	for err == nil && op != optimize.MajorIteration {
		if op&optimize.FuncEvaluation != 0 {
			o.loc.F = o.prob.Func(o.loc.X)
		}
		if op&optimize.GradEvaluation != 0 {
			o.prob.Grad(o.loc.Gradient, o.loc.X)
		}
		op, err = o.ls.Iterate(o.loc)
	}
	rec = &Step{Iter: o.steps, LossBefore: loss, LossAfter: loss}
	o.steps++
	if o.perr != nil || err != nil {
		o.loc = nil
		if o.perr != nil {
			return nil, o.perr
		}
		return nil, &errs.ConditionError{Block: -1, Reason: "gonum " + o.name + ": " + err.Error()}
	}
	if err := o.p.SetWeights(params.FromFlat(o.p.Layout(), append([]float64(nil), o.loc.X...))); err != nil {
		o.loc = nil
		return nil, err
	}
	bound, err := o.p.Current()
	if err != nil {
		o.loc = nil
		return nil, err
	}
	o.bound = append(o.bound[:0], bound.Flat()...)
	rec.LossAfter = o.loc.F
	if dn := floats.Norm(o.dir, 2); dn > 0 {
		dw := make([]float64, len(o.loc.X))
		floats.SubTo(dw, o.loc.X, st.w0.Flat())
		rec.StepSize = floats.Norm(dw, 2) / dn
	}
	return st.finish(rec)
}
