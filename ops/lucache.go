package ops

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/fastblas"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// matrixCache holds the factorisations (LU) and pseudo-inverses of recent
// matrices, so that one evaluation of the passes factorises each matrix
// once however many solves use it: the inverse pass and the B-pass of every
// block solve with the same h_{l−1} and W_k (and their transposes, through
// SolveOp.Trans), and the condition estimates reuse them too. Entries are
// keyed by the matrix's contents, compared bit for bit, so a changed matrix is
// never served a stale result.
type matrixCache struct {
	sync.Mutex
	entries []*cacheEntry // most recently used first
}

// cacheSize bounds each cache: enough for every distinct matrix of a net
// with a dozen layers.
const cacheSize = 24

type cacheEntry struct {
	rows, cols int
	a          []float64 // a copy of the matrix
	val        any
}

var (
	luCache   matrixCache // *luFactors
	pinvCache matrixCache // *pinvResult
)

// get returns the value cached for a, or computes it with f and caches it.
func (c *matrixCache) get(a *mat.Dense, f func() (any, error)) (any, error) {
	return c.getHeld(a, f, nil)
}

// evicter is a cached value told when its entry leaves the cache (under
// the cache's lock).
type evicter interface{ evict() }

// getHeld is get, calling hold (when non-nil) on the value under the
// cache's lock, before any other goroutine can evict it.
func (c *matrixCache) getHeld(a *mat.Dense, f func() (any, error), hold func(any)) (any, error) {
	r, cols := a.Dims()
	raw := a.RawMatrix()
	c.Lock()
	for i, e := range c.entries {
		if e.rows == r && e.cols == cols && sameMatrix(e.a, raw) {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = e
			if hold != nil {
				hold(e.val)
			}
			c.Unlock()
			return e.val, nil
		}
	}
	c.Unlock()
	v, err := f()
	if err != nil {
		return nil, err
	}
	data := alloc(r * cols) // the key: read only under the lock, so pooled
	for i := 0; i < r; i++ {
		copy(data[i*cols:(i+1)*cols], raw.Data[i*raw.Stride:i*raw.Stride+cols])
	}
	c.Lock()
	if hold != nil {
		hold(v)
	}
	c.entries = append([]*cacheEntry{{rows: r, cols: cols, a: data, val: v}}, c.entries...)
	for _, e := range c.entries[min(len(c.entries), cacheSize):] {
		release(e.a) // the value may still be in use: it decides (evicter)
		if ev, ok := e.val.(evicter); ok {
			ev.evict()
		}
	}
	c.entries = c.entries[:min(len(c.entries), cacheSize)]
	c.Unlock()
	return v, nil
}

// luFactors is the LU factorisation with partial pivoting P·A = L·U of a
// square matrix, by fastblas's recursive Dgetrf (Dgemm-rich: gonum's
// mat.LU factorises panels of 64 columns by rank-1 updates), and its
// condition estimate, computed as mat.LU computes it (Dgecon in
// mat.CondNorm, by luRcond).
type luFactors struct {
	lu   blas64.General // L below the diagonal (unit), U on and above
	ipiv []int          // row i was interchanged with row ipiv[i]
	ok   bool           // no pivot is exactly zero
	cond float64        // +Inf when exactly singular

	// Guarded by luCache's lock: the factors' storage goes back to the
	// buffer pool once they have left the cache and no solve holds them
	// (heldLU); never if any caller took them by cachedLU, which does not
	// say when it is done (pinned).
	users           int
	evicted, pinned bool
}

// evict is called when the factors leave luCache (under its lock).
func (f *luFactors) evict() {
	f.evicted = true
	f.recycle()
}

// recycle returns the storage of unused, evicted factors to the pool.
func (f *luFactors) recycle() {
	if f.evicted && f.users == 0 && !f.pinned && f.lu.Data != nil {
		release(f.lu.Data)
		f.lu.Data = nil // a use after this is a panic, not a wrong result
	}
}

// done ends a use of factors taken by heldLU.
func (f *luFactors) done() {
	luCache.Lock()
	f.users--
	f.recycle()
	luCache.Unlock()
}

