package hvp_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/nets"
)

// limitNet builds an in-n-out net, tanh then identity (a bias on the first layer when
// bias) at batch b with random values; block 0 is W1 (+ b1).
func limitNet(t *testing.T, b, in, n, out int, bias bool) (*nets.MLP, *hvp.Products) {
	t.Helper()
	c := smoothNet{name: fmt.Sprintf("%d-%d-%d, batch %d", in, n, out, b), batch: b, in: in,
		layers: []nets.Layer{L(n, tanh, bias), L(out, identity, false)}, loss: nets.HalfSquaredError}
	return c.build(t, rand.New(rand.NewPCG(uint64(b), uint64(n))))
}

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc: all
// that was allocated, freed or not; no test of the package runs in
// parallel with it).
func allocated(f func()) float64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return float64(b.TotalAlloc - a.TotalAlloc)
}

// Issue 19 item 2: building the per-sample route, from Conditions, which
// runs nothing, made one B × n one-hot seed per output column when the
// route was built: B·n² values, 1.07 GB for the W1 block of a 20-512-2 net
// at batch 512. The seeds are now made when the route runs. The bound is a
// sixteenth of those seeds (67 MB): what building does allocate is the
// graph's nodes, about 20 per column with Gorgonia's bookkeeping (11 MB
// measured), and one seed per column would already be 1.07 GB.
func TestConditionsAllocatesNoSeeds(t *testing.T) {
	const b, n = 512, 512
	_, p := limitNet(t, b, 20, n, 2, false)
	var c hvp.Conditions
	got := allocated(func() { c = p.Conditions() })
	if c[0].Err != nil || !strings.Contains(c.String(), "per-sample route") {
		t.Fatalf("block 0 did not get its per-sample route built:\n%v", c)
	}
	seeds := budget.Float64s(b, n, n)
	if got > seeds/16 {
		t.Errorf("Conditions allocated %s, want < %s (a sixteenth of the B·n² seeds, %s)",
			errs.Amount(got, "B"), errs.Amount(seeds/16, "B"), errs.Amount(seeds, "B"))
	}
}
