package ops

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// From the second solve of the same λ and columns on, the factorisations
// are kept, and a solve at those columns takes them: its
// result equals, to the bit, a fresh solve of the same numbers in other
// buffers (which misses the cache); a column changed in place, or a cap
// too small for the factors, makes the solve factorise afresh.
func TestRowSolveKeepsFactors(t *testing.T) {
	const b, n = 6, 4
	rng := rand.New(rand.NewPCG(7, 7))
	rnd := func() []float64 {
		d := make([]float64, b*n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return d
	}
	val := func(d []float64) G.Value { return tensor.New(tensor.WithShape(b, n), tensor.WithBacking(d)) }
	lambda := tensor.New(tensor.WithBacking([]float64{0.25}))
	cols := make([][]float64, n)
	for j := range cols {
		cols[j] = rnd()
	}
	in := func(x []float64, copies bool) []G.Value {
		v := []G.Value{lambda, val(x)}
		for _, c := range cols {
			if copies {
				c = slices.Clone(c)
			}
			v = append(v, val(c))
		}
		return v
	}
	op := RowSolveOp{N: n}
	solve := func(v []G.Value) []float64 {
		t.Helper()
		y, err := op.Do(v...)
		if err != nil {
			t.Fatal(err)
		}
		return y.Data().([]float64)
	}
	x1, x2 := rnd(), rnd()
	solve(in(x1, false))
	if rowConditions.kept(in(x2, false), op.layout()) {
		t.Fatal("factors kept after a first solve")
	}
	solve(in(x1, false))
	if !rowConditions.kept(in(x2, false), op.layout()) {
		t.Fatal("after a second solve: no factors kept")
	}
	if got, want := solve(in(x2, false)), solve(in(x2, true)); !slices.Equal(got, want) {
		t.Fatalf("with the kept factors %v, afresh %v", got, want)
	}
	cols[1][5] += 1 // sample 1's M_1, in place
	if rowConditions.kept(in(x2, false), op.layout()) {
		t.Fatal("a column changed in place still served the kept factors")
	}
	if got, want := solve(in(x2, false)), solve(in(x2, true)); !slices.Equal(got, want) {
		t.Fatalf("after the change %v, afresh %v", got, want)
	}
	defer func(c int) { rowFactorBytes = c }(rowFactorBytes)
	rowFactorBytes = 8 * n * n // less than b samples' factors
	cols[2][0] += 1
	solve(in(x1, false))
	solve(in(x1, false))
	if rowConditions.kept(in(x1, false), op.layout()) {
		t.Fatal("factors above the cap kept")
	}
}

// A store released because its factors are too big to keep leaves the
// entry: evicting the entry later must not release it a second time while
// another solve holds it from store() (found in review: two solves then
// factorised into the same memory, silently).
func TestRowFactorStoreReleasedOnce(t *testing.T) {
	c := &rowCondCache{seed: maphash.MakeSeed()}
	saved := rowFactorBytes
	rowFactorBytes = 1 // every factor set too big to keep
	defer func() { rowFactorBytes = saved }()
	const b, n = 2, 3
	st := c.store(b, n)
	fs := make([]sampleFactor, b)
	for i := range fs {
		fs[i] = sampleFactor{vals: make([]float64, n), q: make([]float64, n*n)}
	}
	c.putKey(rowCondKey{addrs: "A"}, true, MatrixCondition{}, fs, st) // st back to the free list
	held := c.store(b, n)                                             // another solve takes it
	if held != st {
		t.Fatal("setup: the released store was not reused")
	}
	for i := 0; i < cacheSize; i++ { // evict A while that solve holds st
		c.putKey(rowCondKey{addrs: fmt.Sprint("k", i)}, true, MatrixCondition{}, nil, nil)
	}
	if again := c.store(b, n); again == held {
		t.Fatalf("store handed out %p twice", held)
	}
}

// The conditions' cache keys the op's layout (N, Chunk) beside the
// buffers: the same buffers read by a RowSolveOp of another layout are
// other systems and must miss (found in review).
func TestRowCondKeyHasLayout(t *testing.T) {
	c := &rowCondCache{seed: maphash.MakeSeed()}
	val := func(x []float64, s ...int) G.Value { return tensor.New(tensor.WithShape(s...), tensor.WithBacking(x)) }
	v := []G.Value{val([]float64{0.5}), val(make([]float64, 8), 4, 2), val(make([]float64, 8), 4, 2), val(make([]float64, 8), 4, 2)}
	a, b := RowSolveOp{N: 2, Chunk: 2}, RowSolveOp{N: 4, Chunk: 2}
	ka, _ := c.key(v, a.layout())
	kb, _ := c.key(v, b.layout())
	c.putKey(ka, true, MatrixCondition{Rank: 2}, nil, nil)
	if mc, ok := c.lookup(ka); !ok || mc.Rank != 2 {
		t.Fatalf("same layout: %v, %v", mc, ok)
	}
	if _, ok := c.lookup(kb); ok {
		t.Fatal("another layout hit the entry of the same buffers")
	}
}

// kept reports whether factorisations are kept for inputs v (of a
// RowSolveOp of the given layout).
func (c *rowCondCache) kept(v []G.Value, layout uint64) bool {
	k, ok := c.key(v, layout)
	c.RLock()
	defer c.RUnlock()
	for _, e := range c.entries {
		if ok && e.key == k && e.fs != nil {
			return true
		}
	}
	return false
}
