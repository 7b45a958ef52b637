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
	addrs  string // the columns' addresses and lengths
	sum    uint64
}

type rowCondCache struct {
	sync.Mutex
	seed    maphash.Seed   // set once
	entries []rowCondEntry // most recent first, at most cacheSize
}

type rowCondEntry struct {
	key rowCondKey
	mc  MatrixCondition
	fs  []sampleFactor // each sample's factorisation; nil: not kept
	mem int            // their bytes
}

// rowFactorBytes caps the factorisations the cache keeps (a sixteenth of
// budget.DefaultBytes, the cap of one allocation): at inputs a solve saw
// before — a B-pass repeated at one point with another direction, as
// shift-invert Lanczos makes (spectral.ShiftInvert) — the solve is then
// only triangular solves. The oldest entries lose their factors first; an
// entry above the cap alone keeps none.
var rowFactorBytes = int(budget.DefaultBytes() / 16)

// key returns the key of RowSolveOp's inputs v (λ, X, R_1, …, R_N), or
// false when they are not float64 values.
func (c *rowCondCache) key(v []G.Value) (rowCondKey, bool) {
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
	return rowCondKey{lambda: math.Float64bits(lambda), addrs: string(addrs), sum: h.Sum64()}, true
}

func (c *rowCondCache) get(v []G.Value) (MatrixCondition, bool) {
	k, ok := c.key(v)
	if !ok {
		return MatrixCondition{}, false
	}
	c.Lock()
	defer c.Unlock()
	for _, e := range c.entries {
		if e.key == k {
			return e.mc, true
		}
	}
	return MatrixCondition{}, false
}

// factors returns the factorisations kept for inputs v, if any.
func (c *rowCondCache) factors(v []G.Value) ([]sampleFactor, bool) {
	k, ok := c.key(v)
	if !ok {
		return nil, false
	}
	c.Lock()
	defer c.Unlock()
	for _, e := range c.entries {
		if e.key == k && e.fs != nil {
			return e.fs, true
		}
	}
	return nil, false
}

// put records the conditions mc, and the factorisations fs if not nil,
// of inputs v.
func (c *rowCondCache) put(v []G.Value, mc MatrixCondition, fs []sampleFactor) {
	k, ok := c.key(v)
	if !ok {
		return
	}
	e := rowCondEntry{key: k, mc: mc}
	for i := range fs {
		e.mem += fs[i].bytes()
	}
	if fs != nil && e.mem <= rowFactorBytes {
		e.fs = fs
	}
	c.Lock()
	defer c.Unlock()
	c.entries = append([]rowCondEntry{e}, c.entries[:min(len(c.entries), cacheSize-1)]...)
	total := 0
	for i := range c.entries {
		if c.entries[i].fs == nil {
			continue
		}
		if total += c.entries[i].mem; total > rowFactorBytes {
			c.entries[i].fs, total = nil, total-c.entries[i].mem
		}
	}
}
