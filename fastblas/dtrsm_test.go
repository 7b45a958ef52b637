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

// illTriangle returns an order×order triangle ul at stride ld that is ill
// conditioned (cond₁ ≈ 2e7 at order 301: off-diagonal 4·N(0,1) against a
// diagonal in [10, 20], so the solution grows along the substitution) and
// whose substitution forms values 10–20 times the solution's (the diagonal
// times x_i before the division): the case near overflow. The other
// triangle holds NaN, which Dtrsm must not read.
func illTriangle(rng *rand.Rand, order, ld int, ul blas.Uplo) []float64 {
	a := make([]float64, order*ld)
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			switch {
			case i == j:
				a[i*ld+j] = 10 * (1 + rng.Float64())
			case (i > j) == (ul == blas.Lower):
				a[i*ld+j] = 4 * rng.NormFloat64()
			default:
				a[i*ld+j] = math.NaN()
			}
		}
	}
	return a
}

// overflowCase is one system op(A)·X = αB or X·op(A) = αB for the range
// tests, with the helpers that check a solution of it.
type overflowCase struct {
	s        blas.Side
	ul       blas.Uplo
	tA       blas.Transpose
	m, n     int
	order    int
	alpha    float64
	a        []float64 // order×order, stride order
	opA, inv func(i, j int) float64
}

func newOverflowCase(a []float64, order, rhs int, s blas.Side, ul blas.Uplo, tA blas.Transpose, alpha float64) *overflowCase {
	c := &overflowCase{s: s, ul: ul, tA: tA, m: order, n: rhs, order: order, alpha: alpha, a: a}
	if s == blas.Right {
		c.m, c.n = rhs, order
	}
	c.opA = func(i, j int) float64 {
		if tA != blas.NoTrans {
			i, j = j, i
		}
		if i != j && (i > j) != (ul == blas.Lower) {
			return 0
		}
		return a[i*order+j]
	}
	// op(A)⁻¹ by gonum's solve against the identity: only for the error
	// bound below, where a relative error of its entries is harmless.
	inv := make([]float64, order*order)
	for i := 0; i < order; i++ {
		inv[i*order+i] = 1
	}
	gonum.Implementation{}.Dtrsm(blas.Left, ul, tA, blas.NonUnit, order, order, 1, a, order, inv, order)
	c.inv = func(i, j int) float64 { return inv[i*order+j] }
	return c
}

// small is the exact power of two by which the checks scale X and B before
// forming products, so that nothing overflows while checking: scaling by a
// power of two commutes with every rounding (nothing here is near underflow).
const small = 0x1p-64

// reference solves the system by gonum's code on B·small and scales the
// result back: gonum's arithmetic without gonum's overflow.
func (c *overflowCase) reference(b []float64) []float64 {
	x := make([]float64, len(b))
	for i, v := range b {
		x[i] = v * small
	}
	gonum.Implementation{}.Dtrsm(c.s, c.ul, c.tA, blas.NonUnit, c.m, c.n, c.alpha, c.a, c.order, x, c.n)
	for i := range x {
		x[i] /= small
	}
	return x
}

// magnitudes returns, scaled by small, |αB| + |op(A)|·|X| (left) or
// |αB| + |X|·|op(A)| (right): the bound on the values a substitution forms
// on its way to X, before the division by max(1, |α|) of the documented range.
func (c *overflowCase) magnitudes(b, x []float64) []float64 {
	out := make([]float64, c.m*c.n)
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			s := math.Abs(c.alpha * (b[i*c.n+j] * small))
			for p := 0; p < c.order; p++ {
				if c.s == blas.Left {
					s += math.Abs(c.opA(i, p) * (x[p*c.n+j] * small))
				} else {
					s += math.Abs(x[i*c.n+p] * small * c.opA(p, j))
				}
			}
			out[i*c.n+j] = s
		}
	}
	return out
}

// rangeBound is max over the elements of (|αB| + |op(A)||X|)/max(1, |α|):
// the solve stays finite when it is below MaxFloat64 (package doc).
func (c *overflowCase) rangeBound(b, x []float64) float64 {
	m := 0.0
	for _, v := range c.magnitudes(b, x) {
		m = max(m, v)
	}
	return m / small / max(1, math.Abs(c.alpha))
}

