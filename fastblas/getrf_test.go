package fastblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"
)

// luBackwardBound checks the factorisation lu (pivots ipiv) of the m×n
// matrix a elementwise: |PA − LU| ≤ γ_{k+1}·|L||U|, k = min(m, n), which
// holds for every LU computed in floating point whatever the order of its
// sums (Higham, Accuracy and Stability, Theorem 9.3, γ_k there; one rounding
// more here because L's column is scaled by the pivot's rounded reciprocal,
// as in LAPACK, not divided by it). It returns the largest
// |PA − LU|_ij / (γ_{k+1}·(|L||U|)_ij), ≤ 1 when the bound holds.
func luBackwardBound(t *testing.T, m, n int, a []float64, lda int, lu []float64, ipiv []int) float64 {
	t.Helper()
	k := min(m, n)
	pa := make([]float64, m*n)
	for i := 0; i < m; i++ {
		copy(pa[i*n:(i+1)*n], a[i*lda:i*lda+n])
	}
	for i, p := range ipiv {
		for j := 0; j < n; j++ {
			pa[i*n+j], pa[p*n+j] = pa[p*n+j], pa[i*n+j]
		}
	}
	gamma := float64(k+1) * 0x1p-53 / (1 - float64(k+1)*0x1p-53)
	worst := 0.0
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s, sa := 0.0, 0.0
			for p := 0; p <= min(i, j, k-1); p++ {
				l := 1.0
				if p < i {
					l = lu[i*lda+p]
				}
				s += l * lu[p*lda+j]
				sa += math.Abs(l * lu[p*lda+j])
			}
			d := math.Abs(pa[i*n+j] - s)
			if d == 0 {
				continue
			}
			// The bound's reference value |L||U| is itself rounded: allow
			// it a relative k·ε, and d its own rounding (one subtraction).
			r := d / (gamma * sa * (1 + 2*float64(k)*0x1p-53))
			worst = max(worst, r)
		}
	}
	return worst
}

// Dgetrf factorises with the pivots of partial pivoting (those of gonum's
// Dgetrf, which follows LAPACK) and within the backward-error bound of any
// floating-point LU; below the diagonal L is the unit lower factor, on and
// above it U. The gaps of a padded stride are left alone.
func TestDgetrfAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][2]int{{1, 1}, {2, 2}, {3, 1}, {1, 3}, {7, 7}, {16, 16}, {17, 17}, {33, 33}, {64, 64},
		{100, 100}, {129, 129}, {257, 257}, {50, 20}, {20, 50}, {130, 70}, {70, 130}, {40, 300}, {300, 40}}
	for _, sh := range shapes {
		for _, pad := range []int{0, 3} {
			m, n := sh[0], sh[1]
			lda := n + pad
			a := randMatrix(rng, m, n, lda)
			got, want := slices.Clone(a), slices.Clone(a)
			gp, wp := make([]int, min(m, n)), make([]int, min(m, n))
			gok := Implementation{}.Dgetrf(m, n, got, lda, gp)
			wok := lapackgonum.Implementation{}.Dgetrf(m, n, want, lda, wp)
			name := fmt.Sprintf("%d×%d lda=%d", m, n, lda)
			if gok != wok || !gok {
				t.Errorf("%s: ok %v, gonum %v (a random matrix is nonsingular)", name, gok, wok)
			}
			if !slices.Equal(gp, wp) {
				t.Errorf("%s: pivots %v, gonum's %v", name, gp, wp)
			}
			if r := luBackwardBound(t, m, n, a, lda, got, gp); r > 1 {
				t.Errorf("%s: |PA − LU| is %.3g × the bound γ_{k+1}|L||U|", name, r)
			}
			// The same check on gonum's factors: the bound is one both meet.
			if r := luBackwardBound(t, m, n, a, lda, want, wp); r > 1 {
				t.Errorf("%s: gonum's |PA − LU| is %.3g × the bound", name, r)
			}
			for i := 0; i < m; i++ {
				for j := n; j < lda && i*lda+j < len(got); j++ {
					if got[i*lda+j] != 12345 {
						t.Fatalf("%s: gap (%d, %d) written", name, i, j)
					}
				}
			}
		}
	}
}

// An exactly singular matrix (a zero column, or a repeated row) completes
// its factorisation with ok false, as gonum's; the pivots of the remaining
// columns are still partial pivoting's.
func TestDgetrfSingular(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{5, 40, 150} {
		for _, kind := range []string{"zero column", "repeated row"} {
			a := randMatrix(rng, n, n, n)
			switch kind {
			case "zero column":
				for i := 0; i < n; i++ {
					a[i*n+n/3] = 0
				}
			case "repeated row":
				copy(a[(n-1)*n:], a[:n])
			}
			got, want := slices.Clone(a), slices.Clone(a)
			gp, wp := make([]int, n), make([]int, n)
			gok := Implementation{}.Dgetrf(n, n, got, n, gp)
			wok := lapackgonum.Implementation{}.Dgetrf(n, n, want, n, wp)
			if kind == "zero column" && (gok || wok) {
				t.Errorf("n=%d %s: ok %v, gonum %v, want false", n, kind, gok, wok)
			}
			if kind == "zero column" && !slices.Equal(gp, wp) {
				t.Errorf("n=%d %s: pivots %v, gonum's %v", n, kind, gp, wp)
			}
			if r := luBackwardBound(t, n, n, a, n, got, gp); r > 1 {
				t.Errorf("n=%d %s: |PA − LU| is %.3g × the bound", n, kind, r)
			}
		}
	}
}