func factorLU(a *mat.Dense) *luFactors {
	n, _ := a.Dims()
	f := &luFactors{lu: blas64.General{Rows: n, Cols: n, Stride: n, Data: alloc(n * n)}, ipiv: make([]int, n)}
	return factorLUTo(f, a)
}

// factorLUTo is factorLU into f's storage when f is non-nil and of a's
// size (the per-sample solves factor thousands of equal-sized matrices).
func factorLUTo(f *luFactors, a *mat.Dense) *luFactors {
	n, _ := a.Dims()
	raw := a.RawMatrix()
	if f == nil || f.lu.Rows != n {
		f = &luFactors{lu: blas64.General{Rows: n, Cols: n, Stride: n, Data: make([]float64, n*n)}, ipiv: make([]int, n)}
	}
	anorm := copyNorm(f.lu.Data, raw)
	f.ok = fastblas.Implementation{}.Dgetrf(n, n, f.lu.Data, n, f.ipiv)
	f.cond = math.Inf(1)
	if f.ok {
		f.cond = 1 / luRcond(f.lu, anorm)
	}
	return f
}

// copyNorm copies the n×n matrix a into dst (stride n) and returns its
// norm in mat.CondNorm, the largest row sum of |aᵢⱼ|, bit for bit as
// gonum's Dlange computes it (each row summed left to right, the maximum
// by math.Max in row order), in one pass: four rows at a time, whose four
// sums are independent chains of additions that overlap (Dlange's one
// chain waits out each addition's latency: 0.07 of 0.25 ms around a
// factorisation at n = 128, docs/benchmarks.md).
func copyNorm(dst []float64, a blas64.General) float64 {
	n := a.Rows
	var value float64
	i := 0
	for ; i+4 <= n; i += 4 {
		r0 := dst[i*n : i*n+n]
		r1 := dst[(i+1)*n : (i+1)*n+n]
		r2 := dst[(i+2)*n : (i+2)*n+n]
		r3 := dst[(i+3)*n : (i+3)*n+n]
		copy(r0, a.Data[i*a.Stride:i*a.Stride+n])
		copy(r1, a.Data[(i+1)*a.Stride:(i+1)*a.Stride+n])
		copy(r2, a.Data[(i+2)*a.Stride:(i+2)*a.Stride+n])
		copy(r3, a.Data[(i+3)*a.Stride:(i+3)*a.Stride+n])
		var s0, s1, s2, s3 float64
		for j := range r0 {
			s0 += math.Abs(r0[j])
			s1 += math.Abs(r1[j])
			s2 += math.Abs(r2[j])
			s3 += math.Abs(r3[j])
		}
		value = math.Max(math.Max(math.Max(math.Max(value, s0), s1), s2), s3)
	}
	for ; i < n; i++ {
		r := dst[i*n : i*n+n]
		copy(r, a.Data[i*a.Stride:i*a.Stride+n])
		var s float64
		for _, x := range r {
			s += math.Abs(x)
		}
		value = math.Max(value, s)
	}
	return value
}

// Cond is the condition-number estimate (mat.LU's).
func (f *luFactors) Cond() float64 { return f.cond }

// SolveTo solves A·X = B (Aᵀ·X = B with trans) into dst, as mat.LU's
// SolveTo: dst is empty or of B's shape and must not alias B; an exactly
// singular A, or one whose estimate exceeds mat.ConditionTolerance, also
// returns a mat.Condition.
func (f *luFactors) SolveTo(dst *mat.Dense, trans bool, b mat.Matrix) error {
	n := f.lu.Rows
	br, bc := b.Dims()
	if br != n {
		return mat.ErrShape
	}
	if !f.ok {
		return mat.Condition(math.Inf(1))
	}
	if dst.IsEmpty() {
		dst.ReuseAs(n, bc)
	} else if r, c := dst.Dims(); r != n || c != bc {
		return mat.ErrShape
	}
	dst.Copy(b)
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	lapack64.Getrs(t, f.lu, dst.RawMatrix(), f.ipiv)
	if f.cond > mat.ConditionTolerance {
		return mat.Condition(f.cond)
	}
	return nil
}

