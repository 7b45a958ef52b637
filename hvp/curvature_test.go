package hvp_test

import (
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/reference"
)

// The per-sample curvature, formed densely, against the dense block built
// from exact R-pass columns (reference.DenseBlock), for every block of the
// per-sample test nets — including batch > fan-in + 1, where the B-pass
// refuses — undamped and damped (reference.Damp): the same matrix up to
// rounding in a different order of sums, 1e-12 relative.
func TestBlockCurvature(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 71))
	for _, c := range smoothNets {
		_, p := c.build(t, rng)
		for l := 0; l < p.Blocks(); l++ {
			cv, err := p.Block(l).Curvature()
			if err != nil {
				t.Fatalf("%s block %d: %v", c.name, l, err)
			}
			h, err := reference.DenseBlock(p, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			dense, err := cv.Dense(0)
			if err != nil {
				t.Fatal(err)
			}
			if d := testnet.RelDense(dense, h); d > 1e-12 {
				t.Errorf("%s block %s: per-sample curvature differs from the dense block by %.3g", c.name, p.Block(l).Name(), d)
			}
			hd, err := reference.Damp(p, l, h, 0.3)
			if err != nil {
				t.Fatal(err)
			}
			damped, err := cv.Dense(0.3)
			if err != nil {
				t.Fatal(err)
			}
			if d := testnet.RelDense(damped, hd); d > 1e-12 {
				t.Errorf("%s block %s: damped curvature differs by %.3g", c.name, p.Block(l).Name(), d)
			}
		}
	}
	_ = hvp.DefaultTol
}
