package fastblas

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// naiveGemm is alpha·op(A)·op(B) + beta·C by the definition, in IEEE
// arithmetic with no term skipped (beta = 0: C not read): the reference for
// which elements are NaN or ±Inf.
func naiveGemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += at(tA, a, lda, i, p) * at(tB, b, ldb, p, j)
			}
			if alpha == 0 {
				s = 0 // A and B are not read
			} else {
				s *= alpha
			}
			if beta != 0 {
				s += beta * c[i*ldc+j]
			}
			out[i*n+j] = s
		}
	}
	return out
}

// FuzzDgemm compares Dgemm on every kernel with gonum's (finite inputs,
// within the rounding bound of TestDgemmAgainstGonum) and, when NaN, ±Inf
// or zeros are planted in A, B or C, with IEEE arithmetic by definition:
// the same elements NaN, the same ±Inf, the rest within the bound. Sizes
// cover odd edges, several packed k-slices (k > 256), the parallel path and
// the empty product (k = 0, poison bit 16: C = beta·C, every alpha and beta);
// strides leave gaps that must stay untouched.
func FuzzDgemm(f *testing.F) {
	f.Add(uint64(1), uint8(7), uint8(9), uint8(11), uint8(0), uint8(0))
	f.Add(uint64(2), uint8(100), uint8(130), uint8(3), uint8(3), uint8(1))
	f.Add(uint64(3), uint8(25), uint8(24), uint8(255), uint8(6), uint8(2))
	f.Add(uint64(4), uint8(97), uint8(97), uint8(97), uint8(9), uint8(3))
	f.Add(uint64(5), uint8(3), uint8(3), uint8(0), uint8(0), uint8(16))     // k = 0, alpha 1, beta 0
	f.Add(uint64(6), uint8(50), uint8(40), uint8(0), uint8(236), uint8(17)) // k = 0, alpha 2, beta 0, padded
	// The small-product path (m, n, k ≤ 32): every transpose, padded strides,
	// a non-finite value planted, edge tiles and full ones.
	f.Add(uint64(7), uint8(3), uint8(3), uint8(3), uint8(0), uint8(0))       // 4×4×4
	f.Add(uint64(8), uint8(7), uint8(7), uint8(7), uint8(129), uint8(1))     // 8×8×8, Aᵀ, padded
	f.Add(uint64(9), uint8(15), uint8(15), uint8(15), uint8(2+32), uint8(2)) // 16×16×16, Bᵀ, beta 1
	f.Add(uint64(10), uint8(31), uint8(31), uint8(31), uint8(131), uint8(3)) // 32×32×32, both, padded
	f.Add(uint64(11), uint8(4), uint8(30), uint8(12), uint8(64+4), uint8(1)) // 5×31×13, beta −1.5
	f.Fuzz(func(t *testing.T, seed uint64, mb, nb, kb, flags, poison uint8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		m, n, k := 1+int(mb)%140, 1+int(nb)%140, 1+int(kb)%140
		if flags&16 != 0 {
			k += 256 // a second packed slice of k
		}
		if poison&16 != 0 {
			k = 0 // an empty product: C = beta·C for every alpha
		}
		tA, tB := transposes[flags&1], transposes[flags>>1&1]
		alpha := []float64{1, -0.5, 0, 2}[flags>>2&3]
		beta := []float64{0, 1, -1.5, 0}[flags>>5&3]
		pad := int(flags>>7) * 3
		ar, ac, br, bc := operandDims(tA, tB, m, n, k)
		lda, ldb, ldc := max(1, ac+pad), max(1, bc+pad), n+pad
		a, b, c0 := randMatrix(rng, ar, ac, lda), randMatrix(rng, br, bc, ldb), randMatrix(rng, m, n, ldc)
		specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0}
		for range int(poison % 4) { // plant up to three specials
			v := specials[rng.IntN(len(specials))]
			switch rng.IntN(3) {
			case 0:
				if k > 0 { // with k = 0, A and B are empty
					a[rng.IntN(ar)*lda+rng.IntN(ac)] = v
				}
			case 1:
				if k > 0 {
					b[rng.IntN(br)*ldb+rng.IntN(bc)] = v
				}
			default:
				c0[rng.IntN(m)*ldc+rng.IntN(n)] = v
			}
		}
		if beta == 0 && poison%4 == 0 { // beta = 0: C is not read, NaN or not
			for i := range c0 {
				if rng.IntN(8) == 0 {
					c0[i] = math.NaN()
				}
			}
		}
		want := naiveGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
		cAbs := append([]float64(nil), c0...)
		for i := range cAbs {
			if beta == 0 || math.IsNaN(cAbs[i]) || math.IsInf(cAbs[i], 0) {
				cAbs[i] = 0
			}
		}
		bound := gemmBound(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cAbs, ldc)
		eachKernel(t, func(name string) {
			c := append([]float64(nil), c0...)
			Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			for i := range c {
				r, col := i/ldc, i%ldc
				if col >= n {
					if math.Float64bits(c[i]) != math.Float64bits(c0[i]) {
						t.Fatalf("%s: gap c[%d] changed", name, i)
					}
					continue
				}
				g, w := c[i], want[r*n+col]
				if name == "gonum" && poison%4 != 0 {
					// The fallback is gonum's own code, whose non-finite
					// semantics differ: it skips a term whose α·a is 0 (0·Inf
					// is 0 there) and reads A when α = 0.
					continue
				}
				switch {
				case math.IsNaN(w):
					if !math.IsNaN(g) {
						t.Fatalf("%s %v%v m=%d n=%d k=%d: C[%d,%d] = %v, want NaN", name, tA, tB, m, n, k, r, col, g)
					}
				case math.IsInf(w, 0) || math.IsNaN(bound[r*n+col]) || math.IsInf(bound[r*n+col], 0):
					if g != w {
						t.Fatalf("%s %v%v m=%d n=%d k=%d: C[%d,%d] = %v, want %v", name, tA, tB, m, n, k, r, col, g, w)
					}
				default:
					if !(math.Abs(g-w) <= bound[r*n+col]) {
						t.Fatalf("%s %v%v m=%d n=%d k=%d α=%g β=%g: C[%d,%d] = %v, want %v (bound %.2g)",
							name, tA, tB, m, n, k, alpha, beta, r, col, g, w, bound[r*n+col])
					}
				}
			}
		})
	})
}

// FuzzDtrsm compares Dtrsm on every kernel with gonum's on well-conditioned
// triangles of orders that cross the blocking (gonum below trsmSmall = 16; 8- or 6-row blocks above), all
// sides, triangles, transposes and diagonals, with the residual bound of
// TestDtrsmAgainstGonum.
func FuzzDtrsm(f *testing.F) {
	f.Add(uint64(1), uint8(40), uint8(9), uint8(0))
	f.Add(uint64(2), uint8(130), uint8(70), uint8(0xff))
	f.Fuzz(func(t *testing.T, seed uint64, mb, nb, flags uint8) {
		rng := rand.New(rand.NewPCG(seed, 13))
		s := []blas.Side{blas.Left, blas.Right}[flags&1]
		ul := []blas.Uplo{blas.Lower, blas.Upper}[flags>>1&1]
		d := []blas.Diag{blas.NonUnit, blas.Unit}[flags>>3&1]
		alpha := []float64{1, -2, 0.5, 0}[flags>>4&3]
		checkTrsm(t, rng, s, ul, transposes[flags>>2&1], d, 1+int(mb)%150, 1+int(nb)%150, int(flags>>6&1), alpha)
	})
}
