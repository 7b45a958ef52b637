package main

// The optimizers of each row, one step each, built from solver's registry.

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
)

// optimizerNames are the registry's names each row steps with.
var optimizerNames = []string{"newton", "hf-ggn", "kfac", "adam"}

// stepInfo is what a step says of itself: a note for the report and, when
// the optimizer replaced its method by a plain gradient step on any block
// (the silent degradation issue 21 names), why.
type stepInfo struct {
	note     string
	fallback string
}

// takeStep takes one step of the named optimizer on p's weights (written
// into the user's nodes) and says what it did; every Step.Fallbacks entry
// (a block whose step is not the method's own direction, and why) is
// reported as a fallback.
func takeStep(name string, p *hvp.Problem) (stepInfo, error) {
	opt, err := solver.New(name, p, nil)
	if err != nil {
		return stepInfo{}, err
	}
	rec, err := opt.Step()
	if err != nil {
		return stepInfo{}, err
	}
	info := stepInfo{note: fmt.Sprintf("step size %.3g, |Δw| %.3g, cost %d rows", rec.StepSize, rec.Norm, rec.Cost)}
	switch d := rec.Detail.(type) {
	case *solver.NewtonDetail:
		info.note += ", took " + d.Combined
	case *solver.HFDetail:
		info.note += fmt.Sprintf(", %d CG iterations", d.CGIterations)
	case *solver.KFACDetail:
		if d.Note != "" {
			info.note += "; " + d.Note
		}
	}
	var fb []string
	for _, f := range rec.Fallbacks {
		if f.Reason == "" { // a fallback without its reason would be silent
			return info, fmt.Errorf("%s: block %d fell back with no reason", name, f.Block)
		}
		fb = append(fb, f.String())
	}
	info.fallback = strings.Join(fb, "; ")
	return info, nil
}
