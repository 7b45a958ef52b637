package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gorgonia.org/tensor"
)

// row is the outcome of one model in one dtype.
type row struct {
	key      string // "name/dtype"
	lines    []string
	accepted bool
	ratio    float64 // Hv's FD error at r over that at r/2 (NaN: not run)
	hvRound  bool    // both FD errors at rounding (a loss quadratic along v)
	exact    int     // blocks whose InvHv came back exact and certified
	blocks   int
	opts     map[string]string // optimizer → "ok", "up", "err", "fb"
	fails    []string
	tags     []string // what failed, short, for the summary
}

func (r *row) say(format string, a ...any) { r.lines = append(r.lines, fmt.Sprintf(format, a...)) }

// fail records a failed check: tag names it in the summary.
func (r *row) fail(tag, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.fails = append(r.fails, msg)
	if !slices.Contains(r.tags, tag) {
		r.tags = append(r.tags, tag)
	}
	r.say("FAIL: %s", msg)
}

// tolerances of one dtype.
type tolerances struct {
	gradH, gradTol float64   // step and relative tolerance of the loss's central differences
	rs             []float64 // Hv's FD steps tried, largest first
	floor          float64   // FD errors below it at r and r/2: exact to rounding
	invTol         float64   // FD residual of a certified exact InvHv
	lossTol        float64   // relative increase of the TapeMachine's loss taken as rounding
	sameLoss       float64   // relative difference of newtonia's and the TapeMachine's loss
}

// float64: the loss's central differences at h = 1e-5 are accurate to
// ~h² + ε/h ≈ 1e-10 relative; Hv's at r ≤ 1e-2 to r²·‖∇³J‖ ≈ 1e-4 with
// rounding ε/r ≈ 1e-14 (floor 1e-7 leaves room for ill-conditioned data).
// The loss newtonia computes from its translation and the TapeMachine's
// differ by rounding: a few ε₆₄ for float64; for float32, newtonia
// evaluates the float32 model in float64, the TapeMachine in float32 (a
// few ε₃₂ per op over ~20 ops: 1e-5).
// float32: the TapeMachine rounds the loss and gradient to ε₃₂ ≈ 6e-8, so
// the steps are larger and the floors ε₃₂/r.
var tols = map[tensor.Dtype]tolerances{
	f64: {gradH: 1e-5, gradTol: 1e-5, rs: []float64{1e-2, 1e-3, 1e-4}, floor: 1e-7, invTol: 1e-3, lossTol: 1e-12, sameLoss: 1e-12},
	f32: {gradH: 1e-2, gradTol: 2e-2, rs: []float64{3e-1, 1e-1, 3e-2, 1e-2, 3e-3}, floor: 1e-3, invTol: 5e-2, lossTol: 1e-6, sameLoss: 1e-5},
}

