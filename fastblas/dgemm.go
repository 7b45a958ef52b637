package fastblas

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is gonum's pure-Go BLAS with Dgemm and Dtrsm on this
// package's micro-kernels. Its zero value is ready to use; it satisfies
// blas.Float64 (for gonum's blas64.Use) and Gorgonia's BLAS interface.
type Implementation struct {
	gonum.Implementation
}

// microKernel is one register-blocked kernel and its blocking: run computes
// C[i*ldc+j] += alpha·Σ_p a[p*mr+i]·b[p*nr+j] for an mr×nr tile, set
// C[i*ldc+j] = alpha·Σ_p … without reading C, trsm a step of a triangular
// solve (C − Σ …, then the mr×mr diagonal block by substitution); kc is the
// depth of a packed slice (a kc×nr panel of B stays in L1), mc the height of
// a packed block of A (in L2).
type microKernel struct {
	name           string
	mr, nr, kc, mc int
	run, set       func(k int, a, b, c *float64, ldc int, alpha float64)
	trsm           func(k int, a, b, c *float64, ldc int, d, x *float64) // see packedTrsm
	has            bool                                                  // the CPU can run it
	index          int                                                   // its place in kernels
}

// active is the fastest kernel this CPU runs; nil means gonum's code.
var active = best()

func best() *microKernel {
	for i := range kernels {
		if kernels[i].has {
			return &kernels[i]
		}
	}
	return nil
}

// Kernel names the micro-kernel in use: "avx512", "avx2", or "gonum" when
// products run on gonum's portable code.
func Kernel() string {
	if active == nil {
		return "gonum"
	}
	return active.name
}

const (
	// smallProduct: below this m·n·k, products that smallKernelGemm does
	// not take (some dimension above smallDim, e.g. 1×1000×3) run by dot
	// products, and Dtrsm goes to gonum.
	smallProduct = 16 * 16 * 16
	// parallelProduct: from this m·n·k on, blocks of rows run concurrently.
	parallelProduct = 96 * 96 * 96
	// ncMax bounds the columns of a packed block of B.
	ncMax = 3072
)

// Dgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, with
// gonum's argument checks and panics.
func (impl Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	kern := active
	if kern == nil {
		impl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// gonum checks every argument and returns at once for alpha = 0, beta = 1.
	impl.Implementation.Dgemm(tA, tB, m, n, k, 0, a, lda, b, ldb, 1, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 && beta == 1 {
		return
	}
	// C = beta·C first, unless beta = 0 and a product will set C without
	// reading it (alpha ≠ 0 and k > 0): with k = 0 the product is empty and
	// C = beta·C is the whole result, as in gonum.
	if beta != 1 && (beta != 0 || alpha == 0 || k == 0) {
		scaleRows(m, n, beta, c, ldc)
	}
	if alpha == 0 || k == 0 {
		return
	}
	if m*n*k < tinyProduct {
		tinyGemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta == 0, c, ldc)
		return
	}
	if m <= smallDim && n <= smallDim && k <= smallDim {
		smallKernelGemm(smallKernel(kern, m, n), tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta == 0, c, ldc)
		return
	}
	if m*n*k < smallProduct {
		smallGemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta == 0, c, ldc)
		return
	}
	gemm(kern, tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta == 0, c, ldc)
}

// gemm adds alpha·op(A)·op(B) to C, or with set stores it in C without
// reading C (m, n, k > 0).
func gemm(kern *microKernel, aT, bT bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, set bool, c []float64, ldc int) {
	mr, nr := kern.mr, kern.nr
	kc := min(kern.kc, k)
	nc := roundUp(min(n, ncMax), nr)
	// Blocks of rows: at most kern.mc high, as many as the workers (or a
	// multiple of them) when the product is large enough to share.
	blocks := ceilDiv(m, kern.mc)
	workers := 1
	if m*n*k >= parallelProduct {
		workers = min(runtime.GOMAXPROCS(0), ceilDiv(m, mr))
		blocks = roundUp(blocks, workers)
	}
	mc := roundUp(ceilDiv(m, blocks), mr)
	blocks = ceilDiv(m, mc)
	workers = min(workers, blocks)

	bpack := getBuffer(kc * nc)
	defer putBuffer(bpack)
	apacks := make([]*[]float64, workers)
	for w := range apacks {
		apacks[w] = getBuffer(mc*kc + maxTile) // and an edge tile for macro
		defer putBuffer(apacks[w])
	}
	for jc := 0; jc < n; jc += nc {
		ncur := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			packB(bT, b, ldb, pc, jc, kcur, ncur, nr, *bpack)
			block := func(w, ic int) {
				mcur := min(mc, m-ic)
				ap := *apacks[w]
				packA(aT, a, lda, ic, pc, mcur, kcur, mr, ap)
				macro(kern, ap, *bpack, mcur, ncur, kcur, alpha, set && pc == 0, c[ic*ldc+jc:], ldc, ap[mc*kc:])
			}
			if workers == 1 {
				for ic := 0; ic < m; ic += mc {
					block(0, ic)
				}
				continue
			}
			var next atomic.Int64
			parallel(workers, func(w int) {
				for i := int(next.Add(1)) - 1; i < blocks; i = int(next.Add(1)) - 1 {
					block(w, i*mc)
				}
			})
		}
	}
}

