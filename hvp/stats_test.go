package hvp_test

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
)

// Stats counts a gradient of a square 3-layer net (batch = width = n) as
// its 8 matrix products — 3 forward, 3 weight gradients, 2 errors
// propagated back, 2n³ each — plus one operation per element of every
// other result: 16n³ + O(n²); and as B = n rows, one run, one gradient.
func TestStatsFlops(t *testing.T) {
	const n = 16
	_, p := testnet.Square(t, rand.New(rand.NewPCG(1, 1)), 3, n)
	var st hvp.Stats
	if _, _, err := p.WithStats(&st).Gradient(); err != nil {
		t.Fatal(err)
	}
	products := 16.0 * n * n * n
	if got := st.Flops; got < products || got > products+40*n*n {
		t.Errorf("gradient: %g flops, want 16n³ = %g plus at most 40n² elementwise", got, products)
	}
	if st.Rows != n || st.Runs != 1 || st.Gradients != 1 {
		t.Errorf("gradient: %+v, want %d rows, one run, one gradient", st, n)
	}
	if _, _, err := p.Gradient(); err != nil || st.Runs != 1 {
		t.Errorf("a problem without Stats added to them: %+v (%v)", st, err)
	}
}

// The row accounting of hvp.Stats's table, product by product, and the
// flops of an inverse product (Result.Flops) are those it adds to Stats.
func TestStatsRows(t *testing.T) {
	const n = 4 // batch = width: every block exact by the chain route
	rng := rand.New(rand.NewPCG(2, 2))
	m, p := testnet.Square(t, rng, 2, n)
	v := testnet.RandLike(rng, m)
	var st hvp.Stats
	q := p.WithStats(&st)
	step := func(what string, rows, runs int64, f func() error) hvp.Stats {
		t.Helper()
		before := st
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if d := st.Rows - before.Rows; d != rows || st.Runs-before.Runs != runs {
			t.Errorf("%s: %d rows in %d runs, want %d in %d", what, d, st.Runs-before.Runs, rows, runs)
		}
		return before
	}
	step("LossAt", (n+1)/2, 1, func() error { _, err := q.LossAt(nil); return err })
	step("Hv", 2*n, 1, func() error { _, err := q.Hv(v); return err })
	step("GGNv", 2*n, 1, func() error { _, err := q.GGNv(v); return err })
	step("Block.Hv", 2*n, 1, func() error { _, err := q.Block(1).Hv(v.Block(1)); return err })
	var res *hvp.Result
	before := step("Block.InvHv", n+n+n, 1, func() (err error) { res, err = q.Block(0).InvHv(v.Block(0), nil); return err })
	// The same flops summed in another order: 1e-12 relative.
	if res.Flops <= 0 || math.Abs(res.Flops-(st.Flops-before.Flops)) > 1e-12*res.Flops || st.InvHv-before.InvHv != 1 {
		t.Errorf("InvHv: Result.Flops %g, Stats added %g flops and %d blocks", res.Flops, st.Flops-before.Flops, st.InvHv-before.InvHv)
	}
	var all []*hvp.Result
	before = step("InvHvAll", n+2*(n+n), 1, func() (err error) { all, err = q.InvHvAll(v, nil); return err })
	if sum := all[0].Flops + all[1].Flops; math.Abs(sum-(st.Flops-before.Flops)) > 1e-12*sum {
		t.Errorf("InvHvAll: results' flops add up to %g, Stats added %g", sum, st.Flops-before.Flops)
	}
	zero := v.Clone()
	zero.Scale(0)
	step("Hv of 0", 0, 0, func() error { _, err := q.Hv(zero); return err })
}

// Products of many goroutines add to one Stats without losing a count
// (run with -race).
func TestStatsConcurrent(t *testing.T) {
	const n, workers, each = 3, 4, 5
	rng := rand.New(rand.NewPCG(3, 3))
	m, p := testnet.Square(t, rng, 2, n)
	v := testnet.RandLike(rng, m)
	var st hvp.Stats
	q := p.WithStats(&st)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := q.Hv(v); err != nil {
					t.Error(err)
				}
				_ = st.Snapshot()
			}
		}()
	}
	wg.Wait()
	if st.Hv != workers*each || st.Rows != workers*each*2*n || st.Runs != workers*each {
		t.Errorf("%d concurrent Hv: %+v", workers*each, st)
	}
}
