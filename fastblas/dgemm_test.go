package fastblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// eachKernel runs f once per micro-kernel this CPU runs, and once on gonum's
// code (active = nil), restoring the choice afterwards.
func eachKernel(t testing.TB, f func(name string)) {
	saved := active
	defer func() { active = saved }()
	for i := range kernels {
		if kernels[i].has {
			active = &kernels[i]
			f(kernels[i].name)
		}
	}
	active = nil
	f("gonum")
}

// randMatrix returns rows×cols values at stride ld ≥ cols, the gaps filled
// with a marker the products must not touch.
func randMatrix(rng *rand.Rand, rows, cols, ld int) []float64 {
	s := make([]float64, max(0, (rows-1)*ld+cols))
	for i := range s {
		s[i] = 12345 // marker in the gaps
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			s[i*ld+j] = rng.NormFloat64()
		}
	}
	return s
}

// gemmBound is the elementwise bound on the rounding difference between two
// summation orders of alpha·op(A)·op(B) + beta·C: each is within
// γ_{k+2}·(|α|·|op(A)||op(B)| + |β||C|) of the exact value (Higham, Accuracy
// and Stability, §3.5), so they are within twice that of each other.
func gemmBound(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) []float64 {
	abs := make([]float64, m*n)
	gamma := float64(k+2) * 0x1p-53 / (1 - float64(k+2)*0x1p-53)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += math.Abs(at(tA, a, lda, i, p) * at(tB, b, ldb, p, j))
			}
			abs[i*n+j] = 2 * gamma * (math.Abs(alpha)*s + math.Abs(beta*c[i*ldc+j]))
		}
	}
	return abs
}

// at returns op(X)[i, j] for a row-major X with stride ld.
func at(t blas.Transpose, x []float64, ld, i, j int) float64 {
	if t != blas.NoTrans {
		return x[j*ld+i]
	}
	return x[i*ld+j]
}

var transposes = []blas.Transpose{blas.NoTrans, blas.Trans}

// operandDims returns the rows and columns of A and B as stored for
// op(A) m×k and op(B) k×n.
func operandDims(tA, tB blas.Transpose, m, n, k int) (ar, ac, br, bc int) {
	ar, ac, br, bc = m, k, k, n
	if tA != blas.NoTrans {
		ar, ac = k, m
	}
	if tB != blas.NoTrans {
		br, bc = n, k
	}
	return ar, ac, br, bc
}

// checkGemm compares one product with gonum's on every kernel.
func checkGemm(t *testing.T, rng *rand.Rand, tA, tB blas.Transpose, m, n, k, pad int, alpha, beta float64) {
	t.Helper()
	ar, ac, br, bc := operandDims(tA, tB, m, n, k)
	lda, ldb, ldc := max(1, ac+pad), max(1, bc+pad), max(1, n+pad)
	a := randMatrix(rng, ar, ac, lda)
	b := randMatrix(rng, br, bc, ldb)
	c0 := randMatrix(rng, m, n, ldc)
	want := append([]float64(nil), c0...)
	gonum.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	bound := gemmBound(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
	a0, b0 := append([]float64(nil), a...), append([]float64(nil), b...)
	eachKernel(t, func(name string) {
		c := append([]float64(nil), c0...)
		Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		for i := range c {
			r, col := i/ldc, i%ldc
			if col >= n || r >= m { // a gap: untouched
				if c[i] != c0[i] {
					t.Fatalf("%s %v%v m=%d n=%d k=%d: gap c[%d] changed", name, tA, tB, m, n, k, i)
				}
				continue
			}
			if d := math.Abs(c[i] - want[i]); !(d <= bound[r*n+col]) {
				t.Fatalf("%s %v%v m=%d n=%d k=%d α=%g β=%g: C[%d,%d] = %v, gonum %v (bound %.2g)",
					name, tA, tB, m, n, k, alpha, beta, r, col, c[i], want[i], bound[r*n+col])
			}
		}
		for i := range a {
			if a[i] != a0[i] {
				t.Fatalf("%s: A modified", name)
			}
		}
		for i := range b {
			if b[i] != b0[i] {
				t.Fatalf("%s: B modified", name)
			}
		}
	})
}

func TestDgemmAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 5, 7, 8, 13, 17, 24, 25, 31, 49, 97, 130, 257, 300}
	for _, tA := range transposes {
		for _, tB := range transposes {
			for trial := 0; trial < 40; trial++ {
				m := sizes[rng.IntN(len(sizes))]
				n := sizes[rng.IntN(len(sizes))]
				k := sizes[rng.IntN(len(sizes))]
				alpha := []float64{1, -1, 0.5, 0, 3}[rng.IntN(5)]
				beta := []float64{0, 1, -2, 0.25}[rng.IntN(4)]
				checkGemm(t, rng, tA, tB, m, n, k, rng.IntN(3), alpha, beta)
			}
		}
	}
	// Products that span several packed slices of k and blocks of rows,
	// serially and on the parallel path.
	checkGemm(t, rng, blas.NoTrans, blas.NoTrans, 300, 3100, 520, 1, 1.5, 0.5)
	checkGemm(t, rng, blas.Trans, blas.Trans, 513, 77, 600, 0, -1, 1)
}

