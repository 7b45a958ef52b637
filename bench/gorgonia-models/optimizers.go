package main

// The optimizers available today, one step each. This file is the only one
// that knows their constructors and records: when the registry
// solver.New(name, p, settings) lands, optimizerNames becomes its list and
// takeStep a call of its Step.

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
)

var optimizerNames = []string{"newton", "hf", "kfac", "adam"}

// stepInfo is what a step says of itself: a note for the report and, when
// the optimizer replaced its method by a plain gradient step on any block
// (the silent degradation issue 21 names), why.
type stepInfo struct {
	note     string
	fallback string
}

// takeStep takes one step of the named optimizer on p's weights, binding
// the new weights to the user's nodes.
func takeStep(name string, p *hvp.Problem) (stepInfo, error) {
	switch name {
	case "newton":
		rec, err := solver.NewNewton(p, nil).Iterate()
		if err != nil {
			return stepInfo{}, err
		}
		info := stepInfo{note: fmt.Sprintf("took %s, t = %.3g", rec.Combined, rec.StepSize)}
		var fb []string
		for l, b := range rec.Blocks {
			if b.Direction != solver.DirectionBPass {
				info.note += fmt.Sprintf("; block %d: %v", l, b.Direction)
			}
			if b.Direction == solver.DirectionGradient {
				fb = append(fb, fmt.Sprintf("block %d (%s)", l, b.Replaced))
			}
		}
		if rec.Combined == "gradient" {
			fb = append(fb, "the step taken is the gradient")
		}
		info.fallback = strings.Join(fb, "; ")
		return info, nil
	case "hf":
		rec, err := solver.NewHF(p, nil).Iterate()
		if err != nil {
			return stepInfo{}, err
		}
		return stepInfo{note: fmt.Sprintf("%d CG iterations, α = %.3g", rec.CGIterations, rec.StepSize)}, nil
	case "kfac":
		rec, err := solver.NewKFAC(p, nil).Iterate()
		if err != nil {
			return stepInfo{}, err
		}
		info := stepInfo{note: fmt.Sprintf("α = %.3g", rec.Alpha)}
		var fb []string
		for _, f := range rec.Fallbacks {
			fb = append(fb, f.String())
		}
		if rec.Note != "" {
			info.note += "; " + rec.Note
			if strings.Contains(rec.Note, "−g") || strings.Contains(rec.Note, "gradient") {
				fb = append(fb, rec.Note)
			}
		}
		info.fallback = strings.Join(fb, "; ")
		return info, nil
	case "adam":
		// Gorgonia's own Adam on newtonia's gradient.
		_, g, err := p.Gradient()
		if err != nil {
			return stepInfo{}, err
		}
		vg, err := solver.ValueGrads(p, g)
		if err != nil {
			return stepInfo{}, err
		}
		if err := G.NewAdamSolver(G.WithLearnRate(1e-3)).Step(vg); err != nil {
			return stepInfo{}, err
		}
		// A scalar weight's value is a new tensor in vg: bind every
		// weight back from the values Adam updated.
		return stepInfo{note: "learning rate 1e-3"}, rebind(p, vg)
	}
	return stepInfo{}, fmt.Errorf("no optimizer %q", name)
}

// rebind binds Adam's updated values to the weights whose node does not
// hold the tensor Adam updated (a scalar weight).
func rebind(p *hvp.Problem, vg []G.ValueGrad) error {
	for k, n := range p.Weights() {
		if !n.Shape().IsScalar() {
			continue
		}
		d, err := flat(vg[k].Value())
		if err != nil {
			return err
		}
		var v interface{} = d[0]
		if n.Dtype() == f32 {
			v = float32(d[0])
		}
		if err := G.Let(n, v); err != nil {
			return err
		}
	}
	return nil
}
