package spectral

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/budget"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"
)

// Which eigenvalues Lanczos looks for.
type Which int

const (
	LargestAlgebraic  Which = iota // the k largest λ
	SmallestAlgebraic              // the k smallest λ (most negative first found)
	LargestMagnitude               // the k largest |λ|
)

func (w Which) String() string {
	switch w {
	case LargestAlgebraic:
		return "largest algebraic"
	case SmallestAlgebraic:
		return "smallest algebraic"
	case LargestMagnitude:
		return "largest magnitude"
	}
	return fmt.Sprintf("Which(%d)", int(w))
}

// Defaults of Options.
const (
	// DefaultMaxIter caps the Lanczos steps (the dimension of the Krylov
	// basis, one operator product each) at min(n, 300): enough for a few
	// dozen extreme eigenvalues of a Hessian whose spectrum has the usual
	// few outliers above a bulk, at a basis of 301·n values.
	DefaultMaxIter = 300
	// DefaultTol is the largest accepted Ritz residual estimate
	// |β_m s_mi| relative to the largest Ritz value in magnitude, ‖A‖'s
	// estimate: an eigenvalue error of at most 1e-10·‖A‖ (and of
	// residual²/gap for an isolated eigenvalue).
	DefaultTol = 1e-10
)

// Options control Lanczos and ShiftInvert. A nil *Options, like every zero
// field, means the default.
type Options struct {
	// MaxIter caps the Lanczos steps (0: DefaultMaxIter; never more than
	// the operator's size n, where the Krylov basis is the whole space and
	// the Ritz values are the eigenvalues). Reaching it unconverged returns
	// the Ritz pairs found with an *errs.LimitError.
	MaxIter int
	// Tol is the largest accepted Ritz residual estimate relative to ‖A‖'s
	// estimate (0: DefaultTol).
	Tol float64
	// Seed seeds the start vector (normal entries) and the vectors that
	// restart the basis after an invariant subspace is found.
	Seed uint64
	// MaxBytes caps the memory of the Krylov basis, (MaxIter+1)·n float64s,
	// estimated before it is made (0: the default of package
	// internal/budget, a quarter of physical memory).
	MaxBytes int64
}

// Eigen is the result of Lanczos: k eigenpairs, each with its certificate.
type Eigen struct {
	Values  []float64   // in descending order
	Vectors [][]float64 // unit vectors, Vectors[i] for Values[i], in flat order
	// Residuals are ‖A x − λ x‖ for each pair (x unit), computed by
	// applying the operator to x (not from the Lanczos recurrence): for
	// ShiftInvert, A is the block's H_ll itself, not its inverse.
	Residuals []float64
	// Iterations are the Lanczos steps, one operator product each.
	Iterations int
	// Products are all the operator's products, the certificates' included
	// (ShiftInvert: inverse products; its certificates are Hv products,
	// in HvProducts).
	Products   int
	HvProducts int
	Converged  bool // every wanted Ritz estimate within Tol
}

func (o *Options) maxIter(n int) int {
	m := DefaultMaxIter
	if o != nil && o.MaxIter > 0 {
		m = o.MaxIter
	}
	return min(m, n)
}

func (o *Options) validate(k, n int) error {
	if k < 1 || k > n {
		return &errs.ArgumentError{What: "k", Value: k, Reason: fmt.Sprintf("must be in [1, %d], the operator's size", n)}
	}
	if o == nil {
		return nil
	}
	if o.MaxIter < 0 {
		return &errs.ArgumentError{What: "Options.MaxIter", Value: o.MaxIter, Reason: "must be ≥ 0 (0: DefaultMaxIter)"}
	}
	if !(o.Tol >= 0) || math.IsInf(o.Tol, 1) {
		return &errs.ArgumentError{What: "Options.Tol", Value: o.Tol, Reason: "must be finite and ≥ 0 (0: DefaultTol)"}
	}
	if o.MaxBytes < 0 {
		return &errs.ArgumentError{What: "Options.MaxBytes", Value: o.MaxBytes, Reason: "must be ≥ 0 (0: the default cap)"}
	}
	return nil
}

func (o *Options) tol() float64 {
	if o == nil || o.Tol == 0 {
		return DefaultTol
	}
	return o.Tol
}