// The small-product paths on every kernel, against gonum within the
// rounding bound: plain loops below m·n·k = 8³, one tile kernel (the
// narrowest below n = its width, else the widest) for m, n, k ≤ 32, the
// packed path just past 32; each side at the kernels' tile sides and one
// off them (6, 8, 24), every transpose, padded strides, alpha and beta
// with set (beta = 0) and accumulate.
func TestDgemmSmallAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	dims := []int{1, 3, 4, 6, 7, 8, 9, 16, 23, 24, 25, 32, 33}
	for _, tA := range transposes {
		for _, tB := range transposes {
			for _, m := range dims {
				for _, n := range dims {
					k := dims[rng.IntN(len(dims))]
					alpha := []float64{1, -0.5, 2}[rng.IntN(3)]
					beta := []float64{0, 1, 0.5}[rng.IntN(3)]
					checkGemm(t, rng, tA, tB, m, n, k, rng.IntN(3), alpha, beta)
				}
			}
		}
	}
}

// peer is another BLAS the benchmarks time beside the kernels (OpenBLAS
// with -tags openblas).
type peer struct {
	name string
	impl blas.Float64
}

var peers []peer

// eachImpl runs f with every kernel's Implementation (named as in
// eachKernel) and then with each peer.
func eachImpl(b *testing.B, f func(name string, impl blas.Float64)) {
	eachKernel(b, func(name string) { f(name, Implementation{}) })
	for _, p := range peers {
		f(p.name, p.impl)
	}
}

// BenchmarkDgemm times C = A·B, n×n, in GFlop/s (2n³ flops):
//
//	go test -run '^$' -bench Dgemm -cpu 1 ./fastblas
func BenchmarkDgemm(b *testing.B) {
	for _, n := range []int{3, 4, 8, 16, 32, 64, 128, 256, 512} {
		rng := rand.New(rand.NewPCG(3, 4))
		x, y, z := randMatrix(rng, n, n, n), randMatrix(rng, n, n, n), make([]float64, n*n)
		eachImpl(b, func(name string, impl blas.Float64) {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				c0 := cpuSeconds()
				for b.Loop() {
					impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x, n, y, n, 0, z, n)
				}
				reportFlops(b, 2*float64(n*n*n), c0)
			})
		})
	}
}

