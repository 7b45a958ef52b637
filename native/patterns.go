package native

import (
	"strings"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Gorgonia builds some functions from smaller ops; pattern recognises
// them whole, so that their exact rules (a frozen activation pattern, the
// fused cross-entropy) apply:
//
//	G.Rectify(x)       x ⊙ (x ≥ 0)                              → ReLU(x)
//	G.LeakyRelu(x, α)  x ⊙ (x ≥ 0) + (x ⊙ (x < 0)) ⊙ α          → leaky_α(x)
//	cross-entropy      Σ(y ⊙ logsoftmax(z)), Σ(Σ₁(y ⊙ logsoftmax(z)))
//	                   (Gorgonia turns log(softmax(z)) into logsoftmax(z);
//	                   log(softmax(z)) is recognised too), y not depending
//	                   on a weight                              → −softmaxCE(z, y)
//
// G.Mean is Σ ÷ count, so a mean cross-entropy is the second form
// divided by a constant.
func (tr *translator) pattern(n *G.Node) (*rep, bool, error) {
	if x, alpha, ok := tr.leaky(n); ok {
		return tr.mapped1(ops.LeakyReLUFunc{Alpha: alpha}, x)
	}
	if x, ok := tr.relu(n); ok {
		return tr.mapped1(ops.ReLUFunc{}, x)
	}
	if z, y, ok := tr.crossEntropy(n); ok {
		zr, yr := tr.node(z), tr.node(y)
		if zr == nil || yr == nil {
			return nil, true, dimsKnown(n) // the inputs are reported
		}
		var b ops.Builder
		ce := b.Apply(ops.SoftmaxCEOp{}, zr.n, yr.n)
		return &rep{b.Apply(ops.ScaleOp{C: -1}, ce), asIs}, true, b.Err
	}
	return nil, false, nil
}

func (tr *translator) mapped1(f ops.ScalarFunc, x *G.Node) (*rep, bool, error) {
	xr := tr.node(x)
	if xr == nil {
		return nil, true, dimsKnown(x) // x is reported; and a pattern over more than two dimensions
	}
	var b ops.Builder
	return &rep{b.Apply(ops.ElementwiseOp{F: f}, xr.n), xr.vec}, true, b.Err
}

// is reports whether n is a Gorgonia elementwise binary op printed sym.
func is(n *G.Node, sym string) bool {
	return typeName(n.Op()) == "elemBinOp" && strings.HasPrefix(n.Op().String(), sym+" ")
}

// mask reports whether n is cmp(x, 0) with a constant 0.
func (tr *translator) mask(n, x *G.Node, cmp string) bool {
	if !is(n, cmp) {
		return false
	}
	k := graph.Children(n)
	c, ok := tr.staticScalar(k[1])
	return k[0] == x && ok && c == 0
}

// masked returns x when n is x ⊙ cmp(x, 0).
func (tr *translator) masked(n *G.Node, cmp string) (*G.Node, bool) {
	if !is(n, "⊙") {
		return nil, false
	}
	k := graph.Children(n)
	for i := range 2 {
		if x := k[i]; tr.mask(k[1-i], x, cmp) {
			return x, true
		}
	}
	return nil, false
}

func (tr *translator) relu(n *G.Node) (*G.Node, bool) {
	if x, ok := tr.masked(n, ">="); ok {
		return x, true
	}
	return tr.masked(n, ">")
}

func (tr *translator) leaky(n *G.Node) (*G.Node, float64, bool) {
	if !is(n, "+") {
		return nil, 0, false
	}
	k := graph.Children(n)
	for i := range 2 {
		x, ok := tr.relu(k[i])
		if !ok || !is(k[1-i], "⊙") {
			continue
		}
		q := graph.Children(k[1-i])
		for j := range 2 {
			alpha, ok := tr.staticScalar(q[1-j])
			if neg, ok2 := tr.masked(q[j], "<"); ok && ok2 && neg == x {
				return x, alpha, true
			}
		}
	}
	return nil, 0, false
}

// crossEntropy returns z and y when n sums y ⊙ log softmax(z) over
// everything.
func (tr *translator) crossEntropy(n *G.Node) (z, y *G.Node, ok bool) {
	if typeName(n.Op()) != "sumOp" {
		return nil, nil, false
	}
	p := graph.Children(n)[0]
	switch {
	case p.Shape().Dims() == 2 && n.Shape().IsScalar():
	case p.Shape().Dims() == 1 && typeName(p.Op()) == "sumOp" && p.Op().String() == "Σ[1]":
		p = graph.Children(p)[0]
	default:
		return nil, nil, false
	}
	if !is(p, "⊙") || p.Shape().Dims() != 2 {
		return nil, nil, false
	}
	k := graph.Children(p)
	for i := range 2 {
		if z, ok := logSoftmaxOf(k[i]); ok && !tr.weighty[k[1-i]] && sameDims(k[1-i].Shape(), p.Shape()) {
			return z, k[1-i], true
		}
	}
	return nil, nil, false
}

// logSoftmaxOf returns z when n is log softmax(z) over the rows of a
// matrix: Gorgonia's log-softmax node, or a log of its softmax.
func logSoftmaxOf(n *G.Node) (*G.Node, bool) {
	isSoftmax := func(n *G.Node, log bool) bool {
		s := n.Op().String()
		want := "false"
		if log {
			want = "true"
		}
		return typeName(n.Op()) == "softmaxOp" && n.Shape().Dims() == 2 &&
			(s == "Softmax{-1, "+want+"}()" || s == "Softmax{1, "+want+"}()")
	}
	if n.Op() == nil {
		return nil, false
	}
	if isSoftmax(n, true) {
		return graph.Children(n)[0], true
	}
	if typeName(n.Op()) == "elemUnaryOp" && n.Op().String() == "ln" {
		if s := graph.Children(n)[0]; s.Op() != nil && isSoftmax(s, false) {
			return graph.Children(s)[0], true
		}
	}
	return nil, false
}
