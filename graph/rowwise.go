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

// ReplayRows replays on replicated rows the part of root's ancestry that
// depends on seed: with copies = c, every node n between seed and root
// (both included) is rebuilt, by its own op, on c·B rows — seed replaced
// by tiled (c·B rows), every other input of B rows that the op aligns with
// n's rows replaced by c copies stacked ([x; x; …; x], built once per x in
// reps), inputs the op shares across rows (the right factor of h·W, the
// bias of X + 1b, scalars, any input without B rows) kept as they are.
// When every such n is a row-wise map of its marked inputs (ops.RowWiser)
// producing a B-row matrix, the result's rows t·B … (t+1)·B − 1 are root
// as it would be with seed replaced by rows t·B … (t+1)·B − 1 of tiled:
// c JVPs in one pass over c·B rows, its matrix products c times taller
// (method.md §9, "one JVP over a batch of B·n_l replicated rows").
// Otherwise the error names the node: a scalar (a sum over the samples,
// which the copies would share) or an op that declares no row-wise
// action on what depends on seed.
func ReplayRows(root, seed, tiled *G.Node, copies int, reps map[*G.Node]*G.Node) (*G.Node, error) {
	rows := seed.Shape()[0]
	order := topo(root)
	dep := dependents(order, seed)
	if !dep[root] {
		return nil, &errs.NoInverseError{Op: "node " + errs.Label(root), Input: -1, Reason: "does not depend on " + errs.Label(seed)}
	}
	var b ops.Builder
	tile := func(x *G.Node) *G.Node {
		if reps[x] == nil {
			xs := make([]*G.Node, copies)
			for t := range xs {
				xs[t] = x
			}
			reps[x] = b.Apply(ops.ConcatOp{Axis: 0, N: copies}, xs...)
		}
		return reps[x]
	}
	clone := map[*G.Node]*G.Node{seed: tiled}
	for _, n := range order {
		if !dep[n] || n == seed {
			continue
		}
		s := n.Shape()
		if len(s) != 2 || s[0] != rows {
			return nil, &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(n), n.Op()), Input: -1,
				Reason: fmt.Sprintf("has shape %v, not a matrix of the %d rows of %s: replayed on replicated rows it would mix the copies", s, rows, errs.Label(seed))}
		}
		in := Children(n)
		marked := make([]bool, len(in))
		for i, c := range in {
			marked[i] = dep[c]
		}
		if rw, ok := n.Op().(ops.RowWiser); !ok || !rw.RowWise(in, marked) {
			return nil, &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(n), n.Op()), Input: -1,
				Reason: "does not act row by row on what depends on " + errs.Label(seed) + ": it cannot be replayed on replicated rows"}
		}
		args := make([]*G.Node, len(in))
		for i, c := range in {
			cs := c.Shape()
			switch {
			case marked[i]:
				args[i] = clone[c]
			case sharedInput(n.Op(), i) || len(cs) != 2 || cs[0] != rows:
				args[i] = c
			default:
				args[i] = tile(c)
			}
		}
		m := b.Apply(n.Op(), args...)
		if b.Err != nil {
			return nil, b.Err
		}
		if ms := m.Shape(); len(ms) != 2 || ms[0] != copies*rows || ms[1] != s[1] {
			return nil, &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(n), n.Op()), Input: -1,
				Reason: fmt.Sprintf("replayed on %d×%d rows it has shape %v, want (%d, %d)", copies, rows, ms, copies*rows, s[1])}
		}
		clone[n] = m
	}
	return clone[root], nil
}

// sharedInput reports whether input i of op is read whole by every row of
// a row-wise op's output (rather than row by row): the right factor of a
// product h·W and the bias of X + 1b, whatever their shapes.
func sharedInput(op G.Op, i int) bool {
	switch op.(type) {
	case ops.MatMulOp, ops.BiasAddOp:
		return i == 1
	}
	return false
}
