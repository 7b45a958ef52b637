package ops

import (
	"hash/maphash"
	"math"
	"sync"
	"unsafe"

	"github.com/newtonia/newtonia/internal/budget"
	G "gorgonia.org/gorgonia"
)

// rowConditions holds the per-sample ranks and condition numbers that
// RowSolveOp's solves found, so that Condition, asked after a run about
// the same inputs, does not factorise every M_i a second time — and, up
// to rowFactorBytes, the factorisations themselves, so that a solve of
// the same λ and columns with another right-hand side does not either. An entry
// is keyed by λ's bits, the columns' backing arrays (their addresses and
// lengths) and a 64-bit hash of the columns' contents: a column changed in
// place, or another column at the same address, misses (a stale hit needs
// the same buffers and a hash collision, probability 2⁻⁶⁴). Copying the
// columns as the key, as matrixCache does, would double the route's
// largest values (B·n² floats).
var rowConditions = rowCondCache{seed: maphash.MakeSeed()}

type rowCondKey struct {
	lambda uint64
	layout uint64 // RowSolveOp.layout: N and Chunk, how the columns are read
	addrs  string // the columns' addresses and lengths
	sum    uint64
}

type rowCondCache struct {
	sync.RWMutex                // read-held while kept factors solve: put may recycle their store
	seed         maphash.Seed   // set once
	entries      []rowCondEntry // most recent first, at most cacheSize
	free         []*factorStore // stores no entry uses, at most factorEntries
}

type rowCondEntry struct {
	key rowCondKey
	mc  MatrixCondition
	fs  []sampleFactor // each sample's factorisation; nil: not kept
	mem int            // their bytes
	st  *factorStore   // the LU storage fs points into
}

// factorStore is the storage of every sample's LU of one solve. Freed
// stores are reused (factorEntries of them): fresh memory costs a page
// fault a page, which on this virtual machine made a solve's first touch
// of its factors 70 ms at n = 128 — more than the factorisations.
type factorStore struct {
	lu   []float64
	ipiv []int
}

// factorEntries is the number of entries that keep factorisations: the
// last solve's, which a B-pass repeated on one block at one point (as
// shift-invert Lanczos makes) reuses. Factors are kept from the second
// solve of the same inputs on: keeping the first's too cost a single
// B-pass 25–35% at n = 128 (the copy of B·n² values into storage out of
// cache), for nothing when no second comes. Keeping 4 (a net's blocks) held
// 136 MB at n = 128 and made the gradient and the first B-passes 1.3–1.7×
// slower (CPU time, docs/benchmarks.md), so a repeated B-pass of every
// block reuses only the last block's.
const factorEntries = 1

// rowFactorBytes caps the factorisations the cache keeps (a sixteenth of
// budget.DefaultBytes, the cap of one allocation; factorEntries entries
// at most): at inputs a solve saw before — a B-pass repeated at one point with another direction, as
// shift-invert Lanczos makes (spectral.ShiftInvert) — the solve is then
// only triangular solves. The oldest entries lose their factors first; an
// entry above the cap alone keeps none.
var rowFactorBytes = int(budget.DefaultBytes() / 16)

// key returns the key of the inputs v (λ, X, R_1, …, R_N) of a RowSolveOp
// of the given layout, or false when they are not float64 values.
func (c *rowCondCache) key(v []G.Value, layout uint64) (rowCondKey, bool) {
	if len(v) < 2 {
		return rowCondKey{}, false
	}
	lambda, err := scalar(v[0])
	if err != nil {
		return rowCondKey{}, false
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	addrs := make([]byte, 0, 16*(len(v)-2))
	for _, col := range v[2:] {
		x, _, err := floats(col)
		if err != nil {
			return rowCondKey{}, false
		}
		var p uintptr
		if len(x) > 0 {
			p = uintptr(unsafe.Pointer(&x[0]))
			h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 8*len(x)))
		}
		addrs = append(addrs, unsafe.Slice((*byte)(unsafe.Pointer(&p)), 8)...)
		n := uint64(len(x))
		addrs = append(addrs, unsafe.Slice((*byte)(unsafe.Pointer(&n)), 8)...)
	}
	return rowCondKey{lambda: math.Float64bits(lambda), layout: layout, addrs: string(addrs), sum: h.Sum64()}, true
}

// lookup returns the conditions recorded for inputs of key k, if any
// (a solve's or a Condition's).
func (c *rowCondCache) lookup(k rowCondKey) (MatrixCondition, bool) {
	c.RLock()
	defer c.RUnlock()
	for _, e := range c.entries {
		if e.key == k {
			return e.mc, true
		}
	}
	return MatrixCondition{}, false
}

// solveKept solves sample i's system for x_i into out_i (n values each)
// with the factorisations kept for inputs of key k, and reports whether
// there were any (for as many samples as x has).
func (c *rowCondCache) solveKept(k rowCondKey, n int, x, out []float64) bool {
	c.RLock()
	defer c.RUnlock()
	for _, e := range c.entries {
		if e.key == k && e.fs != nil && len(e.fs)*n == len(x) {
			for i := range e.fs {
				e.fs[i].solve(x[i*n:(i+1)*n], out[i*n:(i+1)*n])
			}
			return true
		}
	}
	return false
}

// store returns LU storage for b samples of n × n: a freed store of that
// size, or a new one.
func (c *rowCondCache) store(b, n int) *factorStore {
	c.Lock()
	defer c.Unlock()
	for i, st := range c.free {
		if len(st.lu) == b*n*n && len(st.ipiv) == b*n {
			c.free = append(c.free[:i], c.free[i+1:]...)
			return st
		}
	}
	return &factorStore{lu: make([]float64, b*n*n), ipiv: make([]int, b*n)}
}

// putKey records the conditions mc, and the factorisations fs (in store
// st) if not nil, of inputs of key k (ok: they had a key; else st only
// goes back).
func (c *rowCondCache) putKey(k rowCondKey, ok bool, mc MatrixCondition, fs []sampleFactor, st *factorStore) {
	e := rowCondEntry{key: k, mc: mc, st: st}
	for i := range fs {
		e.mem += fs[i].bytes()
	}
	if ok && fs != nil && e.mem <= rowFactorBytes {
		e.fs = fs
	}
	c.Lock()
	defer c.Unlock()
	if !ok || e.fs == nil {
		// The store goes back now and so leaves the entry: released again
		// at its eviction, it could be handed to two solves at once.
		c.release(st)
		e.st = nil
		if !ok {
			return
		}
	}
	if len(c.entries) == cacheSize {
		c.release(c.entries[cacheSize-1].drop())
	}
	c.entries = append([]rowCondEntry{e}, c.entries[:min(len(c.entries), cacheSize-1)]...)
	total, kept := 0, 0
	for i := range c.entries {
		if c.entries[i].fs == nil {
			continue
		}
		total += c.entries[i].mem
		if kept++; total > rowFactorBytes || kept > factorEntries {
			total -= c.entries[i].mem
			c.release(c.entries[i].drop())
		}
	}
}

// drop forgets e's factorisations and returns their store.
func (e *rowCondEntry) drop() *factorStore {
	st := e.st
	e.fs, e.st = nil, nil
	return st
}

// release keeps st for a later solve (c held).
func (c *rowCondCache) release(st *factorStore) {
	if st != nil && len(c.free) < factorEntries {
		c.free = append(c.free, st)
	}
}
