package solver

import (
	"math"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// Method is the damped exact block-Newton direction as a gonum
// optimize.Method: gonum's line search (Linesearcher, Backtracking by
// default) and convergence tests (optimize.Settings) drive it, on the
// Problem of the same hvp.Problem:
//
//	m := &solver.Method{P: p}
//	res, err := optimize.Minimize(solver.Problem(p, &perr), x0, settings, m)
//
// At major iteration t the direction is block l = t mod L's damped exact
// Newton step, d = −u_l on that block and 0 elsewhere, with
// u_l = (H_ll + λ·h̃ᵀh̃ ⊗ I)⁻¹ g_l (λ = Settings.LMDamping, 1e-3 by default, fixed;
// the dense per-sample solve or CG where a block has no B-pass), or −g if
// that is not a descent direction; the first step tried is 1. (The sum of
// all blocks' steps, block-Jacobi Newton, needed 2000 iterations where
// this needs a handful: the blocks' curvatures are coupled.) The
// directions are computed at the iterate, which is therefore bound to the
// weight nodes (gorgonia.Let) as the method goes: the weights hold the
// last iterate a direction was computed at.
type Method struct {
	P            *hvp.Problem
	Settings     DampedNewtonSettings
	Linesearcher optimize.Linesearcher

	s      DampedNewtonSettings // with defaults
	iter   int
	ls     *optimize.LinesearchMethod
	status optimize.Status
	err    error
}

var (
	_ optimize.Method          = (*Method)(nil)
	_ optimize.NextDirectioner = (*Method)(nil)
	_ optimize.Statuser        = (*Method)(nil)
)

func (m *Method) Init(dim, tasks int) int {
	m.status, m.err = optimize.NotTerminated, nil
	ls := m.Linesearcher
	if ls == nil {
		ls = &optimize.Backtracking{}
	}
	m.ls = &optimize.LinesearchMethod{NextDirectioner: m, Linesearcher: ls}
	m.s = m.Settings.withDefaults()
	return 1
}

func (*Method) Uses(has optimize.Available) (optimize.Available, error) {
	if !has.Grad {
		return optimize.Available{}, optimize.ErrMissingGrad
	}
	return optimize.Available{Grad: true}, nil
}

func (m *Method) Status() (optimize.Status, error) { return m.status, m.err }

// Run follows gonum's protocol for local methods: evaluate the start,
// announce it as a major iteration, then iterate the line search until
// the caller signals convergence.
func (m *Method) Run(operation chan<- optimize.Task, result <-chan optimize.Task, tasks []optimize.Task) {
	defer close(operation)
	task := tasks[0]
	if err := m.Settings.Validate(); err != nil {
		m.status, m.err = optimize.Failure, err
		m.done(operation, result, task)
		return
	}
	task.Op = optimize.FuncEvaluation | optimize.GradEvaluation
	operation <- task
	task = <-result
	if task.Op == optimize.PostIteration {
		drain(result)
		return
	}
	if math.IsNaN(task.F) || math.IsInf(task.F, 0) {
		m.status, m.err = optimize.Failure, optimize.ErrFunc(task.F)
		m.done(operation, result, task)
		return
	}
	task.Op = optimize.MajorIteration
	operation <- task
	task = <-result
	if task.Op == optimize.PostIteration {
		drain(result)
		return
	}
	op, err := m.ls.Init(task.Location)
	if err != nil {
		m.status, m.err = optimize.Failure, err
		m.done(operation, result, task)
		return
	}
	task.Op = op
	operation <- task
	for r := range result {
		if r.Op == optimize.PostIteration {
			break
		}
		op, err := m.ls.Iterate(r.Location)
		if err != nil {
			m.status, m.err = optimize.Failure, err
			m.done(operation, result, r)
			return
		}
		r.Op = op
		operation <- r
	}
	drain(result)
}

func (m *Method) done(operation chan<- optimize.Task, result <-chan optimize.Task, task optimize.Task) {
	task.Op = optimize.MethodDone
	operation <- task
	<-result
	drain(result)
}

func drain(result <-chan optimize.Task) {
	for range result {
	}
}

func (m *Method) InitDirection(loc *optimize.Location, dir []float64) float64 {
	return m.direction(loc, dir)
}

func (m *Method) NextDirection(loc *optimize.Location, dir []float64) float64 {
	return m.direction(loc, dir)
}

// direction writes the block-Newton direction at loc into dir and returns
// the first step to try.
func (m *Method) direction(loc *optimize.Location, dir []float64) float64 {
	p := m.P
	fallback := func() float64 {
		floats.ScaleTo(dir, -1, loc.Gradient)
		return 1 / math.Max(floats.Norm(loc.Gradient, 2), 1)
	}
	n := p.Layout().Len()
	if len(loc.X) != n || len(loc.Gradient) != n || p.SetWeights(params.FromFlat(p.Layout(), append([]float64(nil), loc.X...))) != nil {
		return fallback()
	}
	g := params.FromFlat(p.Layout(), append([]float64(nil), loc.Gradient...))
	s := m.s
	l := m.iter % p.Blocks() // one block per major iteration, in turn
	m.iter++
	f := fallbackSettings{kind: s.Fallback, cg: s.CG, learnRate: s.LearnRate, exactOnly: s.ExactOnly}
	ul, _, err := dampedDirection(p, l, g.Block(l), s.LMDamping, s.Checks, f)
	if err != nil {
		return fallback()
	}
	d := params.New(p.Layout())
	d.Block(l).CopyFrom(ul)
	if !(floats.Dot(d.Flat(), loc.Gradient) > 0) {
		return fallback()
	}
	floats.ScaleTo(dir, -1, d.Flat())
	return 1
}