func (o *Options) seed() uint64 {
	if o == nil {
		return 0
	}
	return o.Seed
}

func (o *Options) maxBytes() int64 {
	if o == nil {
		return 0
	}
	return o.MaxBytes
}

// krylov is a Lanczos basis with full reorthogonalisation:
// A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ, T_m tridiagonal with diagonal alpha
// and off-diagonal beta[:m-1] (0 where the basis was restarted), beta[m-1]
// = β_m the residual of the last step.
type krylov struct {
	op       Operator
	n        int
	q        [][]float64 // q[0..m] (q[m] the next vector, once computed)
	alpha    []float64
	beta     []float64
	anorm    float64 // the largest ‖A q_j‖: ‖A‖'s lower estimate
	products int
	rng      *rand.Rand
	restart  bool // continue with a random vector after an invariant subspace
	done     bool // invariant subspace, not restarted, or the whole space
	// broke reports that the last step found an invariant subspace (and
	// restarted); blockStart is the step the current basis block began at.
	broke      bool
	blockStart int
	// breakTol: a β ≤ breakTol·anorm ends the block (an invariant
	// subspace to within the accepted residual): T's coupling is set to 0,
	// which moves the Ritz pairs' residuals by at most β.
	breakTol float64
	// minBeta is the smallest β of the current block.
	minBeta float64
}

// nearBreak: a block whose β fell to nearBreak·‖A‖ (10 orders above
// rounding, far below a generic β) has met a nearly invariant subspace,
// which an eigenvalue of several copies makes: Lanczos then checks the
// rest of the space with another block before accepting its pairs.
const nearBreak = 1e-6

func newKrylov(op Operator, start []float64, rng *rand.Rand, restart bool, breakTol float64) *krylov {
	n := op.Size()
	k := &krylov{op: op, n: n, rng: rng, restart: restart, breakTol: breakTol, minBeta: math.Inf(1)}
	q := append([]float64(nil), start...)
	floats.Scale(1/floats.Norm(q, 2), q)
	k.q = [][]float64{q}
	return k
}

// step extends the basis by one vector.
func (k *krylov) step() error {
	j := len(k.alpha)
	qj := k.q[j]
	k.broke = false
	w := make([]float64, k.n)
	if err := k.op.Apply(w, qj); err != nil {
		return err
	}
	k.products++
	if err := finite(w); err != nil {
		return err
	}
	k.anorm = math.Max(k.anorm, floats.Norm(w, 2))
	a := floats.Dot(qj, w)
	k.alpha = append(k.alpha, a)
	floats.AddScaled(w, -a, qj)
	if j > 0 {
		floats.AddScaled(w, -k.beta[j-1], k.q[j-1])
	}
	orthogonalise(w, k.q)
	b := floats.Norm(w, 2)
	k.minBeta = math.Min(k.minBeta, b)
	if len(k.alpha) == k.n {
		k.beta = append(k.beta, b)
		k.done = true
		return nil
	}
	if b <= k.breakTol*k.anorm || b == 0 {
		// An invariant subspace: its Ritz pairs are exact. The caller
		// restarts (restartBlock) or stops.
		k.beta = append(k.beta, 0)
		k.broke = true
		if !k.restart {
			k.done = true
		}
		return nil
	}
	k.beta = append(k.beta, b)
	floats.Scale(1/b, w)
	k.q = append(k.q, w)
	return nil
}

// restartBlock ends the current block of the basis and starts another
// from a random vector orthogonal to the basis: T's coupling to the new
// block is 0 (after a breakdown it is already; after a block that
// converged it is cut, which moves the residuals of its Ritz pairs by at
// most β·|s_mi|, within tolerance for the converged ones). It returns false
// when the basis spans the whole space.
func (k *krylov) restartBlock() bool {
	m := len(k.alpha)
	if m >= k.n {
		return false
	}
	k.beta[m-1] = 0
	k.q = k.q[:m]
	w := make([]float64, k.n)
	for range 3 {
		for i := range w {
			w[i] = k.rng.NormFloat64()
		}
		orthogonalise(w, k.q)
		if b := floats.Norm(w, 2); b > 1e-8 {
			floats.Scale(1/b, w)
			k.q = append(k.q, w)
			k.blockStart, k.broke, k.minBeta = m, false, math.Inf(1)
			return true
		}
	}
	return false
}

