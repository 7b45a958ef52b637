package solver

import (
	"fmt"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Optimizer is what every method of this package is: DampedNewton,
// BlockNewton, HF, KFAC, and Gorgonia's and gonum's solvers as New builds
// them. Step takes one step on the inputs as bound (set the batch with
// gorgonia.Let before calling) and binds the new weights to the weight
// nodes (fresh tensors: the previous ones are not modified).
type Optimizer interface {
	Name() string // the name New knows it by
	Step() (*Step, error)
}

// Step records one step of an Optimizer, in the same terms for every
// method.
type Step struct {
	Iter       int     // the step's index, from 0
	LossBefore float64 // the loss at the inputs as bound, before the step
	// LossAfter is the loss after the step (LossBefore when the weights
	// did not move), or NaN for the methods that do not evaluate it (sgd,
	// adam): measuring it would add a forward pass to their Cost. KFAC
	// measures it for its step guard.
	LossAfter float64
	// StepSize is the multiplier t on the method's direction d, the step
	// being t·d: the line search's t, KFAC's α, 1 for DampedNewton's
	// damped candidates and for Gorgonia's solvers (their update is the
	// direction), ‖Δw‖/‖d‖ for gonum's; 0 when the weights did not move.
	StepSize float64
	Norm     float64 // ‖Δw‖, the length of the step taken
	// Cost is the data rows the step processed, in gradient-equivalents
	// (hvp.Stats.Rows: a gradient over B rows costs B, an Hv or a
	// Gauss–Newton product 2B, a loss ⌈B/2⌉, …), line-search evaluations
	// and curvature products counted the same way for every method.
	Cost int64
	// Fallbacks is every block whose step is not the method's own
	// direction, and why (Block −1: the whole step).
	Fallbacks []BlockFallback
	Duration  time.Duration
	// Detail is the method's own record: *NewtonDetail (DampedNewton,
	// BlockNewton), *HFDetail, *KFACDetail, or nil (Gorgonia's and gonum's
	// solvers).
	Detail any
}

// BlockFallback is a block whose step was not the method's own direction.
type BlockFallback struct {
	Block  int    // −1: the whole step
	Weight string // the block's weights, as hvp.Block.Name ("" for the whole step)
	// Reason says why, and by what the direction was replaced.
	Reason string
	// Err is the typed error of package errs that decided it, when there
	// is one (KFAC: the block's per-sample route's); nil otherwise.
	Err error
}

func (f BlockFallback) String() string {
	if f.Block < 0 {
		return "every block: " + f.Reason
	}
	return fmt.Sprintf("block %d (%s): %s", f.Block, f.Weight, f.Reason)
}

// meter counts an optimizer's cost: its products run on a Problem made
// with WithStats.
type meter struct {
	p     *hvp.Problem // the caller's problem, counting into stats
	stats *hvp.Stats
}

func newMeter(p *hvp.Problem) meter {
	s := &hvp.Stats{}
	return meter{p: p.WithStats(s), stats: s}
}

// rows returns the rows counted so far.
func (m meter) rows() int64 { return m.stats.Snapshot().Rows }

// stepStart is what a step's record is completed from.
type stepStart struct {
	m  meter
	t0 time.Time
	r0 int64
	w0 *params.Vector
}

// start is called before a step computes anything.
func (m meter) start() (stepStart, error) {
	w0, err := m.p.Current()
	return stepStart{m: m, t0: time.Now(), r0: m.rows(), w0: w0}, err
}

// startNoCopy is start for a method that knows its step's length: no
// copy of the weights (w0 is nil; finish it with finishNorm).
func (m meter) startNoCopy() stepStart {
	return stepStart{m: m, t0: time.Now(), r0: m.rows()}
}

// finish completes rec: Norm (from the weights bound now), Cost and
// Duration.
func (s stepStart) finish(rec *Step) (*Step, error) {
	w, err := s.m.p.Current()
	if err != nil {
		return nil, err
	}
	d := w.Clone()
	d.AddScaled(-1, s.w0)
	return s.finishNorm(rec, d.Norm()), nil
}

// finishNorm completes rec with Norm = norm, Cost and Duration.
func (s stepStart) finishNorm(rec *Step, norm float64) *Step {
	rec.Norm = norm
	rec.Cost = s.m.rows() - s.r0
	rec.Duration = time.Since(s.t0)
	return rec
}

// AsSolver returns o as a gorgonia.Solver for the weights of p, the
// problem o was built on: Step(model) takes one o.Step (the ValueGrads'
// gradients are not used: o computes its own) and writes the new weights
// into the model's value tensors. model must be p's weights, in order.
func AsSolver(o Optimizer, p *hvp.Problem) G.Solver { return &gorgoniaSolver{o: o, p: p} }

type gorgoniaSolver struct {
	o Optimizer
	p *hvp.Problem
}

func (s *gorgoniaSolver) Step(model []G.ValueGrad) (err error) {
	defer errs.Recover("solver.AsSolver.Step", &err)
	ws := s.p.Weights()
	if len(model) != len(ws) {
		return &errs.ShapeError{What: "model", Reason: fmt.Sprintf("%d values for %d weights", len(model), len(ws))}
	}
	if _, err := s.o.Step(); err != nil {
		return err
	}
	w, err := s.p.Current()
	if err != nil {
		return err
	}
	for k, vg := range model {
		dst, ok := vg.Value().(*tensor.Dense)
		src, ok2 := ws[k].Value().(*tensor.Dense)
		if !ok || !ok2 || !dst.Shape().Eq(src.Shape()) {
			return &errs.ShapeError{What: fmt.Sprintf("model value %d", k), Reason: "not a matrix of the weight's shape"}
		}
		switch dst.Dtype() {
		case tensor.Float32:
			for i, x := range w.Weight(k) {
				dst.Float32s()[i] = float32(x)
			}
		default:
			copy(dst.Float64s(), w.Weight(k))
		}
	}
	return nil
}