// check compares the solution got with the reference want. A triangular
// solve is backward stable: its residual r obeys |r| ≤ 4·γ_{2·order}·mag
// elementwise (mag from magnitudes; 4 for the blocked updates, as in
// checkTrsm), so it must, and two such solutions differ by at most
// 2·|op(A)⁻¹|·4γ·mag (left; mag·|op(A)⁻¹| on the right): the forward bound
// for this ill-conditioned triangle, far looser than checkTrsm's 1e-12.
func (c *overflowCase) check(t *testing.T, name string, b, got, want []float64) {
	t.Helper()
	for i, v := range got {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%s %c%c%c α=%g: X[%d] = %v; the reference is %.4g", name, c.s, c.ul, c.tA, c.alpha, i, v, want[i])
		}
	}
	gamma := 4 * float64(2*c.order) * 0x1p-53
	mag := c.magnitudes(b, got)
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			r := -c.alpha * (b[i*c.n+j] * small)
			for p := 0; p < c.order; p++ {
				if c.s == blas.Left {
					r += c.opA(i, p) * (got[p*c.n+j] * small)
				} else {
					r += got[i*c.n+p] * small * c.opA(p, j)
				}
			}
			if !(math.Abs(r) <= gamma*mag[i*c.n+j]) {
				t.Fatalf("%s %c%c%c α=%g: residual %.3g at (%d,%d) > bound %.3g (scaled by 2⁻⁶⁴)",
					name, c.s, c.ul, c.tA, c.alpha, r, i, j, gamma*mag[i*c.n+j])
			}
		}
	}
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			e := 0.0
			for p := 0; p < c.order; p++ {
				if c.s == blas.Left {
					e += math.Abs(c.inv(i, p)) * mag[p*c.n+j]
				} else {
					e += mag[i*c.n+p] * math.Abs(c.inv(p, j))
				}
			}
			tol := 2 * gamma * e / small
			if d := math.Abs(got[i*c.n+j] - want[i*c.n+j]); !(d <= tol) {
				t.Fatalf("%s %c%c%c α=%g: X[%d,%d] = %.6g, reference %.6g (|Δ| %.3g > %.3g)",
					name, c.s, c.ul, c.tA, c.alpha, i, j, got[i*c.n+j], want[i*c.n+j], d, tol)
			}
		}
	}
}

// The reported case (issue 19 item 27): an ill-conditioned order-301
// triangle, α = 2.5, the solution's largest element 1.97e307. gonum, which
// scales by α after the solve on the left with op(A) = Aᵀ, returns it; the
// packed solve scaled B by α first, so the diagonal times x_i (≈ 15·1.97e307/2.5)
// overflowed to +Inf and NaN followed. Now every case, on every kernel, is
// finite and within the error bound of the reference.
func TestDtrsmNearOverflowReported(t *testing.T) {
	const order, rhs, alpha, top = 301, 24, 2.5, 1.97e307
	for _, s := range []blas.Side{blas.Left, blas.Right} {
		for _, ul := range []blas.Uplo{blas.Lower, blas.Upper} {
			for _, tA := range transposes {
				rng := rand.New(rand.NewPCG(27, 1))
				c := newOverflowCase(illTriangle(rng, order, order, ul), order, rhs, s, ul, tA, alpha)
				b := randMatrix(rng, c.m, c.n, c.n)
				x := c.reference(b)
				big := 0.0
				for _, v := range x {
					big = max(big, math.Abs(v))
				}
				for i := range b {
					b[i] *= top / big
				}
				want := c.reference(b)
				if s == blas.Left && tA == blas.Trans { // the report's comparison: gonum is finite here
					g := append([]float64(nil), b...)
					gonum.Implementation{}.Dtrsm(s, ul, tA, blas.NonUnit, c.m, c.n, alpha, c.a, order, g, c.n)
					for i, v := range g {
						if math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("gonum %c%c%c: X[%d] = %v: not the reported case", s, ul, tA, i, v)
						}
					}
				}
				eachKernel(t, func(name string) {
					got := append([]float64(nil), b...)
					Implementation{}.Dtrsm(s, ul, tA, blas.NonUnit, c.m, c.n, alpha, c.a, order, got, c.n)
					c.check(t, name, b, got, want)
				})
			}
		}
	}
}