// orthogonalise removes from w its components along the (orthonormal) q,
// by classical Gram–Schmidt twice ("twice is enough", Giraud et al. 2005).
func orthogonalise(w []float64, q [][]float64) {
	for range 2 {
		c := make([]float64, len(q))
		for i, qi := range q {
			c[i] = floats.Dot(qi, w)
		}
		for i, qi := range q {
			floats.AddScaled(w, -c[i], qi)
		}
	}
}

func finite(w []float64) error {
	for i, v := range w {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return &errs.NotFiniteError{What: "operator product in Lanczos", Index: i, Value: v}
		}
	}
	return nil
}

// ritz returns the eigenvalues of T_m (ascending) and its eigenvectors S
// (m × m, row-major: S[i*m+j] is component i of vector j).
func (k *krylov) ritz() (theta, s []float64, err error) { return k.ritzRange(0, len(k.alpha)) }

// ritzRange is ritz of T's principal submatrix of rows [lo, hi).
func (k *krylov) ritzRange(lo, hi int) (theta, s []float64, err error) {
	m := hi - lo
	theta = append([]float64(nil), k.alpha[lo:hi]...)
	e := make([]float64, max(m-1, 1))
	copy(e, k.beta[lo:hi-1])
	s = make([]float64, m*m)
	if !(gonum.Implementation{}).Dsteqr(lapack.EVTridiag, m, theta, e, s, m, make([]float64, max(1, 2*m-2))) {
		return nil, nil, &errs.InternalError{Where: "spectral: Dsteqr of the Lanczos tridiagonal", Panic: "no convergence"}
	}
	return theta, s, nil
}

// pick returns the indices into ascending theta of the k wanted values.
func pick(theta []float64, k int, which Which) []int {
	m := len(theta)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	switch which {
	case LargestAlgebraic:
		slices.Reverse(idx)
	case LargestMagnitude:
		sort.SliceStable(idx, func(a, b int) bool { return math.Abs(theta[idx[a]]) > math.Abs(theta[idx[b]]) })
	}
	return idx[:min(k, m)]
}

// Lanczos returns k eigenpairs of a symmetric operator, those of which
// (largest or smallest algebraic, largest magnitude), by the Lanczos
// process with full reorthogonalisation (every new basis vector
// orthogonalised against all before it, twice), the tridiagonal problem
// solved by LAPACK's Dsteqr (gonum). It stops when every wanted Ritz pair's
// residual estimate |β_m s_mi| is within opt.Tol of ‖A‖'s estimate, or
// when the basis spans the whole space (the Ritz values are then the
// eigenvalues), and then certifies each pair by its residual ‖A x − λ x‖,
// one product each.
//
// A single start vector cannot see an eigenvalue's multiplicity except
// through rounding. When the basis becomes an invariant subspace (β ≤
// Tol·‖A‖), or came near one (β ≤ 1e-6·‖A‖) by the time the wanted pairs
// converged, it is extended by another block started from a random vector
// orthogonal to it, run until its own wanted pairs converge, and so on
// until a block changes none of the wanted values: the copies of a
// multiple eigenvalue are found (a last linear layer's H_ll = h̃ᵀh̃ ⊗ I
// under squared error has each eigenvalue n times), at a block's products
// per copy. The Ritz pairs of a block ended this way keep the residual of
// its last β (at most Tol·‖A‖ for the wanted ones).
//
// Errors: a non-symmetric operator, a k outside [1, n] or bad options are
// an *errs.ArgumentError; a basis above opt.MaxBytes an *errs.LimitError
// before anything runs; a failed product its error; reaching opt.MaxIter
// unconverged returns the Ritz pairs found (Converged false, certified
// like converged ones) with an *errs.LimitError (Reached, "iterations").
func Lanczos(a Operator, k int, which Which, opt *Options) (e *Eigen, err error) {
	defer errs.Recover("spectral.Lanczos", &err)
	if a == nil {
		return nil, errNilOperator
	}
	if !a.Symmetric() {
		return nil, &errs.ArgumentError{What: "operator", Value: fmt.Sprint(a), Reason: "Lanczos needs a symmetric operator"}
	}
	if which < LargestAlgebraic || which > LargestMagnitude {
		return nil, &errs.ArgumentError{What: "which", Value: int(which), Reason: "must be LargestAlgebraic, SmallestAlgebraic or LargestMagnitude"}
	}
	e, err = lanczos(a, k, which, opt)
	if e == nil {
		return nil, err
	}
	if cerr := certify(e, a); cerr != nil {
		return nil, cerr
	}
	e.Products = e.Iterations + len(e.Values)
	return e, err
}

