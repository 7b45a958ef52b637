package solver

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
)

// Householder is a method of Householder's family for a block's
// stationarity equation g_l(w) = ∇_l J(w) = 0, built from the exact
// B-pass (u = H_ll⁻¹ v) and the exact third directional derivatives
// T[a, b] = ∇³_lll J[a, b] (hvp.Block.Third). With u = H⁻¹g the Newton
// direction (the Newton step is −u):
//
//	Newton     s = −u                                        order 2
//	Chebyshev  s = −u − ½ H⁻¹ T[u, u]                        order 3
//	Halley     s = −(H − ½ T[u])⁻¹ g                         order 3
//
// where T[u] is the matrix b ↦ T[u, b]. Halley's is written with the
// Newton step n = −u as −(H + ½ T[n])⁻¹ g; in one dimension both are
// x − 2gH/(2H² − gT). Its linear system is solved preconditioned by the
// exact B-pass:
//
//	(I − ½ H⁻¹ T[u]) s = −u,
//
// by default inexactly, by its fixed point s ← −u + ½ H⁻¹ T[u, s] from
// s₀ = −u (each iteration one B-pass and one Third; the first iterate is
// Chebyshev's step), stopped by a forcing term that keeps order 3: the
// residual ≤ κ·min(θ², 1)·‖g‖, θ = ‖s₁ − s₀‖/‖u‖ = O(‖u‖) the relative
// size of the cubic correction (halleyInexact). The fixed point contracts
// only while ‖½ H⁻¹ T[u]‖ < 1, which fails away from the solution: there
// the step falls back to GMRES from s₀ = −u, and says so. With
// HouseholderOptions.ExactHalley GMRES solves the system to GMRESTol
// (each iteration one Third and one B-pass). The Householder step of
// degree 3 (quartic) needs ∇⁴J, which the ops' rules do not give: it is
// not offered.
type Householder int

const (
	// HouseholderNewton is the Newton step (degree 1).
	HouseholderNewton Householder = iota
	// HouseholderHalley is Halley's step (degree 2).
	HouseholderHalley
	// HouseholderChebyshev is Chebyshev's step (cubic, like Halley's,
	// with u and T[u, u] from one run, hvp.Block.InvHvThird, then one
	// repeated B-pass, and no inner iteration).
	HouseholderChebyshev
)

var householderNames = [...]string{"newton", "halley", "chebyshev"}

func (h Householder) String() string {
	if h < 0 || int(h) >= len(householderNames) {
		return fmt.Sprintf("Householder(%d)", int(h))
	}
	return householderNames[h]
}

// HouseholderOptions configure BlockHouseholder. Zero values take the
// defaults beside them.
type HouseholderOptions struct {
	// Checks are the B-pass products' checks (zero: hvp.Options'
	// defaults). Every product must be certified unless they ask for
	// best effort, and the step's certificate, the residual of its
	// defining equation relative to ‖g‖, must be within Checks.Tol (0:
	// hvp.DefaultTol) too.
	Checks hvp.Options
	// GMRESTol is where Halley's GMRES stops: a preconditioned residual
	// of GMRESTol·‖u‖ (0: 1e-14, near rounding, so that the step is as
	// exact as the B-pass; a looser one limits the order near the end).
	GMRESTol float64
	// MaxIter caps Halley's GMRES iterations (0: 50).
	MaxIter int
	// ExactHalley solves Halley's system by GMRES to GMRESTol (the exact
	// step) instead of the inexact fixed point.
	ExactHalley bool
	// Forcing is κ of the inexact Halley step: its fixed point stops at a
	// residual ≤ κ·min(θ², 1) relative to ‖g‖ (0: 1). Any κ keeps order
	// 3; at κ ≥ 1 the first iterate (Chebyshev's step) usually passes.
	Forcing float64
	// MaxInner caps the inexact step's fixed-point iterations before it
	// falls back to GMRES (0: 4).
	MaxInner int
	// FullSteps turns off IterateBlock's rule that takes the Newton step
	// where the cubic correction cannot matter (skipCorrection): every
	// step is then the method's own.
	FullSteps bool
	// SkipSafety is the factor by which that rule inflates ‖½T[u, u]‖,
	// the leading term of the gradient after the Newton step, before
	// comparing it with the tolerance (0: 100; it must be ≥ 1 to be
	// conservative, but any finite value > 0 is accepted so that tests
	// can show what an optimistic one does).
	SkipSafety float64
}