// parallel runs work(0), …, work(workers−1) on goroutines and waits for
// them. A panic in one (a bug: BLAS arguments are checked first) is
// re-raised in the caller's goroutine, where it can be recovered, instead
// of ending the program.
func parallel(workers int, work func(w int)) {
	failed := make([]any, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { failed[w] = recover() }()
			work(w)
		}()
	}
	wg.Wait()
	for _, p := range failed {
		if p != nil {
			panic(p)
		}
	}
}

// smallDim: products whose m, n and k are all at most this go to
// smallKernelGemm.
const smallDim = 32

// smallKernel is the kernel for a small m×n product: among kern and the
// kernels listed after it that the CPU runs, the one whose tiles cover the
// product with the least padding (the smallest roundUp(m, mr)·roundUp(n,
// nr); a tie keeps the one listed first). On AVX-512: 8×16 at n = 16 and
// 32, AVX2's 6×8 at n = 8 (8×24 would be two-thirds padding). Measured
// on AVX-512 (BenchmarkDgemm, CPU time): n = 8 runs 1.9× faster on 6×8
// than on 8×24; n = 16 2.7× faster on 8×16 than on 6×8, n = 32 1.45×
// faster on 8×16 than on 8×24 (docs/benchmarks.md).
func smallKernel(kern *microKernel, m, n int) *microKernel {
	best, area := kern, roundUp(m, kern.mr)*roundUp(n, kern.nr)
	for i := range kernels {
		k := &kernels[i]
		if k.has && k.index > kern.index {
			if a := roundUp(m, k.mr) * roundUp(n, k.nr); a < area {
				best, area = k, a
			}
		}
	}
	return best
}

// smallKernelGemm is gemm for m, n, k ≤ smallDim: one slice of k, one block
// of rows, no goroutines; the operands are copied into panels (at most
// 2·48·32 values, in one reused buffer: the kernels' calls through function
// values would move a stack array to the heap), then the micro-kernel runs
// on each tile.
func smallKernelGemm(kern *microKernel, aT, bT bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, set bool, c []float64, ldc int) {
	buf, _ := smallBuffers.Get().(*[2*smallPanel + maxTile]float64)
	if buf == nil {
		buf = new([2*smallPanel + maxTile]float64)
	}
	ap, bp := buf[:smallPanel], buf[smallPanel:2*smallPanel]
	packA(aT, a, lda, 0, 0, m, k, kern.mr, ap)
	packB(bT, b, ldb, 0, 0, k, n, kern.nr, bp)
	macro(kern, ap, bp, m, n, k, alpha, set, c, ldc, buf[2*smallPanel:])
	smallBuffers.Put(buf)
}

var smallBuffers sync.Pool // *[2*smallPanel + maxTile]float64

// smallPanel bounds roundUp(smallDim, r)·smallDim over the kernels' tile
// sides r (mr and nr: 6, 8, 24).
const smallPanel = 48 * smallDim

// tinyProduct: below this m·n·k (8³), tinyGemm's loops beat the
// micro-kernel's copies and calls.
const tinyProduct = 8 * 8 * 8

// tinyGemm is gemm by plain loops, four columns of C at a time (four sums
// in registers, each element of op(A) loaded once per four).
func tinyGemm(aT, bT bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, set bool, c []float64, ldc int) {
	ai, ap, bp, bj := lda, 1, ldb, 1 // op(A)[i,p] = a[i*ai+p*ap], op(B)[p,j] = b[p*bp+j*bj]
	if aT {
		ai, ap = 1, lda
	}
	if bT {
		bp, bj = 1, ldb
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		j := 0
		for ; j+4 <= n; j += 4 {
			var s0, s1, s2, s3 float64
			for p := 0; p < k; p++ {
				x := a[i*ai+p*ap]
				o := p*bp + j*bj
				s0 += x * b[o]
				s1 += x * b[o+bj]
				s2 += x * b[o+2*bj]
				s3 += x * b[o+3*bj]
			}
			r := row[j : j+4 : j+4]
			if set {
				r[0], r[1], r[2], r[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
			} else {
				r[0] += alpha * s0
				r[1] += alpha * s1
				r[2] += alpha * s2
				r[3] += alpha * s3
			}
		}
		for ; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += a[i*ai+p*ap] * b[p*bp+j*bj]
			}
			if set {
				row[j] = alpha * s
			} else {
				row[j] += alpha * s
			}
		}
	}
}

// smallGemm is gemm by dot products, for products too small to pack.
func smallGemm(aT, bT bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, set bool, c []float64, ldc int) {
	ai, ap, bp, bj := lda, 1, ldb, 1 // op(A)[i,p] = a[i*ai+p*ap], op(B)[p,j] = b[p*bp+j*bj]
	if aT {
		ai, ap = 1, lda
	}
	if bT {
		bp, bj = 1, ldb
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			s := 0.0
			for p := 0; p < k; p++ {
				s += a[i*ai+p*ap] * b[p*bp+j*bj]
			}
			if set {
				row[j] = alpha * s
			} else {
				row[j] += alpha * s
			}
		}
	}
}

