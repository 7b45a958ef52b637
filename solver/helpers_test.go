package solver_test

import (
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
)

// flatRelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0) of flat values.
func flatRelDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}

// newOpt builds the registry's optimizer name, failing the test on error.
func newOpt(t testing.TB, name string, p *hvp.Problem, settings any) solver.Optimizer {
	t.Helper()
	o, err := solver.New(name, p, settings)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

// newtonStep takes one step of a DampedNewton or BlockNewton and returns
// its record and detail.
func newtonStep(o solver.Optimizer) (*solver.Step, *solver.NewtonDetail, error) {
	rec, err := o.Step()
	if err != nil {
		return nil, nil, err
	}
	return rec, rec.Detail.(*solver.NewtonDetail), nil
}

// kfacStep builds a KFAC with settings and takes one step.
func kfacStep(p *hvp.Problem, settings *solver.KFACSettings) (*solver.Step, *solver.KFACDetail, error) {
	k, err := solver.NewKFAC(p, settings)
	if err != nil {
		return nil, nil, err
	}
	return kfacNext(k)
}

// kfacNext takes one step of k.
func kfacNext(k *solver.KFAC) (*solver.Step, *solver.KFACDetail, error) {
	rec, err := k.Step()
	if err != nil {
		return nil, nil, err
	}
	return rec, rec.Detail.(*solver.KFACDetail), nil
}

// plainBlocks counts the fallbacks of single blocks (KFAC: the blocks
// that took the plain gradient).
func plainBlocks(rec *solver.Step) int {
	n := 0
	for _, f := range rec.Fallbacks {
		if f.Block >= 0 {
			n++
		}
	}
	return n
}
