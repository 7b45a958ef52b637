package solver

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// KFACSettings configure KFAC; every zero value means the default beside
// it.
type KFACSettings struct {
	// Damping λ: each factor gets √λ times its mean eigenvalue on its
	// diagonal, (A + √λ·tr A/n_A·I) ⊗ (DD + √λ·tr DD/n_D·I), so that the
	// damping is relative and the unknown constant between A ⊗ DD and the
	// Gauss–Newton matrix (hvp.Factors) does not matter (0: 1; on MNIST the
	// loss after a pass is within 5% of the best from 0.3 to 30, README).
	// NoDamping: the factors undamped, (A ⊗ DD)⁻¹ itself; a factor that is
	// not positive definite is then an error naming its block.
	Damping float64
	// Decay, in [0, 1), of the factors' moving averages across steps (0:
	// 0.95; the first step takes its own factors).
	Decay float64
	// Refresh is the number of steps between refactorisations of the
	// damped factors (0: 10).
	Refresh int
	// MaxRadius, if positive, caps every step at MaxRadius·max(‖w‖, 1)
	// (0: no cap).
	MaxRadius float64
}

// KFACRecord records one KFAC step.
type KFACRecord struct {
	Step     int
	Loss     float64 // before the step, on the inputs as bound
	Alpha    float64 // the step along the preconditioned direction
	Model    float64 // the exact quadratic model's change at the step (< 0)
	Gradient int     // blocks that took the plain gradient (no per-sample route)
	Duration time.Duration
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
	P        *hvp.Products
	Settings KFACSettings
	Steps    int
	a, dd    []*mat.SymDense // moving averages, per block
	ca, cd   []*mat.Cholesky // the damped factors, factorised
}

// NewKFAC returns a KFAC on p's weights (settings nil: the defaults).
func NewKFAC(p *hvp.Products, settings *KFACSettings) *KFAC {
	k := &KFAC{P: p}
	if settings != nil {
		k.Settings = *settings
	}
	return k
}

// settings returns k's settings validated and with their defaults, the
// damping as λ (0 with NoDamping).
func (k *KFAC) settings() (KFACSettings, error) {
	s := k.Settings
	if err := s.Validate(); err != nil {
		return s, err
	}
	switch s.Damping {
	case 0:
		s.Damping = 1
	case NoDamping:
		s.Damping = 0
	}
	if s.Decay == 0 {
		s.Decay = 0.95
	}
	if s.Refresh == 0 {
		s.Refresh = 10
	}
	return s, nil
}

// Iterate takes one step on the inputs as bound and binds the new weights.
func (k *KFAC) Iterate() (rec *KFACRecord, err error) {
	defer errs.Recover("solver.KFAC.Iterate", &err)
	t0 := time.Now()
	s, err := k.settings()
	if err != nil {
		return nil, err
	}
	p := k.P
	loss, g, fs, err := p.Kronecker()
	if err != nil {
		return nil, err
	}
	rec = &KFACRecord{Step: k.Steps, Loss: loss}
	if err := k.update(fs, s); err != nil {
		return nil, err
	}
	k.Steps++
	d, plain, err := k.direction(g)
	if err != nil {
		return nil, err
	}
	rec.Gradient = plain
	gd := dotAll(g, d)
	if !(gd < 0) { // not a descent direction (rounding at a stationary point): the gradient
		d, gd = scaledAll(-1, g), -dotAll(g, g)
	}
	if gd == 0 {
		rec.Duration = time.Since(t0)
		return rec, nil
	}
	gdd, err := p.GGNv(d)
	if err != nil {
		return nil, err
	}
	curv := dotAll(d, gdd)
	if !(curv > 0) { // G is positive semidefinite: d in its null space — no model, no step
		rec.Duration = time.Since(t0)
		return rec, nil
	}
	rec.Alpha = -gd / curv
	base, err := p.CurrentWeights()
	if err != nil {
		return nil, err
	}
	if s.MaxRadius > 0 {
		if limit := s.MaxRadius * math.Max(hvp.Norm(base...), 1); rec.Alpha*hvp.Norm(d...) > limit {
			rec.Alpha = limit / hvp.Norm(d...)
		}
	}
	rec.Model = rec.Alpha*gd + 0.5*rec.Alpha*rec.Alpha*curv
	ws := make([]*tensor.Dense, len(base))
	for i := range base {
		ws[i] = axpy(base[i], rec.Alpha, d[i])
	}
	if err := setWeights(p, ws); err != nil {
		return nil, err
	}
	rec.Duration = time.Since(t0)
	return rec, nil
}

// update folds this step's factors into the moving averages and
// refactorises the damped factors when due.
func (k *KFAC) update(fs []*hvp.Factors, s KFACSettings) error {
	if len(k.a) != len(fs) {
		k.a, k.dd = make([]*mat.SymDense, len(fs)), make([]*mat.SymDense, len(fs))
		k.ca, k.cd = make([]*mat.Cholesky, len(fs)), make([]*mat.Cholesky, len(fs))
	}
	refresh := k.Steps%s.Refresh == 0
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
	root := math.Sqrt(s.Damping)
	for l := range fs {
		if k.a[l] == nil {
			continue
		}
		var reason string
		if k.ca[l], reason = dampedCholesky(k.a[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.P.BlockName(l), Reason: "input factor A: " + reason}
		}
		if k.cd[l], reason = dampedCholesky(k.dd[l], root); reason != "" {
			return &errs.ConditionError{Block: l, Weight: k.P.BlockName(l), Reason: "adjoint factor DD: " + reason}
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
		return nil, fmt.Sprintf("the undamped %d×%d factor is not positive definite (KFACSettings.Damping = NoDamping); set a damping", n, n)
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

// direction returns −Ã⁻¹∇W̃D̃⁻¹ for every block with factors (W̃: the
// weight and its bias as one matrix, the bias its last row), −g_l for the
// others, and how many blocks took the gradient.
func (k *KFAC) direction(g []*tensor.Dense) ([]*tensor.Dense, int, error) {
	p := k.P
	d := make([]*tensor.Dense, len(g))
	plain := 0
	for l := range p.Blocks() {
		params := p.Block(l)
		if k.ca[l] == nil || len(g[params[0]].Shape()) != 2 {
			for _, i := range params {
				d[i] = scaled(-1, g[i])
			}
			plain++
			continue
		}
		var stacked []float64
		for _, i := range params {
			stacked = append(stacked, hvp.Data(g[i])...)
		}
		cols := g[params[0]].Shape()[1]
		rows := len(stacked) / cols
		var x, yt mat.Dense
		if err := k.ca[l].SolveTo(&x, mat.NewDense(rows, cols, stacked)); err != nil {
			return nil, 0, err
		}
		if err := k.cd[l].SolveTo(&yt, x.T()); err != nil { // Yᵀ = D̃⁻¹Xᵀ
			return nil, 0, err
		}
		var y mat.Dense
		y.CloneFrom(yt.T())
		u := y.RawMatrix().Data
		off := 0
		for _, i := range params {
			n := g[i].Shape().TotalSize()
			part := append([]float64(nil), u[off:off+n]...)
			for j := range part {
				part[j] = -part[j]
			}
			d[i] = tensor.New(tensor.WithShape(g[i].Shape().Clone()...), tensor.WithBacking(part))
			off += n
		}
	}
	return d, plain, nil
}

func scaledSym(c float64, m *mat.SymDense) *mat.SymDense {
	var out mat.SymDense
	out.ScaleSym(c, m)
	return &out
}