func (o *HouseholderOptions) withDefaults() (HouseholderOptions, error) {
	var s HouseholderOptions
	if o != nil {
		s = *o
	}
	if s.GMRESTol == 0 {
		s.GMRESTol = 1e-14
	}
	if s.MaxIter == 0 {
		s.MaxIter = 50
	}
	if s.Forcing == 0 {
		s.Forcing = 1
	}
	if s.MaxInner == 0 {
		s.MaxInner = 4
	}
	if s.SkipSafety == 0 {
		s.SkipSafety = 100
	}
	if !(s.SkipSafety > 0) || math.IsInf(s.SkipSafety, 0) {
		return s, &errs.ArgumentError{What: "HouseholderOptions.SkipSafety", Value: s.SkipSafety, Reason: "want a finite factor > 0 (0: 100)"}
	}
	if !(s.Forcing > 0) || math.IsInf(s.Forcing, 0) {
		return s, &errs.ArgumentError{What: "HouseholderOptions.Forcing", Value: s.Forcing, Reason: "want a finite κ > 0 (0: 1)"}
	}
	if s.MaxInner < 0 {
		return s, &errs.ArgumentError{What: "HouseholderOptions.MaxInner", Value: s.MaxInner, Reason: "want ≥ 0 (0: 4)"}
	}
	if !(s.GMRESTol > 0 && s.GMRESTol < 1) {
		return s, &errs.ArgumentError{What: "HouseholderOptions.GMRESTol", Value: s.GMRESTol, Reason: "want 0 < GMRESTol < 1 (0: 1e-14)"}
	}
	if s.Checks.Tol < 0 || math.IsNaN(s.Checks.Tol) {
		return s, &errs.ArgumentError{What: "HouseholderOptions.Checks.Tol", Value: s.Checks.Tol, Reason: "want ≥ 0 (0: hvp.DefaultTol)"}
	}
	if s.MaxIter < 0 {
		return s, &errs.ArgumentError{What: "HouseholderOptions.MaxIter", Value: s.MaxIter, Reason: "want ≥ 0 (0: 50)"}
	}
	return s, nil
}

// HouseholderStep is one block's step of a Householder method.
type HouseholderStep struct {
	Method Householder
	S      *params.Vector // the step: w_l ← w_l + S (of the block's layout)
	U      *hvp.Result    // the B-pass's u = H_ll⁻¹ g_l, with its certificate
	// Residual is the certificate of S, the residual of its defining
	// equation relative to ‖g‖:
	//
	//	Newton     ‖H S + g‖, the B-pass's residual of u
	//	Chebyshev  ‖H S + g + ½ T[u, u]‖, bounded by the residuals of its
	//	           two B-passes: ‖H u − g‖ + ½ ‖H c − T[u, u]‖, c = H⁻¹T[u, u]
	//	Halley     ‖(H − ½ T[u]) S + g‖: exact, by one Hv and one Third,
	//	           after GMRES; bounded by the B-pass residuals and the
	//	           last two Thirds after the fixed point (halleyInexact)
	Residual  float64
	Certified bool // every B-pass certified and Residual ≤ max(Checks.Tol, Forcing)
	// Iterations are Halley's inner iterations, one B-pass and one Third
	// each: the fixed point's, plus GMRES's after a fallback (1 for
	// Chebyshev, 0 for Newton).
	Iterations int
	// Solve says how Halley's system was solved: "gmres" (ExactHalley),
	// "fixed point", or "gmres after the fixed point …" and why it fell
	// back ("" for Newton and Chebyshev).
	Solve string
	// Forcing is the inexact Halley step's target κ·min(θ², 1) for its
	// relative residual (0 when GMRES solved it to GMRESTol).
	Forcing float64
	// Flops are those of the step's B-passes (hvp.Result.Flops); its
	// Third and Hv products are counted in the Problem's Stats.
	Flops float64
	// Correction is ‖½ T[u, u]‖, the size of the cubic term that
	// Chebyshev's and the inexact Halley step correct for (the leading
	// term of the gradient after the Newton step −u): computed with u for
	// those methods (hvp.Block.InvHvThird), skipped or not; 0 for
	// Newton's and exact Halley's steps.
	Correction float64
	// Skipped, when not empty, says why IterateBlock took the Newton
	// step instead of the method's (Method is then HouseholderNewton),
	// e.g. "correction skipped: ‖½T[u,u]‖ 3.1e-16 times safety 100,
	// plus ‖Hu − g‖ 2e-17: 3.1e-14 ≤ tol 1e-12".
	Skipped string
}