// macro multiplies a packed mcur×kcur block of A by a packed kcur×ncur block
// of B and adds the product to C, or with set stores it (c starts at the
// block's first element). edge (maxTile values) holds a partial tile: a
// local array would be moved to the heap, since the kernels are called
// through function values.
func macro(kern *microKernel, apack, bpack []float64, mcur, ncur, kcur int, alpha float64, set bool, c []float64, ldc int, edge []float64) {
	mr, nr := kern.mr, kern.nr
	run := kern.run
	if set {
		run = kern.set
	}
	for jr := 0; jr < ncur; jr += nr {
		bp := &bpack[(jr/nr)*kcur*nr]
		nn := min(nr, ncur-jr)
		for ir := 0; ir < mcur; ir += mr {
			ap := &apack[(ir/mr)*kcur*mr]
			mm := min(mr, mcur-ir)
			if mm == mr && nn == nr {
				run(kcur, ap, bp, &c[ir*ldc+jr], ldc, alpha)
				continue
			}
			tile := edge[:mr*nr]
			kern.set(kcur, ap, bp, &tile[0], nr, alpha)
			for i := 0; i < mm; i++ {
				row := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+nn]
				if set {
					copy(row, tile[i*nr:i*nr+nn])
					continue
				}
				for j := range row {
					row[j] += tile[i*nr+j]
				}
			}
		}
	}
}

// maxTile bounds mr·nr over the kernels.
const maxTile = 8 * 24

// packA copies op(A)[i0:i0+mcur, p0:p0+kcur] into panels of mr rows: within
// a panel, step p holds the mr values of column p (zero past the last row).
func packA(aT bool, a []float64, lda, i0, p0, mcur, kcur, mr int, dst []float64) {
	for ir := 0; ir < mcur; ir += mr {
		panel := dst[(ir/mr)*kcur*mr : (ir/mr+1)*kcur*mr]
		mm := min(mr, mcur-ir)
		if aT {
			for p := 0; p < kcur; p++ {
				off := (p0+p)*lda + i0 + ir
				copy(panel[p*mr:p*mr+mm], a[off:off+mm])
			}
		} else if mm == 8 && mr == 8 {
			packRows8(a, lda, (i0+ir)*lda+p0, kcur, panel)
		} else {
			for i := 0; i < mm; i++ {
				off := (i0+ir+i)*lda + p0
				for p, v := range a[off : off+kcur] {
					panel[p*mr+i] = v
				}
			}
		}
		if mm < mr {
			for p := 0; p < kcur; p++ {
				clear(panel[p*mr+mm : (p+1)*mr])
			}
		}
	}
}

// packRows8 interleaves 8 rows of kcur values (the first at a[off], the
// next ones lda apart) into dst: step p holds the 8 values of column p, so
// the writes are sequential.
func packRows8(a []float64, lda, off, kcur int, dst []float64) {
	r0 := a[off : off+kcur]
	r1 := a[off+lda : off+lda+kcur]
	r2 := a[off+2*lda : off+2*lda+kcur]
	r3 := a[off+3*lda : off+3*lda+kcur]
	r4 := a[off+4*lda : off+4*lda+kcur]
	r5 := a[off+5*lda : off+5*lda+kcur]
	r6 := a[off+6*lda : off+6*lda+kcur]
	r7 := a[off+7*lda : off+7*lda+kcur]
	dst = dst[:8*kcur]
	for p := range kcur {
		d := dst[8*p : 8*p+8 : 8*p+8]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
	}
}

// packB copies op(B)[p0:p0+kcur, j0:j0+ncur] into panels of nr columns:
// within a panel, step p holds the nr values of row p (zero past the last
// column).
func packB(bT bool, b []float64, ldb, p0, j0, kcur, ncur, nr int, dst []float64) {
	for jr := 0; jr < ncur; jr += nr {
		panel := dst[(jr/nr)*kcur*nr : (jr/nr+1)*kcur*nr]
		nn := min(nr, ncur-jr)
		if bT {
			for j := 0; j < nn; j++ {
				off := (j0+jr+j)*ldb + p0
				for p, v := range b[off : off+kcur] {
					panel[p*nr+j] = v
				}
			}
		} else {
			for p := 0; p < kcur; p++ {
				off := (p0+p)*ldb + j0 + jr
				copy(panel[p*nr:p*nr+nn], b[off:off+nn])
			}
		}
		if nn < nr {
			for p := 0; p < kcur; p++ {
				clear(panel[p*nr+nn : (p+1)*nr])
			}
		}
	}
}

var buffers sync.Pool // *[]float64

// getBuffer returns a buffer of at least n values, reused across calls.
func getBuffer(n int) *[]float64 {
	if p, ok := buffers.Get().(*[]float64); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float64, n)
	return &s
}

func putBuffer(p *[]float64) { buffers.Put(p) }

// scaleRows multiplies the m×n matrix c by s; s = 0 sets it to zero
// without reading it (a NaN there does not survive).
func scaleRows(m, n int, s float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if s == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= s
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
