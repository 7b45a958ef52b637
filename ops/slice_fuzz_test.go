package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FuzzSliceConcat draws a matrix, a slice of it (any axis, start, end,
// stride — also ones that do not fit) and a split of it into parts. The
// properties, against index arithmetic written here: the slice keeps
// exactly the entries x[From + j·Step] (or is refused at build time, never
// a panic); its backward rule is its adjoint, ⟨slice(X), Y⟩ = ⟨X,
// slicē(Y)⟩ to 1e-12 relative (the two sides sum the same products in
// another order); and the concatenation of the parts is the matrix, bit
// for bit, as is each part cut back out by its backward rule; one element
// picked (ElementOp) is x[i·c + j] and its adjoint ȳ there among zeros.
func FuzzSliceConcat(f *testing.F) {
	f.Add(uint8(4), uint8(3), uint8(0), int8(1), int8(3), uint8(0), uint64(1))
	f.Add(uint8(6), uint8(5), uint8(1), int8(0), int8(5), uint8(2), uint64(2))
	f.Add(uint8(3), uint8(3), uint8(1), int8(2), int8(1), uint8(1), uint64(3))  // empty: refused
	f.Add(uint8(3), uint8(3), uint8(2), int8(-1), int8(9), uint8(7), uint64(4)) // does not fit: refused
	f.Fuzz(func(t *testing.T, rb, cb, axis uint8, from, to int8, step uint8, seed uint64) {
		r, c := 1+int(rb)%7, 1+int(cb)%7
		rng := rand.New(rand.NewPCG(seed, 5))
		g := G.NewGraph()
		xv := make([]float64, r*c)
		yv := make([]float64, r*c)
		for i := range xv {
			xv[i], yv[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(xv))))
		op := ops.SliceOp{Axis: int(axis) % 3, From: int(from), To: int(to), Step: int(step) % 5}
		s, err := ops.Apply(op, x)
		if err != nil {
			if !typed(err) {
				t.Fatalf("%v on %d×%d: untyped error %v", op, r, c, err)
			}
			return
		}
		st := max(op.Step, 1)
		var want []float64
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				k := []int{i, j}[op.Axis]
				if k >= op.From && k < op.To && (k-op.From)%st == 0 {
					want = append(want, xv[i*c+j])
				}
			}
		}
		// The adjoint: Y shaped like the slice.
		ys := s.Shape()
		y := G.NewMatrix(g, tensor.Float64, G.WithShape(ys...), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(ys...), tensor.WithBacking(yv[:ys.TotalSize()]))))
		back, err := op.VJP([]*G.Node{x}, s, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := graph.Compile("slice", []*G.Node{s, back[0]}).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := values(t, vals[s])
		if !floats.Equal(got, want) {
			t.Fatalf("%v on %d×%d: %v, want %v", op, r, c, got, want)
		}
		lhs := floats.Dot(got, yv[:len(got)])
		rhs := floats.Dot(xv, values(t, vals[back[0]]))
		if d := math.Abs(lhs - rhs); d > 1e-12*(1+math.Abs(lhs)) {
			t.Fatalf("%v: ⟨slice X, Y⟩ = %g, ⟨X, slicē Y⟩ = %g", op, lhs, rhs)
		}

		// One element, and its adjoint: ȳ at (i, j) among zeros.
		ei, ej := rng.IntN(r), rng.IntN(c)
		el, err := ops.Apply(ops.ElementOp{Row: ei, Col: ej}, x)
		if err != nil {
			t.Fatal(err)
		}
		one := G.NewScalar(g, tensor.Float64, G.WithName("ȳ"), G.WithValue(G.NewF64(1.5)))
		eb, err := ops.ElementOp{Row: ei, Col: ej}.VJP([]*G.Node{x}, el, one, nil)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := graph.Compile("element", []*G.Node{el, eb[0]}).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := values(t, ev[el]); got[0] != xv[ei*c+ej] {
			t.Fatalf("element[%d,%d] of a %d×%d: %v, want %v", ei, ej, r, c, got[0], xv[ei*c+ej])
		}
		for k, gk := range values(t, ev[eb[0]]) {
			if want := map[bool]float64{true: 1.5, false: 0}[k == ei*c+ej]; gk != want {
				t.Fatalf("element[%d,%d]: adjoint entry %d = %v, want %v", ei, ej, k, gk, want)
			}
		}

		// Concatenation: x cut into parts along the axis, joined back.
		ax := int(axis) % 2
		n := []int{r, c}[ax]
		var parts []*G.Node
		for at := 0; at < n; {
			k := 1 + rng.IntN(n-at)
			p, err := ops.Apply(ops.SliceOp{Axis: ax, From: at, To: at + k}, x)
			if err != nil {
				t.Fatal(err)
			}
			parts, at = append(parts, p), at+k
		}
		cat, err := ops.Concat(ax, parts...)
		if err != nil {
			t.Fatal(err)
		}
		cut, err := ops.ConcatOp{Axis: ax, N: len(parts)}.VJP(parts, cat, cat, nil)
		if err != nil {
			t.Fatal(err)
		}
		cv, err := graph.Compile("concat", append([]*G.Node{cat}, append(parts, cut...)...)).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := values(t, cv[cat]); !floats.Equal(got, xv) {
			t.Fatalf("concat%d of %d parts of a %d×%d: %v, want %v", ax, len(parts), r, c, got, xv)
		}
		for i, p := range parts {
			if a, b := values(t, cv[p]), values(t, cv[cut[i]]); !floats.Equal(a, b) {
				t.Fatalf("concat%d: part %d cut back out as %v, want %v", ax, i, b, a)
			}
		}
	})
}
