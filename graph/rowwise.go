package graph

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// RowSeparable proves, from the ops' ops.RowWiser property, that loss as a
// function of node net (every other input fixed) is a sum over the rows of
// net of terms that each depend on one row — J = Σ_i ℓ_i(net_i), method.md
// §9 — or returns an error naming the node that breaks it: an op that does
// not declare itself row-wise for the inputs that depend on net, or a node
// depending on net whose rows are not net's (a transpose, a reshape).
// Piecewise-constant nodes (derivative masks) are frozen, as in the
// inverse pass.
func RowSeparable(loss, net *G.Node) error {
	order := topo(loss)
	marked := dependents(order, net)
	if !marked[loss] {
		return &errs.NoInverseError{Op: "loss " + errs.Label(loss), Input: -1, Reason: "does not depend on " + errs.Label(net)}
	}
	rows := net.Shape()[0]
	for _, n := range order {
		if !marked[n] || n == net {
			continue
		}
		in := Children(n)
		flags := make([]bool, len(in))
		for i, c := range in {
			flags[i] = marked[c]
		}
		rw, ok := n.Op().(ops.RowWiser)
		if !ok || !rw.RowWise(in, flags) {
			return &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(n), n.Op()), Input: -1,
				Reason: "does not act row by row on what depends on " + errs.Label(net) + ": the loss is not a sum of per-sample terms (method.md §9)"}
		}
		if s := n.Shape(); !s.IsScalar() && (len(s) != 2 || s[0] != rows) {
			return &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(n), n.Op()), Input: -1,
				Reason: fmt.Sprintf("has shape %v: its rows are not the %d samples of %s", s, rows, errs.Label(net))}
		}
	}
	return nil
}