// BenchmarkDgemmShapes times the non-square products of an MLP's
// gradient with a 10-wide output (bench/mnist's 784-256-256-10 net, batch
// 128), in GFlop/s (2mnk flops), with the transposes the gradient uses:
// h·W₃ (m=128, k=256, n=10), δ·W₃ᵀ (128×10 by 10×256) and h₂ᵀ·δ
// (256×128 by 128×10):
//
//	go test -run '^$' -bench DgemmShapes -cpu 1 ./fastblas
func BenchmarkDgemmShapes(b *testing.B) {
	for _, s := range []struct {
		ops     string // "N" or "T" for op(A), op(B)
		tA, tB  blas.Transpose
		m, n, k int
	}{{"NN", blas.NoTrans, blas.NoTrans, 128, 10, 256}, {"NT", blas.NoTrans, blas.Trans, 128, 256, 10}, {"TN", blas.Trans, blas.NoTrans, 256, 10, 128}} {
		rng := rand.New(rand.NewPCG(3, 4))
		ar, ac, br, bc := operandDims(s.tA, s.tB, s.m, s.n, s.k)
		x, y, z := randMatrix(rng, ar, ac, ac), randMatrix(rng, br, bc, bc), make([]float64, s.m*s.n)
		name := fmt.Sprintf("%s/m=%d,n=%d,k=%d", s.ops, s.m, s.n, s.k)
		eachImpl(b, func(impl string, f blas.Float64) {
			b.Run(impl+"/"+name, func(b *testing.B) {
				c0 := cpuSeconds()
				for b.Loop() {
					f.Dgemm(s.tA, s.tB, s.m, s.n, s.k, 1, x, ac, y, bc, 0, z, s.n)
				}
				reportFlops(b, 2*float64(s.m*s.n*s.k), c0)
			})
		})
	}
}

// reportFlops reports flops per call as GFlop/s of wall clock and, as
// cpu-GFlop/s, of the process's CPU time since c0 (cpuSeconds): on a
// machine shared with other jobs the wall clock counts the time this one
// waited for a core, the CPU time does not.
func reportFlops(b *testing.B, flops, c0 float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFlop/s")
	b.ReportMetric(flops*float64(b.N)/(cpuSeconds()-c0)/1e9, "cpu-GFlop/s")
}

// cpuSeconds is the process's CPU time (CLOCK_PROCESS_CPUTIME_ID).
func cpuSeconds() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return math.NaN()
	}
	return float64(ts.Sec) + 1e-9*float64(ts.Nsec)
}

// A panic in a worker goroutine reaches the caller, where it can be
// recovered, instead of ending the program.
func TestParallelPanicReachesCaller(t *testing.T) {
	defer func() {
		if r := recover(); r != "worker 1" {
			t.Errorf("recovered %v, want the worker's panic", r)
		}
	}()
	parallel(2, func(w int) {
		if w == 1 {
			panic("worker 1")
		}
	})
	t.Error("no panic")
}

// With k = 0 the product is empty and C = beta·C for every alpha (gonum's
// semantics; beta = 0 sets C to zero without reading it, so a NaN there does
// not survive). The oracle is that definition, and gonum's result must agree
// with it too; both are exact (one multiplication per element), so the
// comparison is bit for bit.
func TestDgemmKZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, size := range [][2]int{{3, 3}, {1, 7}, {40, 50}} {
		m, n := size[0], size[1]
		for _, tA := range transposes {
			for _, tB := range transposes {
				for _, alpha := range []float64{0, 1, -2.5} {
					for _, beta := range []float64{0, 1, -1.5, 0.5} {
						ar, ac, br, bc := operandDims(tA, tB, m, n, 0)
						lda, ldb, ldc := max(1, ac), max(1, bc), n+1
						a, b := randMatrix(rng, ar, ac, lda), randMatrix(rng, br, bc, ldb)
						c0 := randMatrix(rng, m, n, ldc)
						if beta == 0 {
							c0[0] = math.NaN() // not read
						}
						want := append([]float64(nil), c0...)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								if beta == 0 {
									want[i*ldc+j] = 0
								} else {
									want[i*ldc+j] *= beta
								}
							}
						}
						ref := append([]float64(nil), c0...)
						gonum.Implementation{}.Dgemm(tA, tB, m, n, 0, alpha, a, lda, b, ldb, beta, ref, ldc)
						for i := range ref {
							if math.Float64bits(ref[i]) != math.Float64bits(want[i]) {
								t.Fatalf("oracle: gonum's C[%d] = %v, definition %v", i, ref[i], want[i])
							}
						}
						eachKernel(t, func(name string) {
							c := append([]float64(nil), c0...)
							Implementation{}.Dgemm(tA, tB, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc)
							for i := range c {
								if math.Float64bits(c[i]) != math.Float64bits(want[i]) {
									t.Fatalf("%s %v%v m=%d n=%d k=0 α=%g β=%g: c[%d] = %v, want %v",
										name, tA, tB, m, n, alpha, beta, i, c[i], want[i])
								}
							}
						})
					}
				}
			}
		}
	}
}
