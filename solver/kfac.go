package solver

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
)

// KFACSettings configure KFAC; every zero value means the default beside
// it.
type KFACSettings struct {
	// FactorDamping λ: each factor gets √λ times its mean eigenvalue on its
	// diagonal, (A + √λ·tr A/n_A·I) ⊗ (DD + √λ·tr DD/n_D·I), so that the
	// damping is relative and the unknown constant between A ⊗ DD and the
	// Gauss–Newton matrix (hvp.Factors) does not matter (0: 1; on MNIST the
	// loss after a pass is within 5% of the best from 0.3 to 30, README).
	// NoDamping: the factors undamped, (A ⊗ DD)⁻¹ itself; a factor that is
	// not positive definite is then an error naming its block.
	FactorDamping float64
	// Decay, in [0, 1), of the factors' moving averages across steps (0:
	// 0.95; the first step takes its own factors).
	Decay float64
	// Refresh is the number of steps between refactorisations of the
	// damped factors (0: 10).
	Refresh int
	// MaxRadius, if positive, caps every step at MaxRadius·max(‖w‖, 1)
	// (0: no cap, the default).
	MaxRadius float64
	// AllowGradientFallback lets a step in which every block takes the
	// plain gradient −g_l (no block has Kronecker factors: e.g. weight
	// decay in the loss uses each weight twice, or the net has no layer
	// structure) proceed, as gradient descent with the exact Gauss–Newton
	// step length. Without it such a step is an *errs.ConditionError that
	// names every block and why, returned before anything moves. Some
	// blocks falling back while others do not is never an error: the
	// record names them (Step.Fallbacks). false: the error.
	AllowGradientFallback bool
}

// KFACDetail is Step.Detail of KFAC (the step length α is
// Step.StepSize).
type KFACDetail struct {
	Model float64 // the exact quadratic model's change at the step (< 0)
	// Note is empty, or says where the step departs from the
	// Kronecker-factored one: why no step was taken (StepSize 0, the
	// weights unchanged), or that the whole direction was replaced by −g
	// (then also a Step.Fallbacks entry of Block −1).
	Note string
}

// KFAC is the Kronecker-factored natural-gradient method of Martens and
// Grosse (2015) on newtonia's exact products: per block the direction
// −(Ã⁻¹ ∇W̃ D̃⁻¹) from moving averages of hvp.Kronecker's factors (damped,
// Cholesky, refreshed every Refresh steps), and its length from the exact
// Gauss–Newton quadratic model along it: α = −⟨g, d⟩ / ⟨d, G d⟩ with one
// hvp.GGNv per step. A step costs a gradient and a Gauss–Newton product
// over the batch; nothing is certified exact — the factors are K-FAC's
// approximation of the curvature (with the data's targets bound, of the
// empirical Fisher), only the step length uses the exact G.
type KFAC struct {
	meter
	s      KFACSettings // with defaults
	steps  int
	a, dd  []*mat.SymDense // moving averages, per block
	ca, cd []*mat.Cholesky // the damped factors, factorised
	why    map[int]error   // why a block has no factors (the graph's structure: found once)
	kernel map[int]bool    // the block's factors are a kernel's (hvp.Factors.Transposed), this step
}