// BlockHouseholder returns block l's step of method m for g_l = ∇_l J = 0
// at the current weights, g the block's gradient (of its layout), with its
// certificate. An uncertified step (a B-pass refused or failing its checks,
// Halley's GMRES not converged) is an error — an
// *errs.ConditionError naming the block — unless opt.Checks asks for best
// effort, when it is returned with Certified false.
func BlockHouseholder(p *hvp.Problem, l int, g *params.Vector, m Householder, opt *HouseholderOptions) (st *HouseholderStep, err error) {
	defer errs.Recover("solver.BlockHouseholder", &err)
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return blockHouseholder(p, l, g, m, o, 0)
}

// blockHouseholder is BlockHouseholder with options already defaulted;
// with skipTol > 0 a Chebyshev or inexact Halley step takes the Newton
// step instead where skipCorrection says its correction cannot matter
// for reaching skipTol (recorded in Skipped).
func blockHouseholder(p *hvp.Problem, l int, g *params.Vector, m Householder, o HouseholderOptions, skipTol float64) (st *HouseholderStep, err error) {
	if m < HouseholderNewton || m > HouseholderChebyshev {
		return nil, &errs.ArgumentError{What: "method", Value: m, Reason: "want HouseholderNewton, HouseholderHalley or HouseholderChebyshev"}
	}
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	best := o.Checks.BestEffort
	// Chebyshev's and the inexact Halley step need T[u, u]: it comes with
	// u from one run (InvHvThird).
	var res *hvp.Result
	var tuu *params.Vector
	if m == HouseholderChebyshev || m == HouseholderHalley && !o.ExactHalley {
		res, tuu, err = b.InvHvThird(g, &o.Checks)
	} else {
		res, err = b.InvHv(g, &o.Checks)
	}
	if err != nil {
		return nil, err
	}
	st = &HouseholderStep{Method: m, U: res, Flops: res.Flops, Certified: res.Certified}
	u := res.U
	gn := g.Norm()
	if gn == 0 {
		st.S = params.New(b.Layout())
		return st, nil
	}
	s := u.Clone()
	s.Scale(-1)
	if tuu != nil {
		st.Correction = 0.5 * tuu.Norm()
		if why := skipCorrection(res, st.Correction, gn, skipTol, o.SkipSafety); why != "" {
			m, st.Method, st.Skipped = HouseholderNewton, HouseholderNewton, why
		}
	}
	switch m {
	case HouseholderNewton:
		st.Residual = res.Residual // ‖H S + g‖/‖g‖ = ‖H u − g‖/‖g‖, the B-pass's certificate
	case HouseholderChebyshev:
		c, err := b.InvHv(tuu, &o.Checks)
		if err != nil {
			return nil, err
		}
		st.Flops += c.Flops
		st.Certified = st.Certified && c.Certified
		s.AddScaled(-0.5, c.U)
		// H S + g + ½T[u, u] = −(H u − g) − ½(H c − T[u, u]): bounded by
		// the two B-pass certificates, with no further product.
		st.Residual = res.Residual + 0.5*c.Residual*tuu.Norm()/gn
		st.Iterations = 1
	case HouseholderHalley:
		if !o.ExactHalley {
			ok, err := halleyInexact(b, g, res, tuu, &o, st)
			if err != nil {
				return nil, err
			}
			if ok {
				s = st.S
				break
			}
		} else {
			st.Solve = "gmres"
		}
		if s, err = halley(b, u, &o, st); err != nil {
			return nil, err
		}
		// ‖(H − ½T[u]) S + g‖/‖g‖ by the exact Hv and Third.
		t, err := b.Third(u, s)
		if err != nil {
			return nil, err
		}
		hs, err := b.Hv(s)
		if err != nil {
			return nil, err
		}
		hs.AddScaled(-0.5, t)
		hs.AddScaled(1, g)
		st.Residual = hs.Norm() / gn
	}
	st.S = s
	tol := o.Checks.Tol
	if tol == 0 {
		tol = hvp.DefaultTol
	}
	if !(st.Residual <= math.Max(tol, st.Forcing)) {
		st.Certified = false
	}
	if !st.Certified && !best {
		return nil, &errs.ConditionError{Block: l, Weight: b.Name(), Reason: fmt.Sprintf("%s step: residual %.3g of its equation (tolerance %.3g) after %d iterations, or a B-pass not certified", m, st.Residual, tol, st.Iterations), Value: st.Residual}
	}
	return st, nil
}