// lanczos runs the process and returns the Ritz pairs, uncertified.
func lanczos(a Operator, k int, which Which, opt *Options) (*Eigen, error) {
	n := a.Size()
	if err := opt.validate(k, n); err != nil {
		return nil, err
	}
	maxIter := opt.maxIter(n)
	if k > maxIter {
		return nil, &errs.ArgumentError{What: "k", Value: k, Reason: fmt.Sprintf("must be at most Options.MaxIter = %d", maxIter)}
	}
	if err := budget.Check("the Lanczos basis", 8*float64(maxIter+1)*float64(n), opt.maxBytes(), "(Options.MaxIter+1)·n float64s; lower Options.MaxIter or raise Options.MaxBytes"); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.seed(), 0x1a9c205))
	start := make([]float64, n)
	for i := range start {
		start[i] = rng.NormFloat64()
	}
	tol := opt.tol()
	kr := newKrylov(a, start, rng, true, tol)
	var theta, s []float64
	converged := false
	next := k // the next step count at which convergence is checked
	for {
		if err := kr.step(); err != nil {
			return nil, err
		}
		m := len(kr.alpha)
		if m < next && !kr.broke && m < n && m < maxIter {
			continue
		}
		// Checks every step up to 50 steps, then every m/10: the
		// tridiagonal eigenproblem costs O(m³) against the products' cost.
		next = m + max(1, m/10)
		if m <= 50 {
			next = m + 1
		}
		var err error
		if theta, s, err = kr.ritz(); err != nil {
			return nil, err
		}
		if m == n {
			converged = true // the Ritz values are the eigenvalues
			break
		}
		scale := math.Max(math.Abs(theta[0]), math.Abs(theta[m-1]))
		bs := kr.blockStart
		ended := kr.broke
		if !ended && m-bs >= min(k, n-bs) && m >= k {
			// The current block's own wanted pairs.
			th, so, err := kr.ritzRange(bs, m)
			if err != nil {
				return nil, err
			}
			mm, bm := m-bs, kr.beta[m-1]
			ended = true
			for _, j := range pick(th, k, which) {
				if math.Abs(bm*so[(mm-1)*mm+j]) > tol*scale {
					ended = false
					break
				}
			}
		}
		if ended {
			if bs == 0 && !kr.broke && kr.minBeta > nearBreak*kr.anorm {
				converged = true // the usual end: no invariant subspace met
				break
			}
			// A block ended after an invariant subspace: restart with
			// another, unless this block changed none of the wanted
			// values (its copies of a multiple eigenvalue are all found).
			more := bs == 0
			if !more {
				saved := kr.beta[m-1]
				kr.beta[m-1] = 0
				th, _, err := kr.ritz()
				prev, _, perr := kr.ritzRange(0, bs)
				kr.beta[m-1] = saved
				if err != nil || perr != nil {
					return nil, errors.Join(err, perr)
				}
				more = changes(prev, th, k, which, tol*scale)
			}
			if !more {
				converged = true
				break
			}
			if !kr.restartBlock() {
				converged = true
				break
			}
			if theta, s, err = kr.ritz(); err != nil {
				return nil, err
			}
		}
		if m >= maxIter {
			break
		}
	}
	m := len(kr.alpha)
	e := &Eigen{Iterations: kr.products, Converged: converged}
	for _, j := range pick(theta, k, which) {
		x := make([]float64, n)
		for i := 0; i < m; i++ {
			floats.AddScaled(x, s[i*m+j], kr.q[i])
		}
		floats.Scale(1/floats.Norm(x, 2), x)
		e.Values = append(e.Values, theta[j])
		e.Vectors = append(e.Vectors, x)
	}
	e.sort()
	if !converged {
		if len(e.Values) < k {
			return nil, &errs.ConditionError{Block: -1, Reason: fmt.Sprintf("Lanczos found an invariant subspace of dimension %d < k = %d", m, k)}
		}
		return e, &errs.LimitError{What: fmt.Sprintf("Lanczos for the %d %s eigenvalues", k, which), Resource: "iterations", Estimate: float64(m), Limit: float64(maxIter), Reached: true, Hint: "raise Options.MaxIter or Options.Tol"}
	}
	return e, nil
}

