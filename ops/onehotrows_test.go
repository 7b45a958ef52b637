package ops_test

import (
	"testing"

	"github.com/newtonia/newtonia/ops"
	"gorgonia.org/tensor"
)

// The stacked seeds against their definition, entry by entry, from a
// recycled buffer full of garbage (the op must clear it).
func TestOneHotRows(t *testing.T) {
	const b, n = 5, 5 // 75 entries: pooled buffers hold ≥ 64
	o := ops.OneHotRowsOp{N: n, From: 1, Copies: 3}
	garbage := make([]float64, 3*b*n)
	for i := range garbage {
		garbage[i] = 7
	}
	ops.Release(tensor.New(tensor.WithShape(3*b, n), tensor.WithBacking(garbage)))
	x := tensor.New(tensor.WithShape(b, 2), tensor.WithBacking(make([]float64, 2*b)))
	v, err := o.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.Shape(); s[0] != 3*b || s[1] != n {
		t.Fatalf("shape %v, want (%d, %d)", s, 3*b, n)
	}
	d := v.Data().([]float64)
	for r := range 3 * b {
		for j := range n {
			want := 0.0
			if j == o.From+r/b {
				want = 1
			}
			if d[r*n+j] != want {
				t.Fatalf("entry (%d, %d) = %g, want %g", r, j, d[r*n+j], want)
			}
		}
	}
	if _, err := (ops.OneHotRowsOp{N: n, From: 4, Copies: 2}).InferShape(tensor.Shape{b, 2}); err == nil {
		t.Fatal("columns 4 … 5 of 5 accepted")
	}
}