// BlockTrace is the record of IterateBlock: ‖g_l‖ at each iterate (the
// first at the start) and the seconds elapsed when it was reached.
type BlockTrace struct {
	Method  Householder
	Errors  []float64
	Seconds []float64
	Steps   []*HouseholderStep // one per step taken
}

// Skipped returns how many of the trace's steps took the Newton step
// instead of the method's (HouseholderStep.Skipped).
func (tr *BlockTrace) Skipped() (n int) {
	for _, st := range tr.Steps {
		if st.Skipped != "" {
			n++
		}
	}
	return n
}

// IterateBlock solves ∇_l J = 0 for block l alone, the other weights fixed,
// by full steps of method m from the current weights (no line search: the
// local convergence of the method itself), until ‖g_l‖ ≤ tol or maxIter
// steps; it leaves the weights at the last iterate. Unless
// opt.FullSteps, a Chebyshev or Halley step whose Newton step is
// predicted to reach tol by itself takes the Newton step (skipCorrection;
// HouseholderStep.Skipped says so). A step that fails
// (uncertified without best effort, a B-pass refused) ends the run with
// its error and the trace so far.
func IterateBlock(p *hvp.Problem, l int, m Householder, maxIter int, tol float64, opt *HouseholderOptions) (tr *BlockTrace, err error) {
	defer errs.Recover("solver.IterateBlock", &err)
	if _, err := block(p, l); err != nil {
		return nil, err
	}
	if maxIter < 0 {
		return nil, &errs.ArgumentError{What: "maxIter", Value: maxIter, Reason: "want ≥ 0"}
	}
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	tr = &BlockTrace{Method: m}
	skipTol := tol
	if o.FullSteps {
		skipTol = 0
	}
	start := time.Now()
	for k := 0; ; k++ {
		_, g, err := p.Gradient()
		if err != nil {
			return tr, err
		}
		gl := g.Block(l).Clone()
		e := gl.Norm()
		tr.Errors = append(tr.Errors, e)
		tr.Seconds = append(tr.Seconds, time.Since(start).Seconds())
		if e <= tol || k == maxIter || math.IsNaN(e) {
			return tr, nil
		}
		st, err := blockHouseholder(p, l, gl, m, o, skipTol)
		if err != nil {
			return tr, err
		}
		tr.Steps = append(tr.Steps, st)
		w, err := p.Current()
		if err != nil {
			return tr, err
		}
		w.Block(l).AddScaled(1, st.S)
		if err := p.SetWeights(w); err != nil {
			return tr, err
		}
	}
}

// Orders returns the estimated order of convergence at each iterate,
// log(e_{k+1}/e_k) / log(e_k/e_{k−1}), for errors e of one run (the
// entries where e_k is still above floor, so that rounding does not make
// the last estimates meaningless; nil for fewer than three errors).
func Orders(e []float64, floor float64) []float64 {
	var out []float64
	for k := 1; k+1 < len(e); k++ {
		if e[k+1] <= floor || e[k] <= 0 || e[k-1] <= 0 {
			break
		}
		out = append(out, math.Log(e[k+1]/e[k])/math.Log(e[k]/e[k-1]))
	}
	return out
}

