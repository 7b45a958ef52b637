package reference

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Solution is the minimum-norm least-squares solution of H u = v for a
// dense symmetric reference H, with how its rank was chosen.
type Solution struct {
	U    []float64
	Rank int     // eigenvalues kept
	N    int     // H is N×N
	Tol  float64 // eigenvalues with |λ| ≤ Tol were dropped
	// Noise is the estimated error of H's entries that set Tol:
	// ‖H − Hᵀ‖_F, the asymmetry of the built matrix (the exact R-pass's
	// rounding, or the finite differences' error), or n·ε·|λ|_max if
	// larger.
	Noise float64
	Cond  float64 // |λ|_max / |λ|_min over the kept eigenvalues
}

func (s Solution) String() string {
	return fmt.Sprintf("minimum-norm least squares of the dense matrix: rank %d of %d (|λ| ≤ %.2g dropped), condition %.3g", s.Rank, s.N, s.Tol, s.Cond)
}

// MinNormSolve returns u = H⁺ v for a dense reference H that should be
// symmetric (a Hessian built column by column), choosing the rank
// robustly: H is symmetrised, and the eigenvalues dropped are those
// within the noise of H's entries, 10·max(‖H − Hᵀ‖_F, n·ε·|λ|_max) —
// the asymmetry measures how far each built column is from the true one,
// so finite-difference noise (≈ 1e-13·|λ|_max) is never taken for
// curvature, while an exactly built block keeps eigenvalues down to
// ≈ 1e-14·|λ|_max. H = 0 gives u = 0 and rank 0.
func MinNormSolve(h *mat.Dense, v []float64) (sol Solution, err error) {
	defer errs.Recover("reference.MinNormSolve", &err)
	n, c := h.Dims()
	if n != c || len(v) != n {
		return sol, &errs.ShapeError{What: "dense reference", Reason: fmt.Sprintf("matrix %d×%d, vector of %d", n, c, len(v))}
	}
	sol.N = n
	sym := mat.NewSymDense(n, nil)
	var asym float64
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			a, b := h.At(i, j), h.At(j, i)
			if math.IsNaN(a+b) || math.IsInf(a+b, 0) {
				return sol, &errs.NotFiniteError{What: "dense reference", Index: i*n + j, Value: a}
			}
			sym.SetSym(i, j, (a+b)/2)
			asym = math.Hypot(asym, math.Sqrt2*(a-b))
		}
	}
	if math.IsNaN(asym) || math.IsInf(asym, 0) || floats.HasNaN(v) {
		return sol, &errs.NotFiniteError{What: "dense reference or its right-hand side", Index: -1}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return sol, &errs.ConditionError{Block: -1, Reason: "eigendecomposition of the dense reference did not converge"}
	}
	vals := eig.Values(nil)
	var q mat.Dense
	eig.VectorsTo(&q)
	lmax := 0.0
	for _, l := range vals {
		lmax = math.Max(lmax, math.Abs(l))
	}
	sol.Noise = math.Max(asym, float64(n)*0x1p-52*lmax)
	sol.Tol = 10 * sol.Noise
	sol.U = make([]float64, n)
	lmin := math.Inf(1)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return math.Abs(vals[order[a]]) > math.Abs(vals[order[b]]) })
	for _, i := range order {
		l := vals[i]
		if !(math.Abs(l) > sol.Tol) {
			continue
		}
		sol.Rank++
		lmin = math.Min(lmin, math.Abs(l))
		col := mat.Col(nil, i, &q)
		floats.AddScaled(sol.U, floats.Dot(col, v)/l, col)
	}
	if sol.Rank > 0 {
		sol.Cond = lmax / lmin
	}
	return sol, nil
}

