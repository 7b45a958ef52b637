package fastblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// triangular returns an order×order matrix at stride ld whose triangle ul
// is well conditioned (unit-ish diagonal, off-diagonal N(0,1)/order); the
// other triangle and, for a unit diagonal, the diagonal hold garbage that
// Dtrsm must not read.
func triangular(rng *rand.Rand, order, ld int, ul blas.Uplo, d blas.Diag) []float64 {
	a := randMatrix(rng, order, order, ld)
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			switch {
			case i == j && d == blas.Unit:
				a[i*ld+j] = math.NaN()
			case i == j:
				a[i*ld+j] = (1 + rng.Float64()) * float64(1-2*rng.IntN(2))
			case (i > j) == (ul == blas.Lower):
				a[i*ld+j] /= float64(order)
			default:
				a[i*ld+j] = math.NaN()
			}
		}
	}
	return a
}

// checkTrsm solves one system on every kernel and checks (1) the residual:
// blocked or not, a triangular solve is backward stable, so
// |op(A)·X − αB| ≤ γ_{2·order}·(|op(A)|·|X| + |αB|) elementwise up to a
// factor for the blocked updates (we allow 4); (2) the solution against
// gonum's: A is well conditioned (cond ≤ ~10), so 1e-12 relative.
func checkTrsm(t *testing.T, rng *rand.Rand, s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n, pad int, alpha float64) {
	t.Helper()
	order := m
	if s == blas.Right {
		order = n
	}
	lda, ldb := order+pad, n+pad
	a := triangular(rng, order, lda, ul, d)
	b0 := randMatrix(rng, m, n, ldb)
	want := append([]float64(nil), b0...)
	gonum.Implementation{}.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, want, ldb)
	// op(A) with the unread parts made explicit.
	opA := func(i, j int) float64 {
		if tA != blas.NoTrans {
			i, j = j, i
		}
		switch {
		case i == j && d == blas.Unit:
			return 1
		case i != j && (i > j) != (ul == blas.Lower):
			return 0
		}
		return a[i*lda+j]
	}
	gamma := float64(2*order) * 0x1p-53
	eachKernel(t, func(name string) {
		x := append([]float64(nil), b0...)
		Implementation{}.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, x, ldb)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				// residual of row i, column j
				r, bound := -alpha*b0[i*ldb+j], math.Abs(alpha*b0[i*ldb+j])
				for p := 0; p < order; p++ {
					var term float64
					if s == blas.Left {
						term = opA(i, p) * x[p*ldb+j]
					} else {
						term = x[i*ldb+p] * opA(p, j)
					}
					r += term
					bound += math.Abs(term)
				}
				if !(math.Abs(r) <= 4*gamma*bound) {
					t.Fatalf("%s %v %v %v %v m=%d n=%d: residual %.3g at (%d,%d) > bound %.3g",
						name, s, ul, tA, d, m, n, r, i, j, 4*gamma*bound)
				}
				if g, w := x[i*ldb+j], want[i*ldb+j]; !(math.Abs(g-w) <= 1e-12*(1+math.Abs(w))) {
					t.Fatalf("%s %v %v %v %v m=%d n=%d: X[%d,%d] = %v, gonum %v", name, s, ul, tA, d, m, n, i, j, g, w)
				}
			}
			for j := n; j < ldb && i*ldb+j < len(x); j++ {
				if x[i*ldb+j] != b0[i*ldb+j] {
					t.Fatalf("%s: gap of B changed", name)
				}
			}
		}
	})
}

func TestDtrsmAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []blas.Side{blas.Left, blas.Right} {
		for _, ul := range []blas.Uplo{blas.Lower, blas.Upper} {
			for _, tA := range transposes {
				for _, d := range []blas.Diag{blas.NonUnit, blas.Unit} {
					for _, size := range [][2]int{{5, 3}, {40, 33}, {97, 130}, {130, 97}, {257, 64}} {
						alpha := []float64{1, -0.5, 2}[rng.IntN(3)]
						checkTrsm(t, rng, s, ul, tA, d, size[0], size[1], rng.IntN(2), alpha)
					}
				}
			}
		}
	}
}

// BenchmarkDtrsm times the solve L·X = B, n×n, in GFlop/s (n³ flops).
func BenchmarkDtrsm(b *testing.B) {
	for _, n := range []int{128, 256, 512} {
		rng := rand.New(rand.NewPCG(7, 8))
		a := triangular(rng, n, n, blas.Lower, blas.NonUnit)
		b0 := randMatrix(rng, n, n, n)
		x := make([]float64, len(b0))
		eachImpl(b, func(name string, impl blas.Float64) {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				for b.Loop() {
					copy(x, b0) // a fresh right-hand side: repeated solves would underflow
					impl.Dtrsm(blas.Left, blas.Lower, blas.NoTrans, blas.NonUnit, n, n, 1, a, n, x, n)
				}
				b.ReportMetric(float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFlop/s")
			})
		})
	}
}