// StepOrder estimates method m's order of convergence on block l near a
// solution center (the weights, of the problem's layout) by one step from
// each start center + r·(start − center) on block l, r in radii (center
// and start of the problem's layout, the other blocks at center's): the
// least-squares slope of log e₁ against log e₀, e₀ = ‖∇_l J‖ at the start
// and e₁ after the step. Unlike Orders of one run, whose few error
// triples straddle the pre-asymptotic start and the rounding floor, every
// point is in the asymptotic regime for small radii, and a point whose e₁
// is at most floor (rounding's) is dropped; with fewer than two points
// left (T = 0: one step solves the block's quadratic) the order is NaN.
// The weights are left at center. It returns the points with the slope.
func StepOrder(p *hvp.Problem, l int, m Householder, center, start *params.Vector, radii []float64, floor float64, opt *HouseholderOptions) (order float64, e0, e1 []float64, err error) {
	defer errs.Recover("solver.StepOrder", &err)
	defer func() {
		if e := p.SetWeights(center); err == nil {
			err = e
		}
	}()
	dir := start.Block(l).Clone()
	dir.AddScaled(-1, center.Block(l))
	for _, r := range radii {
		w := center.Clone()
		w.Block(l).AddScaled(r, dir)
		if err := p.SetWeights(w); err != nil {
			return 0, nil, nil, err
		}
		tr, err := IterateBlock(p, l, m, 1, 0, opt)
		if err != nil {
			return 0, nil, nil, err
		}
		if len(tr.Errors) == 2 && tr.Errors[1] > floor {
			e0, e1 = append(e0, tr.Errors[0]), append(e1, tr.Errors[1])
		}
	}
	if len(e0) < 2 {
		return math.NaN(), e0, e1, nil
	}
	var mx, my, sxy, sxx float64
	for i := range e0 {
		mx, my = mx+math.Log(e0[i])/float64(len(e0)), my+math.Log(e1[i])/float64(len(e0))
	}
	for i := range e0 {
		dx := math.Log(e0[i]) - mx
		sxy, sxx = sxy+dx*(math.Log(e1[i])-my), sxx+dx*dx
	}
	return sxy / sxx, e0, e1, nil
}

// halleyInexact runs the fixed point s_{k+1} = −u + ½ c_k, c_k =
// H⁻¹ t_k, t_k = T[u, s_k], from s₀ = −u, for Halley's (H − ½T[u]) s =
// −g. With r_u = H u − g and r_k = H c_k − t_k (the B-passes' residuals)
// its residual is
//
//	(H − ½T[u]) s_{k+1} + g = −r_u + ½ r_k + ½ (t_k − t_{k+1}),
//
// so each Third t_{k+1}, needed for the next iterate anyway, certifies
// s_{k+1} with no Hv. It stops at the first s_{k+1} whose iteration term
// ½‖t_k − t_{k+1}‖/‖g‖ is within η = κ·min(θ², 1) (or rounding, 2⁻⁵²):
// an error O(θ²‖u‖) = O(‖u‖³) in the step, which keeps order 3 (the
// forcing term of inexact Newton methods, one order up). It stores the
// step, its residual bound and its record in st and returns true; false
// (st.Solve saying why) when the fixed point stops contracting or reaches
// MaxInner first, for GMRES to solve the system instead.
func halleyInexact(b *hvp.Block, g *params.Vector, res *hvp.Result, tuu *params.Vector, o *HouseholderOptions, st *HouseholderStep) (bool, error) {
	u, gn := res.U, g.Norm()
	t := tuu.Clone() // t₀ = T[u, s₀] = T[u, −u]
	t.Scale(-1)
	last := math.Inf(1) // the previous iteration term
	for k := 0; k < o.MaxInner; k++ {
		c, err := b.InvHv(t, &o.Checks)
		if err != nil {
			return false, err
		}
		st.Flops += c.Flops
		st.Certified = st.Certified && c.Certified
		st.Iterations++
		next := u.Clone()
		next.Scale(-1)
		next.AddScaled(0.5, c.U)
		if k == 0 {
			theta := 0.5 * c.U.Norm() / u.Norm()
			st.Forcing = math.Max(o.Forcing*math.Min(theta*theta, 1), 0x1p-52)
		}
		tn, err := b.Third(u, next)
		if err != nil {
			return false, err
		}
		d := t.Clone()
		d.AddScaled(-1, tn)
		iter := 0.5 * d.Norm() / gn
		if iter <= st.Forcing {
			st.S, st.Solve = next, "fixed point"
			st.Residual = res.Residual + 0.5*c.Residual*t.Norm()/gn + iter
			return true, nil
		}
		if iter >= last {
			st.Solve = fmt.Sprintf("gmres after the fixed point stopped contracting (iteration %d: %.3g after %.3g, target %.3g)", k+1, iter, last, st.Forcing)
			st.Forcing = 0
			return false, nil
		}
		t, last = tn, iter
	}
	st.Solve = fmt.Sprintf("gmres after the fixed point's %d iterations (MaxInner) left %.3g, target %.3g", o.MaxInner, last, st.Forcing)
	st.Forcing = 0
	return false, nil
}