// Constants of the solve's time estimate (SolveTime).
const (
	// solveFlops is the cost of a symmetric eigendecomposition with
	// vectors in units of n³ flops (Golub & Van Loan §8.3: tridiagonal
	// reduction 4/3, accumulating its orthogonal factor 4/3, implicit QR
	// with vectors about 6).
	solveFlops = 9
	// probeSize is the order of the matrix whose timed eigendecomposition
	// gives the rate, about 10 ms.
	probeSize = 128
	// rateSafety divides the measured rate: it falls as the matrices
	// leave the cache, and more on a loaded machine (gonum, one core of a
	// shared two-core machine: 5.9 ns·n³ at n = 128, 4.6 at 800, 12.8 at
	// 1024, 13.7 at 1600; unloaded 4.2 at 128, 6.4 at 2500) and at
	// orders whose rows alias in the cache (a power of two: 9.5 ns·n³ at
	// n = 256 against 2.4 at 128 and 1.7 at 400, measured on an AMD EPYC
	// with AVX-512), so it is 8: an upper bound at every order measured.
	rateSafety = 8
	// slowestNsPerCube is a time per n³ no machine exceeds, used to accept
	// small solves without measuring (50 ns·n³: 3 to 10 times the
	// measured).
	slowestNsPerCube = 50
)

var (
	probeOnce sync.Once
	probeNs   float64 // measured time per n³, in ns
)

// SolveTime estimates the time MinNormSolve takes on an n×n matrix: the
// eigendecomposition's 9n³ flops at the rate of a 128×128 one timed once
// per process, divided by 8 (the rate falls for larger matrices and on a
// loaded machine).
func SolveTime(n int) time.Duration {
	probeOnce.Do(func() {
		rng := rand.New(rand.NewPCG(probeSize, 1))
		a := mat.NewSymDense(probeSize, nil)
		for i := range probeSize {
			for j := i; j < probeSize; j++ {
				a.SetSym(i, j, rng.NormFloat64())
			}
		}
		t0 := time.Now()
		var eig mat.EigenSym
		eig.Factorize(a, true)
		var q mat.Dense
		eig.VectorsTo(&q)
		probeNs = max(float64(time.Since(t0).Nanoseconds()), 1) / math.Pow(probeSize, 3)
	})
	return time.Duration(rateSafety * probeNs * math.Pow(float64(n), 3))
}

// MinNormSolveWithin is MinNormSolve bounded by lim (nil: the defaults):
// before anything is allocated, its memory (the matrix and its
// decomposition, about 4·8·n² bytes) and its time (SolveTime) are
// estimated, and a solve over lim.MaxBytes or lim.MaxTime is refused with
// an *errs.LimitError naming what. A solve under 50 ns·n³, within the cap
// on any machine, is accepted without timing a probe. While it runs,
// lim.Busy is called every two seconds. The factorisation cannot be
// stopped part-way: the estimate is the bound.
func MinNormSolveWithin(h *mat.Dense, v []float64, what string, lim *Limits) (Solution, error) {
	o := lim.withDefaults()
	n, _ := h.Dims()
	if err := memoryCheck(what, n, o); err != nil {
		return Solution{}, err
	}
	est := time.Duration(slowestNsPerCube * math.Pow(float64(n), 3))
	if est > o.MaxTime {
		est = SolveTime(n)
		if est > o.MaxTime {
			return Solution{}, &errs.LimitError{What: what, Resource: "time", Estimate: est.Seconds(), Limit: o.MaxTime.Seconds(), Unit: "s",
				Hint: fmt.Sprintf("the eigendecomposition of a %d×%d matrix, %d·n³ = %.3g flops at an eighth of the rate measured here (%.3g Gflop/s at n = %d)",
					n, n, solveFlops, solveFlops*math.Pow(float64(n), 3), solveFlops/probeNs, probeSize)}
		}
	}
	if o.Busy != nil {
		stop := busy(o.Busy, est)
		defer stop()
	}
	return MinNormSolve(h, v)
}

// busyEvery is how often Limits.Busy is called.
var busyEvery = 2 * time.Second

// busy calls f every busyEvery until stop is called; stop returns after
// the last call.
func busy(f func(elapsed, estimate time.Duration), est time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := time.Now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(busyEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				f(time.Since(t0), est)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