// The documented range (package doc, "Range"), from both sides, every case,
// every kernel, |α| above and below 1:
//
//   - with B scaled so that (|αB| + |op(A)||X|)/max(1, |α|) is
//     0.999·MaxFloat64 the solve is finite and within its error bound. The
//     margin 0.001 is far above what rounding can add to that bound
//     (order·ε ≈ 3e-14 relative for the sums; the reference's forward error,
//     ≈ cond·ε ≈ 2e-9 relative, for where the maximum sits);
//   - with B scaled so that max |op(A)_ii·x_i|/max(1, |α|), a value every
//     substitution forms (the right-hand side of unknown i before the
//     division by the diagonal), is 1.01·MaxFloat64 while X itself is
//     representable, the solve overflows: the range cannot be wider than
//     that. (The margin 0.01 again covers the reference's forward error.)
func TestDtrsmRangeBoundary(t *testing.T) {
	const order, rhs = 301, 16
	for _, alpha := range []float64{2.5, -0.4} {
		for _, s := range []blas.Side{blas.Left, blas.Right} {
			for _, ul := range []blas.Uplo{blas.Lower, blas.Upper} {
				for _, tA := range transposes {
					rng := rand.New(rand.NewPCG(27, 2))
					c := newOverflowCase(illTriangle(rng, order, order, ul), order, rhs, s, ul, tA, alpha)
					b0 := randMatrix(rng, c.m, c.n, c.n)
					x0 := c.reference(b0)

					// Inside: finite and accurate.
					b := append([]float64(nil), b0...)
					bound := c.rangeBound(b0, x0)
					for i := range b {
						b[i] *= 0.999 * math.MaxFloat64 / bound
					}
					want := c.reference(b)
					eachKernel(t, func(name string) {
						got := append([]float64(nil), b...)
						Implementation{}.Dtrsm(s, ul, tA, blas.NonUnit, c.m, c.n, alpha, c.a, order, got, c.n)
						c.check(t, name, b, got, want)
					})

					// Outside: the diagonal term overflows.
					diag := c.diagonalTerm(x0)
					b = append(b[:0], b0...)
					for i := range b {
						b[i] *= math.MaxFloat64 / diag * 1.01
					}
					want = c.reference(b)
					if top := maxAbs(want); !(top < math.MaxFloat64) || !(c.diagonalTerm(want) > math.MaxFloat64) {
						t.Fatalf("%c%c%c α=%g: not past the boundary (max |X| %.3g, diagonal term %.3g)",
							s, ul, tA, alpha, top, c.diagonalTerm(want))
					}
					eachKernel(t, func(name string) {
						got := append([]float64(nil), b...)
						Implementation{}.Dtrsm(s, ul, tA, blas.NonUnit, c.m, c.n, alpha, c.a, order, got, c.n)
						for _, v := range got {
							if math.IsNaN(v) || math.IsInf(v, 0) {
								return
							}
						}
						t.Errorf("%s %c%c%c α=%g: finite past the documented boundary: update the doc", name, s, ul, tA, alpha)
					})
				}
			}
		}
	}
}

// diagonalTerm is max |op(A)_ii·x_i|/max(1, |α|) over X (the unknown's
// index along the triangle is X's row on the left, its column on the
// right), computed without overflowing (+Inf only if it is past
// MaxFloat64·2⁶⁴).
func (c *overflowCase) diagonalTerm(x []float64) float64 {
	m := 0.0
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			k := i
			if c.s == blas.Right {
				k = j
			}
			m = max(m, math.Abs(c.opA(k, k)*(x[i*c.n+j]*small)))
		}
	}
	return m / max(1, math.Abs(c.alpha)) / small
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

// Dtrsm checks its arguments before scaling B, on every path, and panics
// with gonum's messages; like gonum it accepts an empty B of any length.
func TestDtrsmArgumentsAsGonum(t *testing.T) {
	recovered := func(f func()) (r any) {
		defer func() { r = recover() }()
		f()
		return nil
	}
	a, b := make([]float64, 40*40), make([]float64, 40*40)
	for _, tc := range []struct {
		name           string
		s              blas.Side
		ul             blas.Uplo
		m, n, lda, ldb int
		a, b           []float64
	}{
		{"side", 'x', blas.Lower, 40, 40, 40, 40, a, b},
		{"uplo", blas.Left, 'x', 40, 40, 40, 40, a, b},
		{"m < 0", blas.Left, blas.Lower, -1, 40, 40, 40, a, b},
		{"lda", blas.Left, blas.Lower, 40, 40, 39, 40, a, b},
		{"ldb", blas.Left, blas.Lower, 40, 40, 40, 39, a, b},
		{"short a", blas.Left, blas.Lower, 40, 40, 40, 40, a[:40*39], b},
		{"short b", blas.Right, blas.Lower, 40, 40, 40, 40, a, b[:100]},
		{"empty B, short b", blas.Left, blas.Lower, 40, 0, 40, 1, a, nil},
		{"no rows, short a", blas.Left, blas.Lower, 0, 40, 1, 40, nil, nil},
	} {
		for _, alpha := range []float64{1, 2.5} {
			want := recovered(func() {
				gonum.Implementation{}.Dtrsm(tc.s, tc.ul, blas.NoTrans, blas.NonUnit, tc.m, tc.n, alpha, tc.a, tc.lda, tc.b, tc.ldb)
			})
			eachKernel(t, func(name string) {
				got := recovered(func() {
					Implementation{}.Dtrsm(tc.s, tc.ul, blas.NoTrans, blas.NonUnit, tc.m, tc.n, alpha, tc.a, tc.lda, tc.b, tc.ldb)
				})
				if got != want {
					t.Errorf("%s %s α=%g: recovered %v, gonum %v", name, tc.name, alpha, got, want)
				}
			})
		}
	}
}