// halley solves (I − ½ H⁻¹ T[u]) s = −u by GMRES (Arnoldi with modified
// Gram–Schmidt, Givens rotations, no restart) from s₀ = −u, counting its
// iterations, flops and certificates into st.
func halley(b *hvp.Block, u *params.Vector, o *HouseholderOptions, st *HouseholderStep) (*params.Vector, error) {
	apply := func(x *params.Vector) (*params.Vector, error) {
		t, err := b.Third(u, x)
		if err != nil {
			return nil, err
		}
		c, err := b.InvHv(t, &o.Checks)
		if err != nil {
			return nil, err
		}
		st.Flops += c.Flops
		st.Certified = st.Certified && c.Certified
		out := x.Clone()
		out.AddScaled(-0.5, c.U)
		return out, nil
	}
	x0 := u.Clone()
	x0.Scale(-1)
	r, err := apply(x0)
	if err != nil {
		return nil, err
	}
	r.Scale(-1)
	r.AddScaled(1, x0) // r = −u − M x0
	beta, target := r.Norm(), o.GMRESTol*u.Norm()
	if beta <= target {
		return x0, nil
	}
	m := o.MaxIter
	vs := []*params.Vector{r}
	r.Scale(1 / beta)
	h := make([][]float64, m+1) // h[i][j], the Hessenberg matrix
	for i := range h {
		h[i] = make([]float64, m)
	}
	cs, sn := make([]float64, m), make([]float64, m)
	gv := make([]float64, m+1)
	gv[0] = beta
	k, before := 0, st.Iterations // the fixed point's, after a fallback
	for j := 0; j < m; j++ {
		w, err := apply(vs[j])
		if err != nil {
			return nil, err
		}
		for i := 0; i <= j; i++ {
			h[i][j] = w.Dot(vs[i])
			w.AddScaled(-h[i][j], vs[i])
		}
		h[j+1][j] = w.Norm()
		for i := 0; i < j; i++ { // the previous rotations on column j
			a, c := h[i][j], h[i+1][j]
			h[i][j], h[i+1][j] = cs[i]*a+sn[i]*c, -sn[i]*a+cs[i]*c
		}
		d := math.Hypot(h[j][j], h[j+1][j])
		if d == 0 {
			break
		}
		cs[j], sn[j] = h[j][j]/d, h[j+1][j]/d
		h[j][j], h[j+1][j] = d, 0
		gv[j+1] = -sn[j] * gv[j]
		gv[j] *= cs[j]
		k = j + 1
		st.Iterations = before + k
		if math.Abs(gv[j+1]) <= target || w.Norm() == 0 {
			break
		}
		w.Scale(1 / w.Norm())
		vs = append(vs, w)
	}
	y := make([]float64, k) // R y = g by back substitution
	for i := k - 1; i >= 0; i-- {
		y[i] = gv[i]
		for c := i + 1; c < k; c++ {
			y[i] -= h[i][c] * y[c]
		}
		y[i] /= h[i][i]
	}
	for i := range y {
		x0.AddScaled(y[i], vs[i])
	}
	return x0, nil
}

// skipCorrection is IterateBlock's rule for the last step of a cubic
// method. After the Newton step −u the gradient is
//
//	g(w − u) = ½T[u, u] − r_u + O(‖u‖³),   r_u = H u − g,
//
// the B-pass's residual, and ½T[u, u] is at hand: it came with u
// (hvp.Block.InvHvThird). When safety·‖½T[u, u]‖ + ‖r_u‖ ≤ tol, the
// Newton step reaches tol by itself and the cubic correction cannot
// change whether the run ends: the step is Newton's (certified as
// Newton's), saving the correction's B-pass (Chebyshev) or fixed point
// (Halley). The safety factor covers the O(‖u‖³) terms; where it does
// not, the skipped step misses tol and the run takes one more step (the
// tolerance is always tested on the true gradient). It returns the
// record of a skip, "" for none (tol 0: never).
func skipCorrection(res *hvp.Result, corr, gn, tol, safety float64) string {
	if !(tol > 0) {
		return ""
	}
	ru := res.Residual * gn // NaN without a certificate: no skip
	if pred := safety*corr + ru; pred <= tol {
		return fmt.Sprintf("correction skipped: ‖½T[u,u]‖ %.3g times safety %g, plus ‖Hu − g‖ %.3g: %.3g ≤ tol %.3g", corr, safety, ru, pred, tol)
	}
	return ""
}
