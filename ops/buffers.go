package ops

import (
	"reflect"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Buffers of results are recycled across runs: a value that no node reads
// any more goes back to a pool (Release, called by graph.Program), and the
// ops of this package take their outputs from it (alloc) instead of
// allocating fresh, zeroed memory — at n = 256 a pass makes dozens of
// 512 KiB results, and zeroing and faulting them in cost as much as a
// matrix product. The pools are sync.Pools, emptied by the garbage
// collector, so memory that is not reused is returned.

var buffers sync.Map // length → *sync.Pool of *[]float64

// alloc returns n float64s of arbitrary contents: the caller overwrites
// every one.
func alloc(n int) []float64 {
	if p, ok := buffers.Load(n); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]float64); ok {
			return *b
		}
	}
	return make([]float64, n)
}

// Release hands v's memory to later results. The caller guarantees that
// nothing references v any more: graph.Program releases a value only when
// it is produced and read only by ops of this package (Recyclable), after
// its last reading, and never a value it returns.
func Release(v G.Value) {
	t, ok := v.(*tensor.Dense)
	if !ok || t.Dtype() != tensor.Float64 || t.IsView() {
		return
	}
	release(t.Float64s())
}

// release is Release for a buffer of the op's own.
func release(data []float64) {
	if len(data) < 64 { // not worth a pool
		return
	}
	p, _ := buffers.LoadOrStore(len(data), new(sync.Pool))
	p.(*sync.Pool).Put(&data)
}

var ownPkg = reflect.TypeOf(MatMulOp{}).PkgPath()

// Recyclable reports whether op is one of this package's ops, whose
// results are always fresh memory (never a view of an input) and which
// keep no reference to their inputs or results once Do returns (caches
// copy what they keep) — so that a value produced and read only by such
// ops can be Released after its last reading. opcheck.Check verifies the
// first property of every op it checks.
func Recyclable(op G.Op) bool {
	if op == nil {
		return false
	}
	t := reflect.TypeOf(op)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == ownPkg
}
