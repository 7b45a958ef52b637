package native

import (
	"strings"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Gorgonia builds some functions from smaller ops; these rules recognise
// them whole from their last node, so that their exact rules (a frozen
// activation pattern, the fused cross-entropy, a layer's bias) apply, and
// read the nodes below them (a mask, a repeat) never translated alone:
//
//	G.Rectify(x)       x ⊙ (x ≥ 0)                              → ReLU(x)
//	G.LeakyRelu(x, α)  x ⊙ (x ≥ 0) + (x ⊙ (x < 0)) ⊙ α          → leaky_α(x)
//	cross-entropy      Σ(y ⊙ logsoftmax(z)), Σ(Σ₁(y ⊙ logsoftmax(z)))
//	                   (Gorgonia turns log(softmax(z)) into logsoftmax(z);
//	                   log(softmax(z)) is recognised too), y not depending
//	                   on a weight                              → −softmaxCE(z, y)
//	G.BroadcastAdd     x + repeat₀(b), b a 1×n row              → BiasAdd(x, b)
//
// G.Mean is Σ ÷ count (the scale rule), so a mean cross-entropy is the
// second form divided by a constant.

func matchLeaky(s *Site) error {
	x, alpha, ok := s.tr.leaky(s.n)
	if !ok {
		return Skip
	}
	s.c = alpha
	s.Reads(x)
	return nil
}

func translateLeaky(s *Site) (*G.Node, error) {
	return elementwise(ops.LeakyReLUFunc{Alpha: s.c})(s)
}

func matchReLU(s *Site) error {
	x, ok := s.tr.relu(s.n)
	if !ok {
		return Skip
	}
	s.Reads(x)
	return nil
}

func translateReLU(s *Site) (*G.Node, error) { return elementwise(ops.ReLUFunc{})(s) }

func matchCrossEntropy(s *Site) error {
	z, y, ok := s.tr.crossEntropy(s.n)
	if !ok {
		return Skip
	}
	s.Reads(z, y)
	return nil
}

func translateCrossEntropy(s *Site) (*G.Node, error) {
	return s.apply(ops.ScaleOp{C: -1}, s.apply(ops.SoftmaxCEOp{}, s.x(0), s.x(1))), nil
}

// matchBias matches x + repeat₀(b) and repeat₀(b) + x, x a matrix and b a
// 1×n row: G.BroadcastAdd of a bias row or vector (reshaped to 1×n).
func matchBias(s *Site) error {
	if symbol(s.n) != "+" {
		return Skip
	}
	k := graph.Children(s.n)
	for i := range 2 {
		if b := repeatedRow(k[1-i]); b != nil && k[i].Shape().Dims() == 2 {
			s.Reads(k[i], b)
			return nil
		}
	}
	return Skip
}

func translateBias(s *Site) (*G.Node, error) { return s.apply(ops.BiasAddOp{}, s.x(0), s.x(1)), nil }

// repeatedRow returns b when n is Gorgonia's broadcast of b, a 1×n row,
// over the rows.
func repeatedRow(n *G.Node) *G.Node {
	if typeName(n.Op()) != "repeatOp" || n.Op().String() != "Repeat0" {
		return nil
	}
	b := graph.Children(n)[0]
	if s := b.Shape(); s.Dims() != 2 || s[0] != 1 {
		return nil
	}
	return b
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