// NewKFAC returns a KFAC on p's weights (settings nil: the defaults), or
// the first invalid setting as an *errs.ArgumentError naming it.
func NewKFAC(p *hvp.Problem, settings *KFACSettings) (*KFAC, error) {
	var s KFACSettings
	if settings != nil {
		s = *settings
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &KFAC{meter: newMeter(p), s: s.withDefaults()}, nil
}

// withDefaults returns s with its defaults, the damping as λ (0 with
// NoDamping).
func (s KFACSettings) withDefaults() KFACSettings {
	switch s.FactorDamping {
	case 0:
		s.FactorDamping = 1
	case NoDamping:
		s.FactorDamping = 0
	}
	if s.Decay == 0 {
		s.Decay = 0.95
	}
	if s.Refresh == 0 {
		s.Refresh = 10
	}
	return s
}

// Name is the registry's name, "kfac".
func (k *KFAC) Name() string { return "kfac" }

// Step takes one step on the inputs as bound and binds the new weights
// (Detail: *KFACDetail). Its LossAfter is NaN when it moves: KFAC does
// not evaluate the loss after its step (its length comes from the model,
// Detail.Model), and measuring it would add a forward pass to its Cost.
func (k *KFAC) Step() (rec *Step, err error) {
	defer errs.Recover("solver.KFAC.Step", &err)
	st, err := k.start()
	if err != nil {
		return nil, err
	}
	s, p := k.s, k.p
	kf, err := p.Kronecker()
	if err != nil {
		return nil, err
	}
	loss, g, fs := kf.Loss, kf.Grad, kf.Factors
	det := &KFACDetail{}
	rec = &Step{Iter: k.steps, LossBefore: loss, LossAfter: loss, Fallbacks: k.fallbacks(fs, g), Detail: det}
	if len(rec.Fallbacks) == p.Blocks() && !s.AllowGradientFallback {
		return nil, &errs.ConditionError{Block: -1, Reason: fmt.Sprintf("KFAC: every block would take the plain gradient, none has "+
			"Kronecker factors — %s; set KFACSettings.AllowGradientFallback to run gradient descent with the exact Gauss–Newton step length",
			joinReasons(rec.Fallbacks))}
	}
	if err := k.update(fs, s); err != nil {
		return nil, err
	}
	k.steps++
	d, err := k.direction(g, rec.Fallbacks)
	if err != nil {
		return nil, err
	}
	gd := g.Dot(d)
	if !(gd < 0) { // not a descent direction (rounding at a stationary point): the gradient
		det.Note = fmt.Sprintf("the Kronecker-factored direction is not a descent direction (⟨g, d⟩ = %.3g): the plain gradient taken", gd)
		rec.Fallbacks = append(rec.Fallbacks, BlockFallback{Block: -1, Reason: det.Note})
		d = g.Clone()
		d.Scale(-1)
		gd = -g.Dot(g)
	}
	if gd == 0 {
		det.Note = "no step: the gradient is zero"
		return st.finish(rec)
	}
	gdd, err := p.GGNv(d)
	if err != nil {
		return nil, err
	}
	curv := d.Dot(gdd)
	if !(curv > 0) { // no minimum of the model along d: no step length
		det.Note = k.noCurvature(curv)
		return st.finish(rec)
	}
	alpha := -gd / curv
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	if s.MaxRadius > 0 {
		if limit := s.MaxRadius * math.Max(base.Norm(), 1); alpha*d.Norm() > limit {
			alpha = limit / d.Norm()
		}
	}
	det.Model = alpha*gd + 0.5*alpha*alpha*curv
	ws := base.Clone()
	ws.AddScaled(alpha, d)
	if err := p.SetWeights(ws); err != nil {
		return nil, err
	}
	rec.StepSize, rec.LossAfter = alpha, math.NaN() // not measured: it would add a forward pass to the step
	return st.finish(rec)
}

// update folds this step's factors into the moving averages and
// refactorises the damped factors when due.
func (k *KFAC) update(fs []*hvp.Factors, s KFACSettings) error {
	if len(k.a) != len(fs) {
		k.a, k.dd = make([]*mat.SymDense, len(fs)), make([]*mat.SymDense, len(fs))
		k.ca, k.cd = make([]*mat.Cholesky, len(fs)), make([]*mat.Cholesky, len(fs))
	}
	refresh := k.steps%s.Refresh == 0
	for l, f := range fs {
		if f == nil {
			continue
		}
		if k.a[l] == nil {
			k.a[l], k.dd[l], refresh = f.A, f.DD, true
		} else {
			k.a[l].AddSym(scaledSym(s.Decay, k.a[l]), scaledSym(1-s.Decay, f.A))
			k.dd[l].AddSym(scaledSym(s.Decay, k.dd[l]), scaledSym(1-s.Decay, f.DD))
		}
	}
	if !refresh {
		return nil
	}
	root := math.Sqrt(s.FactorDamping)
	for l := range fs {
		if k.a[l] == nil {
			continue
		}
		var reason string
		if k.ca[l], reason = dampedCholesky(k.a[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "input factor A: " + reason}
		}
		if k.cd[l], reason = dampedCholesky(k.dd[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "adjoint factor DD: " + reason}
		}
	}
	return nil
}

// dampedCholesky factorises m + c·(tr m/n)·I, raising the damping tenfold
// while rounding leaves it not positive definite; undamped (c = 0), it
// factorises m itself or says why not.
func dampedCholesky(m *mat.SymDense, c float64) (*mat.Cholesky, string) {
	n := m.SymmetricDim()
	if c == 0 {
		var ch mat.Cholesky
		if ch.Factorize(m) {
			return &ch, ""
		}
		return nil, fmt.Sprintf("the undamped %d×%d factor is not positive definite (KFACSettings.FactorDamping = NoDamping); set a damping", n, n)
	}
	mean := mat.Trace(m) / float64(n)
	if !(mean > 0) {
		mean = 1 // a zero factor (no signal yet): the identity's scale
	}
	last := c
	for try := 0; try < 8; try++ {
		last = c
		damped := mat.NewSymDense(n, nil)
		damped.CopySym(m)
		for i := range n {
			damped.SetSym(i, i, damped.At(i, i)+c*mean)
		}
		var ch mat.Cholesky
		if ch.Factorize(damped) {
			return &ch, ""
		}
		c = math.Max(10*c, 1e-12)
	}
	return nil, fmt.Sprintf("the damped %d×%d factor is not positive definite, even with its relative damping raised to %.3g", n, n, last)
}

// fallbacks returns the blocks that take the plain gradient this step,
// and why: no factors (the per-sample route's error), or a weight that is
// not the matrix the factors fit.
func (k *KFAC) fallbacks(fs []*hvp.Factors, g *params.Vector) []BlockFallback {
	p := k.p
	lay := g.Layout()
	var out []BlockFallback
	k.kernel = map[int]bool{}
	for l := range p.Blocks() {
		var err error
		k.kernel[l] = fs[l] != nil && fs[l].Transposed
		ws := lay.BlockWeights(l)
		name := p.Block(l).Name()
		if fs[l] == nil {
			err = k.noFactors(l)
		} else if s := lay.Shape(ws[0]); fs[l].Transposed { // a kernel: its values are the DD × A matrix W̃ᵀ (hvp.Factors)
			if ka, kd := fs[l].A.SymmetricDim(), fs[l].DD.SymmetricDim(); len(ws) != 1 || ka*kd != lay.Block(l).Len() || s[0] != kd {
				err = &errs.ConditionError{Block: l, Weight: name,
					Reason: fmt.Sprintf("its factors (%d×%d and %d×%d) do not fit its kernel of shape %v", ka, ka, kd, kd, s)}
			}
		} else if len(s) != 2 {
			err = &errs.ConditionError{Block: l, Weight: name,
				Reason: fmt.Sprintf("K-FAC's direction needs the block's weight as a matrix, and %s has shape %v", p.Weights()[ws[0]].Name(), s)}
		} else {
			size := lay.Block(l).Len()
			if ka, kd := fs[l].A.SymmetricDim(), fs[l].DD.SymmetricDim(); ka*kd != size || s[1] != kd {
				err = &errs.ConditionError{Block: l, Weight: name,
					Reason: fmt.Sprintf("its factors (%d×%d and %d×%d) do not fit its weights (%d values, %d columns)", ka, ka, kd, kd, size, s[1])}
			}
		}
		if err != nil {
			out = append(out, BlockFallback{Block: l, Weight: name, Reason: "plain gradient: " + err.Error(), Err: err})
		}
	}
	return out
}

// noFactors returns why block l has no Kronecker factors: its per-sample
// route's error (hvp.Block.Curvature returns it before running
// anything), found once.
func (k *KFAC) noFactors(l int) error {
	if err, ok := k.why[l]; ok {
		return err
	}
	_, err := k.p.Block(l).Curvature()
	if err == nil {
		err = &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "hvp.Kronecker gave the block no factors"}
	}
	if k.why == nil {
		k.why = map[int]error{}
	}
	k.why[l] = err
	return err
}