// check runs every check of one model in one dtype; it never panics.
func check(s spec, dt tensor.Dtype, seed uint64) (r *row) {
	r = &row{key: s.name + "/" + dt.String(), ratio: math.NaN(), opts: map[string]string{}}
	defer func() {
		if e := recover(); e != nil {
			r.fail("panic", "panic: %v", e)
		}
	}()
	r.say("== %s %v: %s", s.name, dt, s.what)
	if s.random {
		checkLive(r, s, dt, seed)
	}
	b := newBuilder(dt, seed, false)
	var m *model
	if err := safe("building the model", func() (err error) { m, err = s.build(b); return err }); err != nil {
		r.fail("model", "Gorgonia rejects the model: %v", err)
		return r
	}
	t := tolerances(tols[dt])
	tp, gerr := newTape(m, true)
	if gerr != nil {
		r.say("Gorgonia's defect: G.Grad fails on the model: %v", gerr)
	}
	w0, err := tp.current()
	if err != nil {
		r.fail("weights", "%v", err)
		return r
	}
	var p *hvp.Problem
	err = safe("hvp.New", func() (err error) { p, err = hvp.New(m.cost, m.weights...); return err })
	if err != nil {
		r.fail("hvp.New refused", "hvp.New refuses it: %v%s", err, namesUserNode(m, err))
	} else {
		r.accepted, r.blocks = true, p.Blocks()
		r.say("hvp.New: accepted, %d blocks", p.Blocks())
	}
	oracle := gradientOracle(r, m, tp, p, w0, t)
	if p == nil {
		return r
	}
	checkLoss(r, tp, p, w0, t)
	for _, c := range p.Conditions() {
		line := fmt.Sprintf("conditions %s: %v, %v route", c.Weight, c.Kind, c.Method)
		if len(c.Reasons) > 0 {
			line += " (" + strings.Join(c.Reasons, "; ") + ")"
		}
		if c.Error != "" {
			line += ": " + c.Error
		}
		r.say("%s", line)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	v := params.New(p.Layout())
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	v.Divide(v.Norm())
	rUsed := checkHv(r, p, oracle, w0, v, t)
	checkInv(r, s, m, p, oracle, w0, v, rUsed, t)
	checkOptimizers(r, tp, p, w0, t)
	return r
}

// gradientOracle checks G.Grad (and newtonia's gradient) against central
// differences of the TapeMachine's loss, weight by weight, and returns the
// gradient to difference for Hv: G.Grad's when it is right, else newtonia's
// (a Gorgonia defect, reported), else nil.
func gradientOracle(r *row, m *model, tp *tape, p *hvp.Problem, w0 []float64, t tolerances) func([]float64) ([]float64, error) {
	gorgonia := func(w []float64) ([]float64, error) { _, g, err := tp.run(w, true); return g, err }
	newtonia := func(w []float64) ([]float64, error) {
		if err := tp.set(w); err != nil {
			return nil, err
		}
		pt, err := p.At(nil)
		if err != nil {
			return nil, err
		}
		return append([]float64(nil), pt.Grad.Flat()...), nil
	}
	rng := rand.New(rand.NewPCG(3, 5))
	type candidate struct {
		name string
		f    func([]float64) ([]float64, error)
		g    []float64
		bad  []string
	}
	cands := []*candidate{{name: "G.Grad", f: gorgonia}}
	if p != nil {
		cands = append(cands, &candidate{name: "newtonia's gradient", f: newtonia})
	}
	for _, c := range cands {
		if c.name == "G.Grad" && tp.grads == nil {
			continue // reported as Gorgonia's defect
		}
		var err error
		if c.g, err = c.f(w0); err != nil {
			c.bad = []string{err.Error()}
		}
	}
	off := 0
	for _, n := range m.weights {
		k := max(n.Shape().TotalSize(), 1)
		e := make([]float64, len(w0))
		for i := off; i < off+k; i++ {
			e[i] = rng.NormFloat64()
		}
		ne := norm(e)
		for i := range e {
			e[i] /= ne
		}
		lp, err1 := tp.loss(axpy(t.gradH, e, w0))
		lm, err2 := tp.loss(axpy(-t.gradH, e, w0))
		if err := errors.Join(err1, err2); err != nil {
			r.fail("tape", "TapeMachine loss: %v", err)
			return nil
		}
		fd := (lp - lm) / (2 * t.gradH)
		for _, c := range cands {
			if c.g == nil {
				continue
			}
			gv := 0.0
			for i := off; i < off+k; i++ {
				gv += c.g[i] * e[i]
			}
			if d := math.Abs(gv - fd); d > t.gradTol*math.Max(math.Max(math.Abs(gv), math.Abs(fd)), 1e-8) {
				c.bad = append(c.bad, fmt.Sprintf("%s: ⟨g, e⟩ = %.6g, central difference %.6g", n.Name(), gv, fd))
			}
		}
		off += k
	}
	_ = tp.set(w0)
	var use func([]float64) ([]float64, error)
	for _, c := range cands {
		switch {
		case c.g == nil && len(c.bad) == 0:
			// G.Grad failed, reported above
		case len(c.bad) == 0:
			r.say("%s agrees with central differences of the TapeMachine's loss on every weight", c.name)
			if use == nil {
				use = c.f
				if p != nil {
					r.say("Hv oracle: central differences of %s", c.name)
				}
			}
		case c.name == "G.Grad":
			r.say("Gorgonia's defect: G.Grad disagrees with central differences of its TapeMachine's loss: %s", strings.Join(c.bad, "; "))
		default:
			r.fail("gradient", "%s disagrees with central differences of the TapeMachine's loss: %s", c.name, strings.Join(c.bad, "; "))
		}
	}
	if use == nil && p != nil {
		r.fail("gradient", "no correct gradient to difference for Hv")
	}
	return use
}

// checkHv compares Hv with central differences of the oracle's gradient at
// r and r/2, for the largest r whose points share the activation pattern of
// w0; it returns the r used (0: none).
func checkHv(r *row, p *hvp.Problem, oracle func([]float64) ([]float64, error), w0 []float64, v *params.Vector, t tolerances) float64 {
	if oracle == nil {
		return 0
	}
	var hv *params.Vector
	if err := safe("Hv", func() (err error) { hv, err = p.Hv(v); return err }); err != nil {
		r.fail("Hv", "Hv: %v", err)
		return 0
	}
	pattern := func(w []float64) [][]float64 {
		pt, err := p.At(params.FromFlat(p.Layout(), w))
		if err != nil {
			return nil
		}
		return pt.Pattern
	}
	base := pattern(w0)
	same := func(s float64) bool {
		return samePattern(base, pattern(axpy(s, v.Flat(), w0))) && samePattern(base, pattern(axpy(-s, v.Flat(), w0)))
	}
	fd := func(s float64) ([]float64, error) {
		gp, err := oracle(axpy(s, v.Flat(), w0))
		if err != nil {
			return nil, err
		}
		gm, err := oracle(axpy(-s, v.Flat(), w0))
		if err != nil {
			return nil, err
		}
		return axpy(-1, gm, gp), nil
	}
	defer func() { _ = p.SetWeights(params.FromFlat(p.Layout(), w0)) }()
	for i, s := range t.rs {
		if i < len(t.rs)-1 && !(same(s) && same(s/2)) {
			continue
		}
		d1, err1 := fd(s)
		d2, err2 := fd(s / 2)
		if err := errors.Join(err1, err2); err != nil {
			r.fail("Hv oracle", "Hv oracle: %v", err)
			return 0
		}
		for k := range d1 {
			d1[k] /= 2 * s
			d2[k] /= s
		}
		e1, e2 := relErr(d1, hv.Flat()), relErr(d2, hv.Flat())
		r.ratio = e1 / e2
		line := fmt.Sprintf("Hv vs central differences, r = %g: %.2g, r/2: %.2g, ratio %.2f", s, e1, e2, r.ratio)
		switch {
		case e1 < t.floor && e2 < t.floor:
			r.say("%s (both below the rounding floor %g: agreement to rounding; O(r²) not resolved above it)", line, t.floor)
			r.hvRound = true
			return s
		case r.ratio >= 3 && r.ratio <= 5 && e2 < 0.1:
			r.say("%s (O(r²))", line)
			return s
		case i == len(t.rs)-1:
			r.fail("Hv", "%s: not O(r²)", line)
		}
	}
	return 0
}

func samePattern(a, b [][]float64) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return a == nil && b == nil
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// checkInv runs every block's InvHv and, for a certified exact result,
// recomputes its residual ‖H_ll u − v_l‖/‖v_l‖ with central differences of
// the oracle's gradient along u (at the r of the Hv check).
func checkInv(r *row, s spec, m *model, p *hvp.Problem, oracle func([]float64) ([]float64, error), w0 []float64, v *params.Vector, rUsed float64, t tolerances) {
	defer func() { _ = p.SetWeights(params.FromFlat(p.Layout(), w0)) }()
	for l := range p.Blocks() {
		// Each InvHv at w0: the previous block's differences left the
		// weights at w0 − (r/2)·û, and a Hessian there, not at w0, is what
		// the R-pass would certify (seen: every block after the first failed
		// its FD residual, 1.3 on the LSTM's Wx, constant in r).
		if err := p.SetWeights(params.FromFlat(p.Layout(), w0)); err != nil {
			r.fail("InvHv", "restoring the weights before block %d: %v", l, err)
			return
		}
		blk := p.Block(l)
		want := false
		for _, w := range strings.Split(blk.Name(), "+") {
			want = want || slices.Contains(s.exact, w)
		}
		var res *hvp.Result
		err := safe("InvHv", func() (err error) { res, err = blk.InvHv(v.Block(l), nil); return err })
		if err != nil {
			switch named := namesUserNode(m, err); {
			case want:
				r.fail("InvHv refused", "InvHv %s refused, an exact inverse expected: %v%s", blk.Name(), err, named)
			case named != "":
				r.fail("InvHv names", "InvHv %s refused: %v%s", blk.Name(), err, named)
			default:
				r.say("InvHv %s: refused: %v", blk.Name(), err)
			}
			continue
		}
		line := fmt.Sprintf("InvHv %s: %s", blk.Name(), res.Label())
		exact := res.Kind == hvp.KindExact && res.Certified
		if exact {
			r.exact++
		}
		if exact && oracle != nil && rUsed > 0 {
			whole := params.New(p.Layout())
			whole.Block(l).CopyFrom(res.U)
			nu := whole.Norm()
			// Central differences of the oracle's gradient along û = u/‖u‖
			// at r and r/2, Richardson-extrapolated: D(r) = H·û + O(r²), so
			// (4·D(r/2) − D(r))/3 = H·û + O(r⁴). The residual is scaled by
			// ‖u‖/‖v_l‖, which on an ill-conditioned block magnifies the
			// O(r²) term of one difference (measured at r = 0.01: ≤ 2e-5 on
			// the LSTM's and tied autoencoder's blocks, extrapolated ≤ 1.2e-8);
			// the extrapolation removes that term.
			diff := func(h float64) (*params.Vector, float64, error) {
				gp, err1 := oracle(axpy(h/nu, whole.Flat(), w0))
				gm, err2 := oracle(axpy(-h/nu, whole.Flat(), w0))
				if err := errors.Join(err1, err2); err != nil {
					return nil, 0, err
				}
				d := params.FromFlat(p.Layout(), axpy(-1, gm, gp))
				d.Scale(nu / (2 * h))
				gn := (params.FromFlat(p.Layout(), gp).Norm() + params.FromFlat(p.Layout(), gm).Norm()) / 2
				return d, gn, nil
			}
			d1, gn, err1 := diff(rUsed)
			d2, _, err2 := diff(rUsed / 2)
			if err := errors.Join(err1, err2); err != nil {
				r.fail("InvHv FD", "%s; its FD residual: %v", line, err)
				continue
			}
			hu := d2.Clone()
			hu.Scale(4.0 / 3)
			hu.AddScaled(-1.0/3, d1)
			res1 := relErr(d1.Block(l).Flat(), v.Block(l).Flat())
			res := relErr(hu.Block(l).Flat(), v.Block(l).Flat())
			// The differences' rounding floor: each gradient is off by about
			// 10·ε·‖g‖ (ε of the model's dtype; 10 for the rounding gathered
			// through the gradient pass: in float64 the floor so estimated is
			// 10× the residual measured on the practitioner's MLP), divided by
			// 2h/‖u‖, relative to ‖v_l‖; the extrapolation's weights
			// (4·2 + 1)/3 = 3 on the floor at r: negligible in float64, O(0.1) in
			// float32 at the r that keeps a ReLU net's pattern — there the
			// certificate by the exact R-pass is the check, this one a
			// sanity bound.
			eps := 1.1e-16
			if m.cost.Dtype() == f32 {
				eps = 6e-8
			}
			vl := v.Block(l).Norm()
			floor := 3 * 10 * eps * gn * nu / (2 * rUsed) / vl
			line += fmt.Sprintf("; residual by central differences at r = %g %.2g, Richardson-extrapolated with r/2 %.2g (their rounding floor %.2g)", rUsed, res1, res, floor)
			if res > t.invTol+floor {
				r.fail("InvHv FD", "%s: above %g + the floor", line, t.invTol)
				continue
			}
		}
		if want && !exact {
			r.fail("InvHv not exact", "%s: an exact inverse expected", line)
			continue
		}
		r.say("%s", line)
	}
}

// checkLoss compares newtonia's loss (of its translation of the graph) with
// the TapeMachine's at w0.
func checkLoss(r *row, tp *tape, p *hvp.Problem, w0 []float64, t tolerances) {
	mine, err := tp.loss(w0)
	if err != nil {
		r.fail("tape", "TapeMachine loss: %v", err)
		return
	}
	theirs, err := p.LossAt(nil)
	if err != nil {
		r.fail("LossAt", "newtonia's loss: %v", err)
		return
	}
	d := math.Abs(theirs-mine) / math.Max(math.Abs(mine), 1e-300)
	line := fmt.Sprintf("loss: TapeMachine %.10g, newtonia %.10g, relative difference %.2g", mine, theirs, d)
	if !(d <= t.sameLoss) {
		r.fail("loss differs", "%s: above %g", line, t.sameLoss)
		return
	}
	r.say("%s", line)
}
