package hvp_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A B-pass repeated at unchanged inputs reuses the values that do not
// depend on the direction, and gives bit for bit what the full run gives
// (the oracle: the same call after ForgetReuse, which runs everything);
// it is cheaper (fewer flops, else nothing was reused). A change of the
// weights (SetWeights), the data (gorgonia.Let), the damping or the
// random draw (Redraw) invalidates the reused values: the call after it
// equals the uncached call at the new inputs, and differs from the call
// before it (so the change mattered). Bitwise: both compute the same ops
// on the same values.
func TestReuseInvalidation(t *testing.T) {
	n := newDropoutMLP(t, nil)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 1))
	v1, v2 := randomLike(rng, p), randomLike(rng, p)
	opts := &hvp.Options{Damping: 0.5, BestEffort: true}
	var prev []*hvp.Result
	check := func(what string) {
		t.Helper()
		p.ForgetReuse()
		if _, err := p.InvHvAll(v1, opts); err != nil { // fills the reuse
			t.Fatal(err)
		}
		cached, err := p.InvHvAll(v2, opts)
		if err != nil {
			t.Fatal(err)
		}
		p.ForgetReuse()
		full, err := p.InvHvAll(v2, opts)
		if err != nil {
			t.Fatal(err)
		}
		for l := range cached {
			c, f := cached[l], full[l]
			if !slices.Equal(c.U.Flat(), f.U.Flat()) || !sameFloat(c.Residual, f.Residual) || c.Kind != f.Kind || c.Certified != f.Certified {
				t.Errorf("%s, block %d: reused B-pass differs from the full run: U by %.3g, residual %.3g vs %.3g, %v/%v vs %v/%v",
					what, l, flatRelDiff(c.U.Flat(), f.U.Flat()), c.Residual, f.Residual, c.Kind, c.Certified, f.Kind, f.Certified)
			}
			if !(c.Flops < f.Flops) {
				t.Errorf("%s, block %d: reused B-pass costs %.3g flops, the full run %.3g: nothing reused", what, l, c.Flops, f.Flops)
			}
			if prev != nil && slices.Equal(c.U.Flat(), prev[l].U.Flat()) {
				t.Errorf("%s, block %d: the result did not change", what, l)
			}
		}
		// The stale case: the reuse filled before the change, the call after.
		prev = cached
	}
	stale := func(what string, change func()) {
		t.Helper()
		if _, err := p.InvHvAll(v2, opts); err != nil { // reuse filled at the old inputs
			t.Fatal(err)
		}
		change()
		after, err := p.InvHvAll(v2, opts)
		if err != nil {
			t.Fatal(err)
		}
		p.ForgetReuse()
		full, err := p.InvHvAll(v2, opts)
		if err != nil {
			t.Fatal(err)
		}
		for l := range after {
			if !slices.Equal(after[l].U.Flat(), full[l].U.Flat()) {
				t.Errorf("%s, block %d: the B-pass after the change reused stale values (differs from the full run by %.3g)", what, l, flatRelDiff(after[l].U.Flat(), full[l].U.Flat()))
			}
		}
		check(what)
	}
	check("first")
	w, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	w2 := w.Clone()
	w2.AddScaled(0.1, randomLike(rng, p))
	stale("SetWeights", func() {
		if err := p.SetWeights(w2); err != nil {
			t.Fatal(err)
		}
	})
	stale("data", func() {
		x := n.x.Value().(*tensor.Dense).Clone().(*tensor.Dense)
		for i := range x.Float64s() {
			x.Float64s()[i] *= 1.1
		}
		if err := G.Let(n.x, x); err != nil {
			t.Fatal(err)
		}
	})
	stale("damping", func() { opts.Damping = 0.75 })
	stale("Redraw", func() {
		if err := p.Redraw(rand.New(rand.NewPCG(8, 8))); err != nil {
			t.Fatal(err)
		}
	})
}

// sameFloat is bitwise equality, NaN equal to NaN.
func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
