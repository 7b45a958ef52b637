package params_test

import (
	"math"
	"testing"

	"github.com/newtonia/newtonia/params"
	"gorgonia.org/tensor"
)

// firstNonFinite is the oracle: a plain IsNaN/IsInf loop over the weights.
func firstNonFinite(v *params.Vector) (weight, index int, bad bool) {
	for k := range v.Layout().Weights() {
		for i, x := range v.Weight(k) {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return k, i, true
			}
		}
	}
	return 0, 0, false
}

// Vector.FirstNonFinite (ops.FirstNonFinite's scan per weight) against the
// plain loop on a vector of a scalar, a 5-vector, a 9×7 and a 3×12 weight
// (lengths around the scan's 8- and 32-element steps) and on its
// non-contiguous block view (the first and last weight), with NaN, +Inf
// or −Inf at every position, −0 and denormals elsewhere. Exact: indices.
func TestFirstNonFinite(t *testing.T) {
	l, err := params.NewLayout([]string{"s", "v", "W", "U"},
		[]tensor.Shape{{}, {5}, {9, 7}, {3, 12}}, tensor.Float64, [][]int{{0, 3}, {1}, {2}})
	if err != nil {
		t.Fatal(err)
	}
	v := params.New(l)
	flat := v.Flat()
	for i := range flat {
		flat[i] = [...]float64{1.5, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.MaxFloat64}[i%4]
	}
	for _, w := range []*params.Vector{v, v.Block(0)} {
		check := func(what string) {
			k, i, bad := w.FirstNonFinite()
			wk, wi, wbad := firstNonFinite(w)
			if k != wk || i != wi || bad != wbad {
				t.Fatalf("%s: (%d, %d, %v), the plain loop (%d, %d, %v)", what, k, i, bad, wk, wi, wbad)
			}
		}
		check("finite")
		for k := range w.Layout().Weights() {
			p := w.Weight(k)
			for i := range p {
				for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
					saved := p[i]
					p[i] = bad
					check(w.Layout().Name(k))
					p[i] = saved
				}
			}
		}
	}
}

// BenchmarkFirstNonFinite: Vector.FirstNonFinite against the plain loop on
// the finite weights of an n = 128 three-layer net (W 128×128 and b 128
// each).
func BenchmarkFirstNonFinite(b *testing.B) {
	var names []string
	var shapes []tensor.Shape
	for i := range 3 {
		names = append(names, "W"+string(rune('1'+i)), "b"+string(rune('1'+i)))
		shapes = append(shapes, tensor.Shape{128, 128}, tensor.Shape{128})
	}
	l, err := params.NewLayout(names, shapes, tensor.Float64, nil)
	if err != nil {
		b.Fatal(err)
	}
	v := params.New(l)
	for _, c := range []struct {
		name string
		f    func(*params.Vector) (int, int, bool)
	}{{"Vector", (*params.Vector).FirstNonFinite}, {"loop", firstNonFinite}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if _, _, bad := c.f(v); bad {
					b.Fatal("finite vector reported non-finite")
				}
			}
		})
	}
}
