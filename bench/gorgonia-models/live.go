package main

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gorgonia.org/tensor"
)

// checkLive builds the model with Gorgonia's random nodes and reports what
// hvp.New makes of it. Gorgonia's random ops draw from a generator seeded
// with the time at every run, so its TapeMachine cannot hold a draw fixed
// for finite differences: the other checks run on the twin.
func checkLive(r *row, s spec, dt tensor.Dtype, seed uint64) {
	b := newBuilder(dt, seed, true)
	var m *model
	if err := safe("building the live model", func() (err error) { m, err = s.build(b); return err }); err != nil {
		r.fail("live model", "Gorgonia rejects the live model: %v", err)
		return
	}
	var p *hvp.Problem
	err := safe("hvp.New (live)", func() (err error) { p, err = hvp.New(m.cost, m.weights...); return err })
	if err != nil {
		r.fail("live refused", "live graph (random nodes %s): hvp.New refuses it: %v%s", strings.Join(m.random, ", "), err, namesUserNode(m, err))
		return
	}
	r.say("live graph (random nodes %s): accepted. Gorgonia's TapeMachine redraws them on every run (time-seeded)"+
		" and cannot hold a draw fixed, so the checks below run on the twin with one draw as an input", strings.Join(m.random, ", "))
	// newtonia's side of the draw: its Hv against central differences of
	// its own gradient (not an independent oracle: this checks only that
	// every product sees one draw, as Hv's FD would not be O(r²) otherwise).
	w0, err := p.Current()
	if err != nil {
		r.fail("live", "live graph: %v", err)
		return
	}
	own := func(w []float64) ([]float64, error) {
		pt, err := p.At(params.FromFlat(p.Layout(), w))
		if err != nil {
			return nil, err
		}
		return append([]float64(nil), pt.Grad.Flat()...), nil
	}
	rng := rand.New(rand.NewPCG(seed, 13))
	v := params.New(p.Layout())
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	v.Divide(v.Norm())
	tmp := &row{ratio: math.NaN()}
	checkHv(tmp, p, own, append([]float64(nil), w0.Flat()...), v, tols[dt])
	for _, l := range tmp.lines {
		r.say("live graph, against newtonia's own gradient at one draw: %s", l)
	}
	r.fails = append(r.fails, tmp.fails...)
	for _, t := range tmp.tags {
		r.tags = append(r.tags, "live "+t)
	}
}

// namesUserNode says, for the report, when an error names none of the
// user's nodes (it counts as a second failure).
func namesUserNode(m *model, err error) string {
	msg := err.Error()
	for _, n := range m.g.AllNodes() {
		if name := n.Name(); len(name) >= 2 && strings.Contains(msg, name) {
			return ""
		}
	}
	return " [the error names none of the model's nodes]"
}
