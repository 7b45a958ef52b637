package ops

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// The LU factorisations of recent matrices, so that one evaluation of the
// passes factorises each matrix once however many solves use it: the
// inverse pass and the B-pass of every block solve with the same h_{l−1}
// and W_k (and their transposes, through SolveOp.Trans), and the condition
// estimates reuse them too. Entries are keyed by the matrix's contents,
// compared exactly, so a changed matrix is never served a stale
// factorisation.
var luCache struct {
	sync.Mutex
	entries []*luEntry // most recently used first
}

// luCacheSize bounds the cache: enough for every distinct matrix of a net
// with a dozen layers.
const luCacheSize = 24

type luEntry struct {
	rows int
	a    []float64 // a copy of the factorised matrix
	lu   *mat.LU
	cond float64
}

// cachedLU returns the LU factorisation of the square matrix a, with its
// condition estimate, factorising it only if no cached entry holds the same
// matrix. A numerically singular matrix is a *SingularError.
func cachedLU(op fmt.Stringer, a *mat.Dense) (*mat.LU, error) {
	r, c := a.Dims()
	if r != c {
		return nil, fmt.Errorf("%v: matrix is %d×%d, want square", op, r, c)
	}
	raw := a.RawMatrix()
	luCache.Lock()
	for i, e := range luCache.entries {
		if e.rows == r && sameMatrix(e.a, raw) {
			copy(luCache.entries[1:i+1], luCache.entries[:i])
			luCache.entries[0] = e
			luCache.Unlock()
			return checkCond(op, e)
		}
	}
	luCache.Unlock()

	var lu mat.LU
	lu.Factorize(a)
	data := make([]float64, r*c)
	for i := 0; i < r; i++ {
		copy(data[i*c:(i+1)*c], raw.Data[i*raw.Stride:i*raw.Stride+c])
	}
	e := &luEntry{rows: r, a: data, lu: &lu, cond: lu.Cond()}
	luCache.Lock()
	luCache.entries = append([]*luEntry{e}, luCache.entries...)
	if len(luCache.entries) > luCacheSize {
		luCache.entries = luCache.entries[:luCacheSize]
	}
	luCache.Unlock()
	return checkCond(op, e)
}

func checkCond(op fmt.Stringer, e *luEntry) (*mat.LU, error) {
	if !(e.cond <= SingularCond) {
		return nil, &SingularError{Op: op.String(), Cond: e.cond}
	}
	return e.lu, nil
}

func sameMatrix(a []float64, m blas64.General) bool {
	if len(a) != m.Rows*m.Cols {
		return false
	}
	for i := 0; i < m.Rows; i++ {
		row := m.Data[i*m.Stride : i*m.Stride+m.Cols]
		base := a[i*m.Cols : (i+1)*m.Cols]
		for j, x := range row {
			if base[j] != x {
				return false
			}
		}
	}
	return true
}
