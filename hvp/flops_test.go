package hvp_test

import (
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/internal/testnet"
)

// LastFlops counts a gradient of a square 3-layer net (batch = width = n)
// as its 8 matrix products — 3 forward, 3 weight gradients, 2 errors
// propagated back, 2n³ each — plus one operation per element of every
// other result: 16n³ + O(n²).
func TestLastFlops(t *testing.T) {
	const n = 16
	_, p := testnet.Square(t, rand.New(rand.NewPCG(1, 1)), 3, n)
	if _, _, err := p.Gradient(); err != nil {
		t.Fatal(err)
	}
	products := 16.0 * n * n * n
	if got := p.LastFlops(); got < products || got > products+40*n*n {
		t.Errorf("gradient: %g flops, want 16n³ = %g plus at most 40n² elementwise", got, products)
	}
}
