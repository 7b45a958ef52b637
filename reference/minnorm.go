package reference

import (
	"fmt"
	"math"
	"sort"

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