// noCurvature says why a direction with ⟨d, G d⟩ = curv ≤ 0 gives no step.
func (k *KFAC) noCurvature(curv float64) string {
	out := "the net's output"
	msg := fmt.Sprintf("no step: the Gauss–Newton curvature along the direction, ⟨d, G d⟩ = %.3g, is not positive, "+
		"so the exact Gauss–Newton model has no minimum along it", curv)
	if curv < 0 {
		return msg + fmt.Sprintf("; G is positive semi-definite only where the loss is convex in the output it linearises at (%s), "+
			"and this loss is not convex there (e.g. a loss of softmax probabilities rather than of their logarithm)", out)
	}
	return msg + "; d lies in G's null space"
}

// direction returns −Ã⁻¹∇W̃D̃⁻¹ for every block with factors (W̃: the
// weight and its bias as one matrix, the bias its last row; a kernel's
// values are W̃ᵀ, hvp.Factors.Transposed, transposed to W̃ and back),
// −g_l for the blocks that fall back.
func (k *KFAC) direction(g *params.Vector, fall []BlockFallback) (*params.Vector, error) {
	p := k.p
	lay := g.Layout()
	plain := map[int]bool{}
	for _, f := range fall {
		plain[f.Block] = true // Block −1 is no block
	}
	d := params.New(lay)
	for l := range p.Blocks() {
		db := d.Block(l)
		if plain[l] || k.ca[l] == nil {
			db.CopyFrom(g.Block(l))
			db.Scale(-1)
			continue
		}
		ws := lay.BlockWeights(l)
		stacked := append([]float64(nil), g.Block(l).Flat()...)
		cols := lay.Shape(ws[0])[1]
		if k.kernel[l] { // a kernel's values are W̃ᵀ (hvp.Factors.Transposed): solved on W̃
			cols = k.dd[l].SymmetricDim()
			stacked = transpose(stacked, cols)
		}
		rows := len(stacked) / cols
		var x, yt mat.Dense
		if err := k.ca[l].SolveTo(&x, mat.NewDense(rows, cols, stacked)); err != nil {
			return nil, err
		}
		if err := k.cd[l].SolveTo(&yt, x.T()); err != nil { // Yᵀ = D̃⁻¹Xᵀ
			return nil, err
		}
		var y mat.Dense
		y.CloneFrom(yt.T())
		u := y.RawMatrix().Data
		if k.kernel[l] {
			u = transpose(u, rows) // back to the kernel's order
		}
		off := 0
		for _, i := range ws {
			part := d.Weight(i)
			for j := range part {
				part[j] = -u[off+j]
			}
			off += len(part)
		}
	}
	return d, nil
}

// transpose returns the transpose of the row-major matrix x of the given
// number of rows.
func transpose(x []float64, rows int) []float64 {
	cols := len(x) / rows
	out := make([]float64, len(x))
	for i := range rows {
		for j := range cols {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

func scaledSym(c float64, m *mat.SymDense) *mat.SymDense {
	var out mat.SymDense
	out.ScaleSym(c, m)
	return &out
}
