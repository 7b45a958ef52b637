package solver

import (
	"fmt"
	"math"
	"slices"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// KFACSettings configure KFAC; every zero value means the default beside
// it.
type KFACSettings struct {
	// FactorDamping λ: each factor gets √λ times its mean eigenvalue on its
	// diagonal, (A + √λ·tr A/n_A·I) ⊗ (DD + √λ·tr DD/n_D·I), so that the
	// damping is relative and the unknown constant between A ⊗ DD and the
	// Gauss–Newton matrix (hvp.Factors) does not matter (0: 1; on MNIST the
	// loss after a pass is within 5% of the best from 0.3 to 30, README);
	// an L2 penalty folded into the direction is absolute, and K-FAC
	// measures that constant for it (KFAC's doc).
	// NoDamping: the factors undamped, (A ⊗ DD)⁻¹ itself; a factor that is
	// not positive definite is then an error naming its block.
	FactorDamping float64
	// Decay, in [0, 1), of the factors' moving averages across steps (0:
	// 0.95; the first step takes its own factors).
	Decay float64
	// Refresh, T_inv, is the number of steps between inversions of the
	// damped factors; the steps between apply the last inverses as two
	// matrix products (kfac_amortize.go) (0: 10).
	Refresh int
	// StatsEvery, T_stats, is the number of steps between gatherings of
	// the factors' statistics (hvp.Kronecker, folded into the moving
	// averages); the steps between compute only the gradient (0: 1, every
	// step).
	StatsEvery int
	// StatsSamples, if positive, gathers the dense layers' statistics
	// from the batch's first StatsSamples samples
	// (hvp.Problem.KroneckerSample: K-FAC's statistics on a subset of the
	// minibatch), the gradient still the whole batch's (0: every sample).
	StatsSamples int
	// Momentum makes the update α·d + β·δ₀, δ₀ the previous step's update,
	// with α and β the minimum of the exact Gauss–Newton model (with the
	// guard's Tikhonov μ) over the plane of d and δ₀, solved in closed
	// form (Martens & Grosse 2015 §7; kfac_momentum.go). It costs one
	// hvp.GGNv more a step (G δ₀, 2B rows). false: the 1-D step α·d.
	Momentum bool
	// LearnRate, if positive, fixes the step at LearnRate·d: no
	// Gauss–Newton product and no step guard (kfac-jax's fixed
	// learning_rate), so a step costs a gradient with the factors alone,
	// and its loss after is not measured (Step.LossAfter NaN); a penalty's
	// K (KFAC's doc) keeps the first step's measurement. Not with
	// Momentum, whose (α, β) the model sets. 0: the exact Gauss–Newton
	// step length under the guard.
	LearnRate float64
	// MaxRadius, if positive, caps every step at MaxRadius·max(‖w‖, 1)
	// (0: no cap, the default).
	MaxRadius float64
	// AllowGradientFallback lets a step in which every block takes the
	// plain gradient −g_l (no block has Kronecker factors: e.g. tied
	// weights, used twice by the data term, or the net has no layer
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
	// Model is the damped quadratic model's change at the step (< 0), and
	// Rho the reduction ratio (LossAfter − LossBefore)/Model the step guard
	// measured (kfacguard.go); Damping the guard's Tikhonov μ in the model
	// that set α, and Backtracks the step lengths it rejected because the
	// loss rose (guardTries of them: the step rejected, Note says so).
	Model, Rho, Damping float64
	Backtracks          int
	// Momentum is β, the previous update's coefficient in the step
	// α·d + β·δ₀ (KFACSettings.Momentum; 0 without it, on the first step,
	// after a rejected one, or when Note says the plane degenerated).
	Momentum float64
	// Folds lists the blocks whose L2 penalty (weight decay, method.md
	// §11) this step's direction folded in, and what was folded (KFAC's
	// doc); nil when no block has one.
	Folds []KFACFold
	// KMeasured is the constant K between the factors and the data term's
	// Gauss–Newton matrix measured along this step's direction (KFAC's
	// doc), which the next step folds with; 0 when not measured (no block
	// folds a penalty, a zero gradient, or a measurement that was not
	// positive, which Note then names).
	KMeasured float64
	// Note is empty, or says where the step departs from the
	// Kronecker-factored one: why no step was taken (StepSize 0, the
	// weights unchanged), that the whole direction was replaced by −g
	// (then also a Step.Fallbacks entry of Block −1), a block whose
	// penalty is not L2 and so is not folded (its direction is the data
	// term's factors alone; the step length's exact G includes the
	// penalty), or a measurement of K that was not usable. Several are
	// joined by "; ".
	Note string
}

// KFACFold is what one block's direction folded of its L2 penalty: the
// direction is −(K·Ã ⊗ D̃ + diag(Penalty) ⊗ I)⁻¹ vec(∇W̃) (KFAC's doc).
type KFACFold struct {
	Block  int
	Weight string // the block's name (hvp.Block.Name)
	// Penalty is c_a, per row a of W̃, as hvp.Factors.Penalty: 2λ on the
	// rows of W for λ·Σ W², 0 on an undecayed bias row.
	Penalty []float64
	// K is the constant the step used: the Rayleigh quotient measured along
	// the previous step's direction, or on the first step along the
	// gradient (KFAC's doc); 1 when no measurement was positive.
	K float64
}

// addNote appends a clause to det.Note.
func (det *KFACDetail) addNote(s string) {
	if det.Note != "" {
		det.Note += "; "
	}
	det.Note += s
}

// KFAC is the Kronecker-factored natural-gradient method of Martens and
// Grosse (2015) on newtonia's exact products: per block the direction
// −(Ã⁻¹ ∇W̃ D̃⁻¹) from moving averages of hvp.Kronecker's factors (gathered
// every StatsEvery steps; damped, inverted every Refresh steps and applied
// as two matrix products: kfac_amortize.go), and its length from the exact
// Gauss–Newton quadratic model along it: α = −⟨g, d⟩ / ⟨d, G d⟩ with one
// hvp.GGNv per step, under the step guard (kfacguard.go: a Tikhonov μ
// adapted by the reduction ratio, a step that raises the loss shortened or
// rejected, recorded). A step costs a gradient, a Gauss–Newton product
// and a forward pass over the batch (the first step that folds a penalty:
// two products; each backtrack of the guard: a forward pass more; with
// Momentum, α·d + β·δ₀ from the model over the plane of d and the last
// update δ₀, a product more, kfac_momentum.go);
// nothing is certified exact — the factors are K-FAC's approximation of
// the curvature (with the data's targets bound, of the empirical Fisher),
// only the step length uses the exact G.
//
// A block whose weights an L2 penalty reads (hvp.Factors.Penalty: c_a on
// row a of W̃, 2λ for λ·Σ W²) has the penalty's exact Hessian
// diag(c) ⊗ I added to its factored curvature, as kfac-jax folds L2
// regularisation into its damping: its direction is
//
//	−(K·Ã ⊗ D̃ + diag(c) ⊗ I)⁻¹ vec(∇W̃),
//
// Ã, D̃ the damped factors, solved exactly in their eigenbases (Ã = VΛVᵀ,
// D̃ = USUᵀ: elementwise division by K·λ_a·s_j + c when every row has the
// same c; a bias row with another constant, an undecayed one's 0, is one
// Sherman–Morrison correction per column of W̃, also exact; c differing
// on more than one row is not something hvp reports, and would be folded
// with the mean c, said in Note). K is the constant between A ⊗ DD and the
// data term's Gauss–Newton matrix G_data (1 for a sum reduction, B for a
// mean; hvp.Factors), which damping relative to the factors need not know
// but an absolute penalty does. It is measured, not assumed: the Rayleigh
// quotient K = ⟨d, G_data d⟩ / Σ_l ⟨d_l, (A_l ⊗ DD_l) d_l⟩ over the blocks
// with factors (the moving averages, undamped), with G_data d = G d − c⊙d
// from the step's own hvp.GGNv (no extra product), used by the next step;
// the first step measures it along the gradient (one extra GGNv, once).
// Where A ⊗ DD is G_data itself (one layer, one sample or a sum, a loss
// whose δδᵀ is its Hessian in the output) K = 1 and, undamped, the
// direction is the exact Gauss–Newton step. With the data's targets DD is
// the empirical Fisher's, which shrinks with the residuals while G_data
// does not, so K drifts as the loss falls (on a mean-reduced MLP, B = 32:
// from 24 to over 100 in 30 steps): measuring it each step tracks that,
// and needs no knowledge of the reduction (on that MLP, 3 seeds, the loss
// after 30 steps is within 0.5% of the one with K = B fixed; K = 1, a
// sum's constant, leaves it 30–90% higher, worse than not folding).
// A measurement that is not positive (G_data is only semi-definite, or
// the loss not convex in the output) keeps the previous K (1 at first)
// and says so in Note. A penalty that is not L2 (hvp.Factors.PenaltyErr)
// is not folded: Note names it. The eigendecompositions cost more than
// Cholesky (measured on this 2-core machine: 0.65 s against 0.08 s at
// 785×785), once per refresh.
type KFAC struct {
	meter
	s       KFACSettings // with defaults
	steps   int
	a, dd   []*mat.SymDense // moving averages, per block
	ia, id  []*mat.Dense    // the damped factors' inverses (blocks that fold no penalty; kfac_amortize.go)
	last    []*hvp.Factors  // the factors last gathered (kfac_amortize.go)
	fold    []*foldBlock    // the blocks that fold an L2 penalty, their damped factors' eigenbases
	k       float64         // the measured K (0: not yet)
	noFold  bool            // tests: the penalty left to the step length alone
	unknown map[int]bool    // blocks whose penalty is not L2 (hvp.Factors.PenaltyErr)
	why     map[int]error   // why a block has no factors (the graph's structure: found once)
	kernel  map[int]bool    // the block's factors are a kernel's (hvp.Factors.Transposed), this step
	guard   kfacGuard       // the step guard's damping (kfacguard.go)
	prev    *params.Vector  // δ₀, the last update (KFACSettings.Momentum; nil: none)
	fresh   []*hvp.Factors  // this step's own factors (a statistics step), whose Rows give the gradient (kfac_amortize.go); nil otherwise
}

// foldBlock is a block that folds its L2 penalty: c per row of W̃, and
// the damped factors' eigenbases, Ã = V·diag(la)·Vᵀ and D̃ = U·diag(ls)·Uᵀ.
type foldBlock struct {
	c      []float64
	v, u   *mat.Dense
	la, ls []float64
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
	if s.StatsEvery == 0 {
		s.StatsEvery = 1
	}
	return s
}

// Name is the registry's name, "kfac".
func (k *KFAC) Name() string { return "kfac" }

// Step takes one step on the inputs as bound and binds the new weights
// (Detail: *KFACDetail). Its length comes from the exact Gauss–Newton
// model under the step guard (kfacguard.go): LossAfter is measured (a
// forward pass, ⌈B/2⌉ rows of Cost, more when the guard backtracks), and
// a step that would raise the loss is shortened or rejected, as the
// record says.
func (k *KFAC) Step() (rec *Step, err error) {
	defer errs.Recover("solver.KFAC.Step", &err)
	st, err := k.start()
	if err != nil {
		return nil, err
	}
	s, p := k.s, k.p
	loss, g, fs, stats, err := k.gather() // kfac_amortize.go
	if err != nil {
		return nil, err
	}
	k.fresh = nil
	if stats {
		k.fresh = fs
	}
	det := &KFACDetail{}
	rec = &Step{Iter: k.steps, LossBefore: loss, LossAfter: loss, Fallbacks: k.fallbacks(fs, g), Detail: det}
	if len(rec.Fallbacks) == p.Blocks() && !s.AllowGradientFallback {
		return nil, &errs.ConditionError{Block: -1, Reason: fmt.Sprintf("KFAC: every block would take the plain gradient, none has "+
			"Kronecker factors — %s; set KFACSettings.AllowGradientFallback to run gradient descent with the exact Gauss–Newton step length",
			joinReasons(rec.Fallbacks))}
	}
	k.penaltyNotes(fs, det)
	if err := k.update(fs, s, rec.Fallbacks, stats); err != nil {
		return nil, err
	}
	k.steps++
	if k.folds() && k.k == 0 { // the first step: K along the gradient
		probe := k.measured(g, rec.Fallbacks)
		gp, err := p.GGNv(probe)
		if err != nil {
			return nil, err
		}
		k.k = 1
		if km, why := k.rayleigh(probe, gp); why == "" {
			k.k = km
		} else {
			det.addNote("K along the gradient not measured (" + why + "): K = 1 folded")
		}
	}
	d, err := k.direction(g, rec.Fallbacks, det)
	if err != nil {
		return nil, err
	}
	gd := g.Dot(d)
	if !(gd < 0) { // not a descent direction (rounding at a stationary point): the gradient
		msg := fmt.Sprintf("the Kronecker-factored direction is not a descent direction (⟨g, d⟩ = %.3g): the plain gradient taken", gd)
		det.Folds = nil
		det.addNote(msg)
		rec.Fallbacks = append(rec.Fallbacks, BlockFallback{Block: -1, Reason: msg})
		d = g.Clone()
		d.Scale(-1)
		gd = -g.Dot(g)
	}
	if gd == 0 {
		det.addNote("no step: the gradient is zero")
		k.prev = nil // no update: the next step has no δ₀
		return st.finish(rec)
	}
	if s.LearnRate > 0 {
		return k.fixedStep(st, rec, det, d)
	}
	gdd, err := p.GGNv(d)
	if err != nil {
		return nil, err
	}
	if k.folds() {
		if km, why := k.rayleigh(k.measured(d, rec.Fallbacks), gdd); why == "" {
			k.k, det.KMeasured = km, km
		} else {
			det.addNote(fmt.Sprintf("K along the direction not measured (%s): the next step folds with K = %.3g", why, k.k))
		}
	}
	curv := d.Dot(gdd)
	if !(curv > 0) { // no minimum of the model along d: no step length
		det.addNote(k.noCurvature(curv))
		k.prev = nil
		return st.finish(rec)
	}
	base := st.w0 // the weights at the start: nothing has moved them
	limit := 0.0
	if s.MaxRadius > 0 {
		limit = s.MaxRadius * math.Max(base.Norm(), 1)
	}
	sub := line(d, gd, curv)
	if s.Momentum && k.prev != nil { // the plane of d and δ₀ (kfac_momentum.go)
		gp, err := p.GGNv(k.prev)
		if err != nil {
			return nil, err
		}
		var why string
		if sub, why = sub.plane(g, k.prev, gdd, gp); why != "" {
			det.addNote(why)
		}
	}
	ws, err := k.guardedStep(rec, det, base, sub, limit) // kfacguard.go
	if err != nil {
		return nil, err
	}
	if ws != nil { // the accepted step's weights, bound and needed no more
		return st.finishAt(rec, ws), nil
	}
	return st.finish(rec)
}

// fixedStep takes the step LearnRate·d from the weights at the start
// (capped by MaxRadius), unguarded and with no product: the loss after it
// is not measured (LossAfter NaN). A non-finite step is an
// *errs.NotFiniteError naming the weight, before anything moves.
func (k *KFAC) fixedStep(st stepStart, rec *Step, det *KFACDetail, d *params.Vector) (*Step, error) {
	alpha := k.s.LearnRate
	if r := k.s.MaxRadius; r > 0 {
		if dn, limit := d.Norm(), r*math.Max(st.w0.Norm(), 1); alpha*dn > limit {
			alpha = limit / dn
			det.addNote(fmt.Sprintf("step capped by MaxRadius: α %.3g → %.3g", k.s.LearnRate, alpha))
		}
	}
	ws := d // w0 + α·d in d's memory (no one reads d after): the sum of α·d and w0, as w0.AddScaled(α, d) rounds it
	ws.Scale(alpha)
	ws.AddScaled(1, st.w0)
	if w, i, bad := ws.FirstNonFinite(); bad {
		return nil, &errs.NotFiniteError{What: fmt.Sprintf("KFAC's step (KFACSettings.LearnRate = %g): weight %s", k.s.LearnRate, k.p.Weights()[w].Name()),
			Index: i, Value: ws.Weight(w)[i]}
	}
	if err := k.p.SetWeights(ws); err != nil {
		return nil, err
	}
	rec.StepSize, rec.LossAfter = alpha, math.NaN()
	return st.finishAt(rec, ws), nil // ws is bound (copied into new tensors) and needed no more
}

// update folds this step's factors into the moving averages (stats: they
// are this step's own, kfac_amortize.go) and, when due, refactorises the
// damped factors: their inverses for a block without an L2 penalty, the
// eigenbases for one that folds its penalty (KFAC's doc).
func (k *KFAC) update(fs []*hvp.Factors, s KFACSettings, fall []BlockFallback, stats bool) error {
	if len(k.a) != len(fs) {
		k.a, k.dd = make([]*mat.SymDense, len(fs)), make([]*mat.SymDense, len(fs))
		k.ia, k.id = make([]*mat.Dense, len(fs)), make([]*mat.Dense, len(fs))
		k.fold = make([]*foldBlock, len(fs))
	}
	plain := plainSet(fall)
	refresh := k.steps%s.Refresh == 0
	for l, f := range fs {
		if f == nil || !stats {
			continue
		}
		if f.A == nil { // a dense layer's rows (hvp.Problem.KroneckerRows): folded by one Dgemm each
			refresh = refresh || k.a[l] == nil
			k.a[l], k.dd[l] = emaRows(k.a[l], k.dd[l], f, s.Decay)
		} else if k.a[l] == nil {
			k.a[l], k.dd[l], refresh = f.A, f.DD, true
		} else {
			emaSym(k.a[l], f.A, s.Decay) // kfac_amortize.go
			emaSym(k.dd[l], f.DD, s.Decay)
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
		k.fold[l], k.ia[l], k.id[l] = nil, nil, nil
		if c := foldable(fs[l]); c != nil && !k.noFold && !plain[l] {
			fb, err := k.eigenFactors(l, c, root)
			if err != nil {
				return err
			}
			k.fold[l] = fb
			continue
		}
		var reason string
		if k.ia[l], reason = dampedInverse(k.a[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "input factor A: " + reason}
		}
		if k.id[l], reason = dampedInverse(k.dd[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "adjoint factor DD: " + reason}
		}
	}
	return nil
}

// foldable returns the penalty constants a block folds (hvp.Factors.Penalty
// with some c > 0), or nil.
func foldable(f *hvp.Factors) []float64 {
	if f == nil || f.Penalty == nil {
		return nil
	}
	for _, c := range f.Penalty {
		if c > 0 {
			return f.Penalty
		}
	}
	return nil
}

// eigenFactors returns block l's damped factors in their eigenbases: the
// eigenvalues of the moving averages (a Gram matrix's, so those below 0
// are rounding and taken as 0) plus root times the factor's mean
// eigenvalue (0 undamped: the penalty keeps the system positive definite).
func (k *KFAC) eigenFactors(l int, c []float64, root float64) (*foldBlock, error) {
	fb := &foldBlock{c: c}
	var err error
	if fb.v, fb.la, err = dampedEigen(k.a[l], root); err != nil {
		return nil, &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "input factor A: " + err.Error()}
	}
	if fb.u, fb.ls, err = dampedEigen(k.dd[l], root); err != nil {
		return nil, &errs.ConditionError{Block: l, Weight: k.p.Block(l).Name(), Reason: "adjoint factor DD: " + err.Error()}
	}
	return fb, nil
}

// dampedEigen returns the eigenvectors of m and its eigenvalues, clamped
// at 0, plus root·(tr m/n) (a zero trace: the identity's scale, as
// dampedCholesky).
func dampedEigen(m *mat.SymDense, root float64) (*mat.Dense, []float64, error) {
	n := m.SymmetricDim()
	var es mat.EigenSym
	if !es.Factorize(m, true) {
		return nil, nil, fmt.Errorf("the eigendecomposition of the %d×%d factor did not converge", n, n)
	}
	vals := es.Values(nil)
	var v mat.Dense
	es.VectorsTo(&v)
	mean := mat.Trace(m) / float64(n)
	if !(mean > 0) {
		mean = 1
	}
	for i, x := range vals {
		if !(x >= 0) {
			if math.IsNaN(x) {
				return nil, nil, fmt.Errorf("the %d×%d factor has a NaN eigenvalue", n, n)
			}
			x = 0
		}
		vals[i] = x + root*mean
	}
	return &v, vals, nil
}

// folds reports whether some block folds an L2 penalty.
func (k *KFAC) folds() bool {
	for _, f := range k.fold {
		if f != nil {
			return true
		}
	}
	return false
}

// penaltyNotes says in det.Note which blocks' penalties are not L2 and so
// not folded, and keeps them (k.unknown: K's measurement cannot subtract
// their Hessian).
func (k *KFAC) penaltyNotes(fs []*hvp.Factors, det *KFACDetail) {
	k.unknown = map[int]bool{}
	for l, f := range fs {
		if f != nil && f.PenaltyErr != nil {
			k.unknown[l] = true
			det.addNote(fmt.Sprintf("block %d (%s): its penalty is not folded into the direction, which is the data term's factors alone "+
				"(the step length's exact G includes the penalty): %v", l, k.p.Block(l).Name(), f.PenaltyErr))
		}
	}
}

// measured returns v on the blocks K is measured on (those with factors
// that take no plain gradient and whose penalty, if any, is L2: its
// Hessian is known), 0 elsewhere.
func (k *KFAC) measured(v *params.Vector, fall []BlockFallback) *params.Vector {
	plain := plainSet(fall)
	out := params.New(v.Layout())
	for l := range k.p.Blocks() {
		if k.a[l] == nil || plain[l] || k.unknown[l] {
			continue
		}
		out.Block(l).CopyFrom(v.Block(l))
	}
	return out
}

// rayleigh returns K = ⟨v, G_data v⟩ / Σ_l ⟨v_l, (A_l ⊗ DD_l) v_l⟩ for v
// zero off the measured blocks and gv = G v (GGNv, the L2 penalties'
// Hessian c⊙v subtracted here), or why not.
func (k *KFAC) rayleigh(v, gv *params.Vector) (float64, string) {
	num, den := 0.0, 0.0
	for l := range k.p.Blocks() {
		vb := v.Block(l).Flat()
		if k.a[l] == nil || floats.Norm(vb, 2) == 0 {
			continue
		}
		num += floats.Dot(vb, gv.Block(l).Flat())
		cols := k.dd[l].SymmetricDim()
		rows := len(vb) / cols
		if k.kernel[l] { // a kernel's values are W̃ᵀ (hvp.Factors.Transposed)
			vb = transpose(vb, cols)
		}
		if f := k.fold[l]; f != nil {
			for a := range rows {
				r := vb[a*cols : (a+1)*cols]
				num -= f.c[a] * floats.Dot(r, r)
			}
		}
		x := mat.NewDense(rows, cols, vb)
		var ax, axd mat.Dense
		ax.Mul(k.a[l], x)
		axd.Mul(&ax, k.dd[l])
		den += mat.Sum(mulElem(x, &axd))
	}
	switch {
	case !(den > 0) || math.IsInf(den, 0):
		return 0, fmt.Sprintf("Σ⟨v, (A ⊗ DD) v⟩ = %.3g", den)
	case !(num > 0) || math.IsInf(num, 0):
		return 0, fmt.Sprintf("⟨v, G_data v⟩ = %.3g is not positive", num)
	}
	return num / den, ""
}

func mulElem(a, b *mat.Dense) *mat.Dense {
	var out mat.Dense
	out.MulElem(a, b)
	return &out
}

// plainSet is the set of blocks that take the plain gradient.
func plainSet(fall []BlockFallback) map[int]bool {
	plain := map[int]bool{}
	for _, f := range fall {
		plain[f.Block] = true // Block −1 is no block
	}
	return plain
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
			if ka, kd := factorDims(fs[l]); len(ws) != 1 || ka*kd != lay.Block(l).Len() || s[0] != kd {
				err = &errs.ConditionError{Block: l, Weight: name,
					Reason: fmt.Sprintf("its factors (%d×%d and %d×%d) do not fit its kernel of shape %v", ka, ka, kd, kd, s)}
			}
		} else if s = kfacShape(s); len(s) != 2 {
			err = &errs.ConditionError{Block: l, Weight: name,
				Reason: fmt.Sprintf("K-FAC's direction needs the block's weight as a matrix (or a vector, one output), and %s has shape %v", p.Weights()[ws[0]].Name(), s)}
		} else {
			size := lay.Block(l).Len()
			if ka, kd := factorDims(fs[l]); ka*kd != size || s[1] != kd {
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
// values are W̃ᵀ, hvp.Factors.Transposed, transposed to W̃ and back), with
// an L2 penalty −(K·Ã ⊗ D̃ + diag(c) ⊗ I)⁻¹vec(∇W̃) (recorded in
// det.Folds), and −g_l for the blocks that fall back.
func (k *KFAC) direction(g *params.Vector, fall []BlockFallback, det *KFACDetail) (*params.Vector, error) {
	p := k.p
	lay := g.Layout()
	plain := plainSet(fall)
	d := params.New(lay)
	for l := range p.Blocks() {
		db := d.Block(l)
		if plain[l] || k.ia[l] == nil && k.fold[l] == nil {
			db.CopyFrom(g.Block(l))
			db.Scale(-1)
			continue
		}
		ws := lay.BlockWeights(l)
		stacked := g.Block(l).Flat() // g's memory, only read: transpose copies, the solves read
		cols := kfacShape(lay.Shape(ws[0]))[1]
		if k.kernel[l] { // a kernel's values are W̃ᵀ (hvp.Factors.Transposed): solved on W̃
			cols = k.dd[l].SymmetricDim()
			stacked = transpose(stacked, cols)
		}
		rows := len(stacked) / cols
		var y mat.Dense
		if fb := k.fold[l]; fb != nil {
			note, err := fb.solve(&y, mat.NewDense(rows, cols, stacked), k.k)
			if err != nil {
				return nil, &errs.ConditionError{Block: l, Weight: p.Block(l).Name(), Reason: err.Error()}
			}
			if note != "" {
				det.addNote(fmt.Sprintf("block %d (%s): %s", l, p.Block(l).Name(), note))
			}
			det.Folds = append(det.Folds, KFACFold{Block: l, Weight: p.Block(l).Name(), Penalty: fb.c, K: k.k})
		} else if f := k.rowsOf(l); f != nil && rowsCheaper(f, rows, cols) { // (Ã⁻¹h̃ᵀ)(δD̃⁻¹): kfac_amortize.go
			y = *applyInversesRows(k.ia[l], k.id[l], f.Rows, f.Delta)
		} else {
			y = *applyInverses(k.ia[l], k.id[l], mat.NewDense(rows, cols, stacked))
		}
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

// solve sets x to the solution of K·Ã·X·D̃ + diag(c)·X = gr (row-major
// vec: (K·Ã ⊗ D̃ + diag(c) ⊗ I) vec X = vec gr) in the eigenbases: with
// Ĝ = Vᵀ·gr·U, Z = Vᵀ·X·U and every c_a = c₀, z_aj = ĝ_aj/(K·λ_a·s_j + c₀);
// one row r with c_r ≠ c₀ (a bias's) is, per column j, the rank-one
// correction β·e_r·e_rᵀ (β = c_r − c₀) of M_j = K·s_j·Ã + c₀I by
// Sherman–Morrison, with w = Vᵀe_r (row r of V):
//
//	z_j = M_j⁻¹ĝ_j − β·M_j⁻¹w·(wᵀM_j⁻¹ĝ_j) / (1 + β·wᵀM_j⁻¹w),
//
// its denominator Σ_a w_a²·(K·λ_a·s_j + c_r)/(K·λ_a·s_j + c₀) (Σ w_a² = 1),
// which must be positive (the system positive definite). More rows off c₀
// (offRow) fold the mean c instead, which the returned note says.
func (fb *foldBlock) solve(x *mat.Dense, gr *mat.Dense, K float64) (string, error) {
	k, n := len(fb.la), len(fb.ls)
	c0, r := offRow(fb.c)
	note := ""
	if r == -2 {
		c0, r = floats.Sum(fb.c)/float64(k), -1
		note = fmt.Sprintf("its penalty's constants differ on more than one row: their mean, %.3g, folded on every row", c0)
	}
	var t, z mat.Dense
	t.Mul(fb.v.T(), gr)
	z.Mul(&t, fb.u)
	zr := z.RawMatrix()
	if r < 0 {
		for a := range k {
			for j := range n {
				zr.Data[a*zr.Stride+j] /= K*fb.la[a]*fb.ls[j] + c0
			}
		}
	} else {
		beta := fb.c[r] - c0
		w := mat.Row(nil, r, fb.v)
		for j := range n {
			wz, den := 0.0, 0.0
			for a := range k {
				m := K*fb.la[a]*fb.ls[j] + c0
				if !(m > 0) { // c₀ = 0 (only row r decayed) on undamped singular factors
					return "", fmt.Errorf("K·Ã ⊗ D̃ + c₀I is singular (c₀ = %g on every row of W̃ but %d; the factors undamped, "+
						"KFACSettings.FactorDamping = NoDamping); set a damping", c0, r)
				}
				zr.Data[a*zr.Stride+j] /= m
				wz += w[a] * zr.Data[a*zr.Stride+j]
				den += w[a] * w[a] * (K*fb.la[a]*fb.ls[j] + fb.c[r]) / m
			}
			if !(den > 1e-14) {
				row := fmt.Sprintf("row %d of W̃", r)
				if r == k-1 {
					row += " (its bias)"
				}
				return "", fmt.Errorf("K·Ã ⊗ D̃ + diag(c) ⊗ I is not positive definite (column %d of W̃ in D̃'s eigenbasis: Sherman–Morrison "+
					"denominator %.3g; the factors undamped, KFACSettings.FactorDamping = NoDamping, and %s has penalty constant %g); set a damping",
					j, den, row, fb.c[r])
			}
			s := beta * wz / den
			for a := range k {
				zr.Data[a*zr.Stride+j] -= s * w[a] / (K*fb.la[a]*fb.ls[j] + c0)
			}
		}
	}
	t.Mul(fb.v, &z)
	x.Mul(&t, fb.u.T())
	return note, nil
}

// offRow returns the constant c₀ on every row of c but at most one, and
// that row r (−1: none, c uniform); r = −2 when c differs on more rows.
// Two rows of two values: c₀ the larger (M_j then positive definite).
func offRow(c []float64) (c0 float64, r int) {
	c0, r = slices.Max(c), -1
	var off []int
	for a, x := range c {
		if x != c0 {
			off = append(off, a)
		}
	}
	switch {
	case len(off) == 0:
		return c0, -1
	case len(off) == 1:
		return c0, off[0]
	}
	// c₀ on one row, another value on every other: that row is r.
	lo := c[off[0]]
	for _, a := range off {
		if c[a] != lo {
			return c0, -2
		}
	}
	if len(off) == len(c)-1 {
		return lo, slices.Index(c, c0)
	}
	return c0, -2
}

// kfacShape is the matrix shape K-FAC's factors see a weight in: a matrix
// as it is, a vector w of a layer x·w (one output, hvp.Factors' DD 1×1)
// as the column it multiplies by, (k, 1).
func kfacShape(s []int) []int {
	if len(s) == 1 {
		return []int{s[0], 1}
	}
	return s
}
