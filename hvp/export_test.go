package hvp

import (
	"github.com/newtonia/newtonia/graph"
	G "gorgonia.org/gorgonia"
)

// Internal hooks for the tests of package hvp_test.

// InverseSteps returns the ops block l's inverse pass inverts.
func (p *Problem) InverseSteps(l int) ([]graph.Step, error) { return p.inverseSteps(l) }

// GGNOutput returns the node the Gauss–Newton products linearise at.
func (p *Problem) GGNOutput() (*G.Node, error) { return p.ggnOutputNode() }

// ForceSolve makes the penalized route take one form ("dense", "push"; ""
// the cheaper) until the returned function restores it.
func ForceSolve(form string) func() {
	old := forceSolve
	forceSolve = form
	return func() { forceSolve = old }
}

// ForgetReuse drops every B-pass's reused values (keeping the compiled
// programs): the next B-pass runs in full, the uncached oracle of the
// reuse tests.
func (p *Problem) ForgetReuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.reuse {
		r.snap, r.vals = nil, nil
	}
	p.dense = nil
}
