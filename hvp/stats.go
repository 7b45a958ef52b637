package hvp

import "sync"

// Stats is what the products of a Problem made with WithStats ran: the
// data rows they processed, the floating-point operations of their
// programs and how many programs of each kind. Every optimizer's cost is
// counted in it (package solver), so that methods compare on one scale.
//
// # Rows
//
// Rows counts data rows in gradient-equivalents: a run over the batch of
// B rows (the rows of the data the loss reads; 1 for a loss of the
// weights alone) adds B times its cost relative to one gradient (a
// forward and a backward pass). Each run is counted once, when it runs:
//
//	LossAt                          ⌈B/2⌉         the forward pass alone
//	Gradient, At, Kronecker         B             forward and backward
//	Hv, Block.Hv                    2B            the gradient pass and its R-pass
//	GGNv                            2B            forward, J_z v, ∂²L/∂z², backward
//	InvHvAll, Block.InvHv           B             the gradient pass, once per run
//	  + per block solved            B             its inverse pass and B-pass (chain, scalar)
//	                                (n_l + 1)·B   per-sample route: the n_l JVP columns of the M_i and the solve
//	  + per block certified         B             the certificate's R-pass
//	  + each further residual       2B            an Hv (Certify, a pseudo-inverse's normal residual, a float32 result's)
//	Block.Curvature                 (n_l + 1)·B   the gradient pass and n_l JVP columns
//	Block.Gram                      ⌈B/2⌉         the forward pass to the layer's input
//	Block.FunctionalInverse         B             the forward pass and the inverse pass
//	Third, Block.Third              4B            the gradient pass, its R-pass and their JVP
//
// with n_l the outputs of block l's layer. A product that runs nothing (a
// zero direction) adds nothing.
//
// # Concurrency
//
// The products of any number of goroutines may add to one Stats: every
// update, and Snapshot and Add, hold one lock. Read a Stats that products
// may be updating through Snapshot; once they are done its fields may be
// read directly, and a Stats is an ordinary value to copy and compare.
type Stats struct {
	Rows  int64   // data rows processed, in gradient-equivalents (above)
	Flops float64 // graph.Program.Flops of every program run
	Runs  int64   // programs run

	// The runs by what they compute.
	Losses    int64 // LossAt
	Gradients int64 // Gradient, At, Kronecker
	Hv        int64 // R-passes: Hv, Block.Hv and the residuals InvHv and Certify compute with it
	GGNv      int64 // GGNv
	InvHv     int64 // blocks whose B-pass ran (InvHvAll: every block with a nonzero direction)
	Other     int64 // Block.Curvature, Gram, FunctionalInverse, Third
}

// statsMu guards every Stats: updates are one per program run, far
// cheaper than the run.
var statsMu sync.Mutex

// Snapshot returns a copy of s, read under the lock the products update
// it with.
func (s *Stats) Snapshot() Stats {
	statsMu.Lock()
	defer statsMu.Unlock()
	return *s
}

// Add adds t to s, under the lock the products update it with.
func (s *Stats) Add(t Stats) {
	statsMu.Lock()
	defer statsMu.Unlock()
	s.add(t)
}

func (s *Stats) add(t Stats) {
	s.Rows += t.Rows
	s.Flops += t.Flops
	s.Runs += t.Runs
	s.Losses += t.Losses
	s.Gradients += t.Gradients
	s.Hv += t.Hv
	s.GGNv += t.GGNv
	s.InvHv += t.InvHv
	s.Other += t.Other
}

// cost is what one program run adds to Stats, its flops aside.
type cost struct {
	rows                                      int64
	losses, gradients, hv, ggnv, invhv, other int64
}

// add records a run of cost c and the given flops in p's Stats and in its
// call's tally.
func (p *Problem) add(c cost, flops float64) {
	if p.tally != nil {
		*p.tally += flops
	}
	if p.stats == nil {
		return
	}
	p.stats.Add(Stats{Rows: c.rows, Flops: flops, Runs: 1, Losses: c.losses, Gradients: c.gradients,
		Hv: c.hv, GGNv: c.ggnv, InvHv: c.invhv, Other: c.other})
}