// changes reports whether the wanted values of all reach differ from those
// of prev (fewer than k, or one moved by more than tol).
func changes(prev, all []float64, k int, which Which, tol float64) bool {
	if len(prev) < k {
		return true
	}
	p, a := pick(prev, k, which), pick(all, k, which)
	pv, av := make([]float64, k), make([]float64, k)
	for i := range k {
		pv[i], av[i] = prev[p[i]], all[a[i]]
	}
	sort.Float64s(pv)
	sort.Float64s(av)
	for i := range k {
		if math.Abs(pv[i]-av[i]) > tol {
			return true
		}
	}
	return false
}

// sort orders the pairs by descending value.
func (e *Eigen) sort() {
	idx := make([]int, len(e.Values))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return e.Values[idx[a]] > e.Values[idx[b]] })
	vals := make([]float64, len(idx))
	vecs := make([][]float64, len(idx))
	for i, j := range idx {
		vals[i], vecs[i] = e.Values[j], e.Vectors[j]
	}
	e.Values, e.Vectors = vals, vecs
}

// certify sets e.Residuals[i] = ‖A x_i − λ_i x_i‖, one product of a each.
func certify(e *Eigen, a Operator) error {
	e.Residuals = make([]float64, len(e.Values))
	ax := make([]float64, a.Size())
	for i, x := range e.Vectors {
		if err := a.Apply(ax, x); err != nil {
			return err
		}
		floats.AddScaled(ax, -e.Values[i], x)
		e.Residuals[i] = floats.Norm(ax, 2)
	}
	return nil
}

// ShiftInvert returns the k eigenpairs of a block's H_ll nearest σ, by
// Lanczos on the exact inverse (BlockInverse, one B-pass per step): the
// largest-magnitude eigenvalues θ of H_ll⁻¹ are 1/λ for the λ nearest 0,
// which Lanczos on H_ll itself resolves only after many products when
// they sit inside the spectrum. Each pair is certified by ‖H_ll x − λ x‖
// with the exact Block.Hv (HvProducts of them). opt controls Lanczos (its
// Tol relative to the largest |θ| = 1/|λ_nearest|); inv the inverse
// products (nil: hvp's defaults).
//
// Only σ = 0 is supported: the B-pass inverts H_ll and its damped form
// H_ll + λ·h̃ᵀh̃ ⊗ I, whose metric h̃ᵀh̃ ⊗ I is not the identity, so
// (H_ll − σI)⁻¹ for σ ≠ 0 has no exact product; σ ≠ 0 is an
// *errs.ArgumentError, and so is a nonzero inv.Damping (the pairs are
// H_ll's).
// A block whose inverse is not exact is BlockInverse's
// *errs.ConditionError.
func ShiftInvert(b *hvp.Block, k int, sigma float64, opt *Options, inv *hvp.Options) (e *Eigen, err error) {
	defer errs.Recover("spectral.ShiftInvert", &err)
	if sigma != 0 {
		return nil, &errs.ArgumentError{What: "σ (shift) for block " + b.Name(), Value: sigma, Reason: "only σ = 0 has an exact inverse product (the B-pass damps in the metric h̃ᵀh̃ ⊗ I, not σI)"}
	}
	if inv != nil && inv.Damping != 0 {
		return nil, &errs.ArgumentError{What: "hvp.Options.Damping for shift-invert of block " + b.Name(), Value: inv.Damping, Reason: "must be 0: the eigenpairs are H_ll's"}
	}
	ai, err := BlockInverse(b, inv)
	if err != nil {
		return nil, err
	}
	e, err = lanczos(ai, k, LargestMagnitude, opt)
	if e == nil {
		return nil, err
	}
	for i, t := range e.Values {
		e.Values[i] = 1 / t
	}
	e.sort()
	if cerr := certify(e, BlockHessian(b)); cerr != nil {
		return nil, cerr
	}
	e.Products = e.Iterations
	e.HvProducts = len(e.Values)
	return e, err
}