// SolveRightTo solves X·A = C (X·Aᵀ = C with trans) into dst, C r×n, as
// the left-side system Aᵀ·Xᵀ = Cᵀ (A·Xᵀ = Cᵀ): C is transposed into a
// buffer by cache blocks, solved there (gonum's Dgetrs, on fastblas's
// Dtrsm) and transposed into dst. (Right-side triangular solves in place
// measured 1.2–1.3× slower at n = 64–256, reading C across its rows.)
// dst is empty or r×n and must not alias C; errors as SolveTo's.
func (f *luFactors) SolveRightTo(dst *mat.Dense, trans bool, c *mat.Dense) error {
	n := f.lu.Rows
	r, cc := c.Dims()
	if cc != n {
		return mat.ErrShape
	}
	if !f.ok {
		return mat.Condition(math.Inf(1))
	}
	if dst.IsEmpty() {
		dst.ReuseAs(r, n)
	} else if dr, dc := dst.Dims(); dr != r || dc != n {
		return mat.ErrShape
	}
	t := alloc(n * r)
	defer release(t)
	cr, x := c.RawMatrix(), dst.RawMatrix()
	transpose(r, n, cr.Data, cr.Stride, t, r)
	op := blas.Trans // X·A = C ⇔ Aᵀ·Xᵀ = Cᵀ
	if trans {
		op = blas.NoTrans
	}
	lapack64.Getrs(op, f.lu, blas64.General{Rows: n, Cols: r, Stride: r, Data: t}, f.ipiv)
	transpose(n, r, t, r, x.Data, x.Stride)
	if f.cond > mat.ConditionTolerance {
		return mat.Condition(f.cond)
	}
	return nil
}

// transpose writes the r×c matrix src (stride ls) transposed into dst
// (stride ld), by 16×16 blocks so that both sides stay in cache.
func transpose(r, c int, src []float64, ls int, dst []float64, ld int) {
	const bs = 16
	for i0 := 0; i0 < r; i0 += bs {
		for j0 := 0; j0 < c; j0 += bs {
			for i := i0; i < min(i0+bs, r); i++ {
				row := src[i*ls+j0 : i*ls+min(j0+bs, c)]
				for j, v := range row {
					dst[(j0+j)*ld+i] = v
				}
			}
		}
	}
}

// cachedLU returns the LU factorisation of the square matrix a,
// factorising it only if no cached entry holds the same matrix. A
// numerically singular matrix is an *errs.ConditionError (singular).
func cachedLU(op fmt.Stringer, a *mat.Dense) (*luFactors, error) {
	f, err := lookupLU(op, a, func(f *luFactors) { f.pinned = true })
	if err != nil {
		return nil, err
	}
	return f, nil
}

// heldLU is cachedLU for a caller that calls the factors' done when it
// has finished with them (on success), so that their storage can be
// reused after eviction.
func heldLU(op fmt.Stringer, a *mat.Dense) (*luFactors, error) {
	f, err := lookupLU(op, a, func(f *luFactors) { f.users++ })
	if err != nil && f != nil {
		f.done()
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// lookupLU is cachedLU, calling hold on the factors under the cache's
// lock; on a singular matrix it returns them with the error.
func lookupLU(op fmt.Stringer, a *mat.Dense, hold func(*luFactors)) (*luFactors, error) {
	r, c := a.Dims()
	if r != c {
		return nil, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("matrix is %d×%d, want square", r, c)}
	}
	v, _ := luCache.getHeld(a, func() (any, error) { return factorLU(a), nil }, func(v any) { hold(v.(*luFactors)) })
	f := v.(*luFactors)
	if !(f.cond <= SingularCond) {
		return f, singular(op, f.cond)
	}
	return f, nil
}

func sameMatrix(a []float64, m blas64.General) bool {
	if len(a) != m.Rows*m.Cols {
		return false
	}
	for i := 0; i < m.Rows; i++ {
		if !sameBits(a[i*m.Cols:(i+1)*m.Cols], m.Data[i*m.Stride:i*m.Stride+m.Cols]) {
			return false
		}
	}
	return true
}

// sameBits reports whether x and y hold the same bits (a vectorised memory
// comparison: a matrix is compared with every cached one it may match).
func sameBits(x, y []float64) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) == 0 {
		return true
	}
	bx := unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 8*len(x))
	by := unsafe.Slice((*byte)(unsafe.Pointer(&y[0])), 8*len(y))
	return bytes.Equal(bx, by)
}