// Solutions from the factors (by gonum's Dgetrs) agree with gonum's within
// the forward-error bound of a backward-stable solve, 2·κ∞(A)·γ_{3n}
// relative to ‖x‖∞ for each of the two (Higham, §7.1 and Theorem 9.4),
// κ∞ = ‖A‖∞‖A⁻¹‖∞ from gonum's inverse.
func TestDgetrfSolveAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	lp := lapackgonum.Implementation{}
	for _, n := range []int{3, 16, 31, 64, 200} {
		a := randMatrix(rng, n, n, n)
		b := randMatrix(rng, n, 2, 2)
		x1, x2 := slices.Clone(b), slices.Clone(b)
		f1, f2 := slices.Clone(a), slices.Clone(a)
		p1, p2 := make([]int, n), make([]int, n)
		Implementation{}.Dgetrf(n, n, f1, n, p1)
		lp.Dgetrf(n, n, f2, n, p2)
		lp.Dgetrs(blas.NoTrans, n, 2, f1, n, p1, x1, 2)
		lp.Dgetrs(blas.NoTrans, n, 2, f2, n, p2, x2, 2)
		inv := slices.Clone(f2)
		lp.Dgetri(n, inv, n, p2, make([]float64, n*n), n*n)
		kappa := infNorm(n, n, a) * infNorm(n, n, inv)
		gamma := float64(3*n) * 0x1p-53 / (1 - float64(3*n)*0x1p-53)
		xn := 0.0
		for _, v := range x2 {
			xn = max(xn, math.Abs(v))
		}
		for i := range x1 {
			if d := math.Abs(x1[i] - x2[i]); d > 2*kappa*gamma*xn {
				t.Errorf("n=%d: x[%d] = %v, gonum %v (κ∞ %.3g)", n, i, x1[i], x2[i], kappa)
			}
		}
	}
}

func infNorm(m, n int, a []float64) float64 {
	s := 0.0
	for i := 0; i < m; i++ {
		r := 0.0
		for _, v := range a[i*n : (i+1)*n] {
			r += math.Abs(v)
		}
		s = max(s, r)
	}
	return s
}

// Bad arguments panic as gonum's Dgetrf's do.
func TestDgetrfArgumentsAsGonum(t *testing.T) {
	cases := []struct {
		m, n, lda, la, lp int
	}{{-1, 2, 2, 4, 0}, {2, -1, 2, 4, 0}, {2, 3, 2, 6, 2}, {2, 2, 2, 3, 2}, {2, 2, 2, 4, 1}}
	for _, c := range cases {
		catch := func(f func()) (p any) {
			defer func() { p = recover() }()
			f()
			return nil
		}
		got := catch(func() { Implementation{}.Dgetrf(c.m, c.n, make([]float64, c.la), c.lda, make([]int, c.lp)) })
		want := catch(func() { lapackgonum.Implementation{}.Dgetrf(c.m, c.n, make([]float64, c.la), c.lda, make([]int, c.lp)) })
		if got == nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%+v: panic %v, gonum %v", c, got, want)
		}
	}
}

// getrfPeer is another LU the benchmark times beside Dgetrf (OpenBLAS's
// with -tags openblas).
type getrfPeer struct {
	name string
	f    func(m, n int, a []float64, lda int, ipiv []int) bool
}

var getrfPeers []getrfPeer

// BenchmarkDgetrf times the LU factorisation of an n×n matrix in GFlop/s
// (2n³/3 flops), beside gonum's lapack Dgetrf (on this package's Dgemm and
// Dtrsm, as package ops installs them), and with -tags openblas
// OpenBLAS's:
//
//	go test -run '^$' -bench Dgetrf -cpu 1 ./fastblas
func BenchmarkDgetrf(b *testing.B) {
	saved := blas64.Implementation()
	blas64.Use(Implementation{})
	defer blas64.Use(saved)
	for _, n := range []int{16, 32, 64, 128, 256, 512} {
		rng := rand.New(rand.NewPCG(11, 12))
		a := randMatrix(rng, n, n, n)
		work, ipiv := make([]float64, n*n), make([]int, n)
		var impls []struct {
			name string
			f    func()
		}
		for _, impl := range []struct {
			name string
			f    func()
		}{
			{"recursive", func() { Implementation{}.Dgetrf(n, n, work, n, ipiv) }},
			{"gonum", func() { lapackgonum.Implementation{}.Dgetrf(n, n, work, n, ipiv) }},
		} {
			impls = append(impls, impl)
		}
		for _, p := range getrfPeers {
			impls = append(impls, struct {
				name string
				f    func()
			}{p.name, func() { p.f(n, n, work, n, ipiv) }})
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("%s/n=%d", impl.name, n), func(b *testing.B) {
				for b.Loop() {
					copy(work, a)
					impl.f()
				}
				b.ReportMetric(2*float64(n*n*n)/3*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFlop/s")
			})
		}
	}
}
