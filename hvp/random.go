package hvp

import (
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Random nodes (G.Dropout, G.UniformRandomNode, G.GaussianRandomNode,
// G.BinomialRandomNode; package native): each is held fixed at one draw,
// so that every product of one draw — Gradient, LossAt, Hv, GGNv, InvHv,
// Kronecker, the trial losses of a line search — differentiates one and
// the same function (Martens' fixed dropout masks). A Problem starts at a
// first draw; Redraw draws anew, between optimizer steps.

// Random returns the user's random nodes, each held fixed at the current
// draw (none for a graph without them).
func (p *Problem) Random() []*G.Node { return p.model.Random() }

// Redraw draws every random node anew from rng (nil: a reproducible
// source of the Problem's own, a new stream at each call). Every product
// after it uses the new draw. Call it while no product runs, like
// SetWeights; a Problem without random nodes has nothing to draw.
func (p *Problem) Redraw(rng *rand.Rand) error { return p.model.Redraw(rng) }

// Draw returns the current draw of the user's random node n, in n's
// shape: a G.*RandomNode's value, or a G.Dropout's 0/1 mask m (the node
// computes x ⊙ m / (1 − p), Gorgonia's scaling). With it the draw can be
// reproduced outside, e.g. in a Gorgonia graph with the mask as an input.
func (p *Problem) Draw(n *G.Node) (*tensor.Dense, error) { return p.model.Draw(n) }
