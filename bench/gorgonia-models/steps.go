package main

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/hvp"
)

// checkOptimizers takes one step of each optimizer from w0, the loss
// before and after computed by Gorgonia's TapeMachine.
func checkOptimizers(r *row, tp *tape, p *hvp.Problem, w0 []float64, t tolerances) {
	defer func() { _ = tp.set(w0) }()
	for _, name := range optimizerNames {
		before, err := tp.loss(w0)
		if err != nil {
			r.fail("tape", "%s: TapeMachine loss: %v", name, err)
			r.opts[name] = "err"
			continue
		}
		var info stepInfo
		err = safe(name, func() (err error) { info, err = takeStep(name, p); return err })
		if err != nil {
			r.fail(name+" error", "%s: %v", name, err)
			r.opts[name] = "err"
			continue
		}
		w1, err := tp.current()
		var after float64
		if err == nil {
			after, err = tp.loss(w1)
		}
		if err != nil {
			r.fail("tape", "%s: TapeMachine loss after the step: %v", name, err)
			r.opts[name] = "err"
			continue
		}
		line := fmt.Sprintf("%s: loss %.8g → %.8g (TapeMachine); %s", name, before, after, info.note)
		switch {
		case !(after <= before+t.lossTol*math.Abs(before)):
			r.fail(name+" up", "%s: the loss increased", line)
			r.opts[name] = "up"
		case info.fallback != "":
			// Named in Step.Fallbacks, with its reason: reported, not silent.
			r.say("%s; named fallbacks: %s", line, info.fallback)
			r.opts[name] = "ok*"
		default:
			r.say("%s", line)
			r.opts[name] = "ok"
		}
	}
}
