package solver

import (
	"math"
	"slices"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
	G "gorgonia.org/gorgonia"
)

// GorgoniaSettings configure sgd and adam, Gorgonia's VanillaSolver and
// AdamSolver on newtonia's gradients (ValueGrads). Every zero value means
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

// gorgoniaOpt is a Gorgonia solver as an Optimizer: a step is one
// gradient and one update of the weights' value tensors in place.
type gorgoniaOpt struct {
	meter
	name  string
	g     G.Solver
	steps int
}

func newGorgonia(name string, p *hvp.Problem, s GorgoniaSettings) (Optimizer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults(name)
	opts := []G.SolverOpt{G.WithLearnRate(s.LearnRate), G.WithBatchSize(s.BatchSize)}
	o := &gorgoniaOpt{meter: newMeter(p), name: name}
	if name == "adam" {
		o.g = G.NewAdamSolver(opts...)
	} else {
		o.g = G.NewVanillaSolver(opts...)
	}
	return o, nil
}

func (o *gorgoniaOpt) Name() string { return o.name }

// Step: LossAfter is NaN (the method does not measure it: the next step's
// LossBefore, on the next batch, is the loss it sees); StepSize is 1, the
// update being the solver's direction.
func (o *gorgoniaOpt) Step() (rec *Step, err error) {
	defer errs.Recover("solver."+o.name+".Step", &err)
	st, err := o.start()
	if err != nil {
		return nil, err
	}
	loss, g, err := o.p.Gradient()
	if err != nil {
		return nil, err
	}
	model, err := ValueGrads(o.p, g)
	if err != nil {
		return nil, err
	}
	if err := o.g.Step(model); err != nil {
		return nil, err
	}
	rec = &Step{Iter: o.steps, LossBefore: loss, LossAfter: math.NaN(), StepSize: 1}
	o.steps++
	return st.finish(rec)
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
