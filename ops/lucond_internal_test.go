package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/newtonia/newtonia/fastblas"
)

// luRcond is gonum's Dgecon on the same LU factors up to the rounding of
// its triangular solves (summed in another order): the Hager–Higham
// iteration makes the same choices unless two candidates tie to rounding,
// so the estimates agree to 1e-10 relative (a solve's relative error is
// ≲ n·ε·κ ≈ 512·1.1e-16·1e4 ≈ 6e-10 at worst on these matrices, measured
// ≤ 1e-13). Covered: random matrices up to n = 300 (gonum's scaled Dlatrs
// path from n ≈ 256), graded ones (columns scaled over 12 decades:
// cond ≈ 1e12), and a matrix whose inverse overflows the unscaled solve
// (entries near 1e-300 on the diagonal of U), where luRcond must give
// Dgecon's own overflow-safe estimate.
func TestLURcondMatchesDgecon(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 7))
	cases := map[string]func(n int) *mat.Dense{
		"random": func(n int) *mat.Dense {
			a := mat.NewDense(n, n, nil)
			for i := range n {
				for j := range n {
					a.Set(i, j, rng.NormFloat64())
				}
			}
			return a
		},
		"graded": func(n int) *mat.Dense {
			a := mat.NewDense(n, n, nil)
			for i := range n {
				for j := range n {
					a.Set(i, j, rng.NormFloat64()*math.Pow(10, -12*float64(j)/float64(max(n-1, 1))))
				}
			}
			return a
		},
		"tiny": func(n int) *mat.Dense { // U's diagonal ~1e-300: the unscaled solve overflows
			a := mat.NewDense(n, n, nil)
			for i := range n {
				for j := i; j < n; j++ {
					a.Set(i, j, rng.NormFloat64())
				}
				a.Set(i, i, 1e-300*(1+rng.Float64()))
			}
			return a
		},
	}
	for name, build := range cases {
		for _, n := range []int{1, 2, 7, 64, 130, 300} {
			a := build(n)
			lu := blas64.General{Rows: n, Cols: n, Stride: n, Data: append([]float64(nil), a.RawMatrix().Data...)}
			work := make([]float64, 4*n)
			anorm := lapack64.Lange(mat.CondNorm, lu, work)
			if !(fastblas.Implementation{}).Dgetrf(n, n, lu.Data, n, make([]int, n)) {
				t.Fatalf("%s n=%d: singular", name, n)
			}
			got := luRcond(lu, anorm)
			want := lapack64.Gecon(mat.CondNorm, lu, anorm, work, make([]int, n))
			if !(math.Abs(got-want) <= 1e-10*want) {
				t.Errorf("%s n=%d: rcond %v, Dgecon's %v (rel. diff. %.2g)", name, n, got, want, math.Abs(got-want)/want)
			}
		}
	}
}
