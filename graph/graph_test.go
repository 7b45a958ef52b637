package graph_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

func net(t *testing.T, acts ...ops.ScalarFunc) *nets.MLP {
	t.Helper()
	var layers []nets.Layer
	for _, a := range acts {
		layers = append(layers, nets.Layer{Out: 3, Act: a})
	}
	m, err := nets.NewMLP(3, 3, layers)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func opNames(steps []graph.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Node.Op().String())
	}
	return out
}

// The inverse pass of W1 in a two-layer leaky net inverts, from g_1 back
// to W_1, exactly the ops of method.md §3: g = h₀ᵀδ₁, δ₁ = e₁⊙a₁',
// e₁ = δ₂W₂ᵀ, δ₂ = e₂⊙a₂', e₂ = 1·(h₂ − y), h₂ = a(net₂), net₂ = h₁W₂,
// h₁ = a(net₁), net₁ = h₀W₁.
func TestInverseWalksTheChain(t *testing.T) {
	m := net(t, ops.LeakyReLUFunc{Alpha: 0.5}, ops.LeakyReLUFunc{Alpha: 0.5})
	grad, err := graph.BuildGradient(m.Loss, m.Weights)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := graph.BuildInverse(grad, 0, grad.Grads[0], false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A×B", "A⊙B", "A×B", "A⊙B", "s·X", "A−B", "leaky(0.5)", "A×B", "leaky(0.5)", "A×B"}
	if got := opNames(inv.Steps); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("steps %v, want %v", got, want)
	}
	wrt := []int{1, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	for i, s := range inv.Steps {
		if s.Wrt != wrt[i] {
			t.Errorf("step %d (%v) solved for input %d, want %d", i, s.Node.Op(), s.Wrt, wrt[i])
		}
		if s.Condition == "" {
			t.Errorf("step %d has no condition", i)
		}
	}
	text := inv.Pass.String()
	for _, op := range []string{"A⁻¹C", "A⊘B", "CA⁻¹", "X/s", "A+B", "leaky(2)"} {
		if !strings.Contains(text, op) {
			t.Errorf("printed inverse pass lacks %s:\n%s", op, text)
		}
	}
	dot := inv.Pass.Dot()
	if !strings.HasPrefix(dot, "digraph") || strings.Count(dot, "shape=box") != len(inv.Pass.Nodes) {
		t.Errorf("DOT output malformed:\n%s", dot)
	}
}

// A plain ReLU has no inverse: the error names the node and the op.
func TestReLUHasNoInverse(t *testing.T) {
	m := net(t, ops.ReLUFunc{}, ops.LeakyReLUFunc{Alpha: 0.5})
	grad, err := graph.BuildGradient(m.Loss, m.Weights)
	if err != nil {
		t.Fatal(err)
	}
	_, err = graph.BuildInverse(grad, 0, grad.Grads[0], false)
	var nr *graph.NoRuleError
	if !errors.As(err, &nr) || nr.Rule != "inverse" || nr.Op.String() != "relu" {
		t.Fatalf("error %v, want a NoRuleError for the relu node", err)
	}
	var no *ops.NoInverseError
	if !errors.As(err, &no) {
		t.Errorf("error %v does not wrap the op's NoInverseError", err)
	}
	if !strings.Contains(err.Error(), "relu") || !strings.Contains(err.Error(), "not injective") {
		t.Errorf("message %q does not say why", err)
	}
	// The block after the ReLU does not pass through it: it inverts.
	if _, err := graph.BuildInverse(grad, 1, grad.Grads[1], false); err != nil {
		t.Errorf("block 2: %v", err)
	}
}

// A smooth activation's derivative depends on the weight: the op-by-op
// inverse meets a node with two dependent inputs (method.md §4).
func TestTanhIsADependencyLoop(t *testing.T) {
	m := net(t, ops.TanhFunc{}, ops.IdentityFunc{})
	grad, err := graph.BuildGradient(m.Loss, m.Weights)
	if err != nil {
		t.Fatal(err)
	}
	_, err = graph.BuildInverse(grad, 0, grad.Grads[0], false)
	var loop *graph.DependencyLoopError
	if !errors.As(err, &loop) || len(loop.Inputs) != 2 || loop.Op.String() != "A⊙B" {
		t.Fatalf("error %v, want a DependencyLoopError at δ = e ⊙ tanh'(net)", err)
	}
}

// An op without rules is named in the error of the pass that needs them.
func TestMissingRule(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("x"))
	w := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("w"))
	xw := G.Must(G.Mul(x, w)) // Gorgonia's own matmul: no newtonia rules
	loss := G.Must(G.Sum(xw))
	_, err := graph.BuildGradient(loss, []*G.Node{w})
	var nr *graph.NoRuleError
	if !errors.As(err, &nr) || nr.Rule != "VJP" {
		t.Fatalf("error %v, want a NoRuleError for the VJP", err)
	}
}

// Bad arguments are errors, not panics.
func TestBadArguments(t *testing.T) {
	m := net(t, ops.LeakyReLUFunc{Alpha: 0.5})
	if _, err := graph.BuildGradient(m.Out, m.Weights); err == nil {
		t.Error("a matrix loss was accepted")
	}
	if _, err := graph.BuildGradient(m.Loss, []*G.Node{m.Weights[0], m.Weights[0]}); err == nil {
		t.Error("a repeated weight was accepted")
	}
	if _, err := graph.BuildGradient(m.Loss, []*G.Node{m.Out}); err == nil {
		t.Error("a non-input weight was accepted")
	}
}

// Classify reproduces method.md §4's table from the ops' shapes alone.
func TestClassify(t *testing.T) {
	leaky := ops.LeakyReLUFunc{Alpha: 0.5}
	cases := []struct {
		name      string
		batch, in int
		widths    []int
		want      []graph.Kind
	}{
		{"equal widths, batch = fan-in", 6, 6, []int{6, 6, 6}, []graph.Kind{graph.Exact, graph.Exact, graph.Exact}},
		{"batch < fan-in", 5, 8, []int{8, 8, 8}, []graph.Kind{graph.PseudoInverse, graph.PseudoInverse, graph.PseudoInverse}},
		{"widths shrinking", 6, 12, []int{10, 8, 6}, []graph.Kind{graph.NewtonOnly, graph.NewtonOnly, graph.PseudoInverse}},
		{"batch > fan-in", 12, 8, []int{8, 8, 8}, []graph.Kind{graph.Refused, graph.Refused, graph.Refused}},
		{"widths growing", 6, 6, []int{8, 10, 12}, []graph.Kind{graph.Refused, graph.Refused, graph.PseudoInverse}},
	}
	for _, c := range cases {
		var layers []nets.Layer
		for _, w := range c.widths {
			layers = append(layers, nets.Layer{Out: w, Act: leaky})
		}
		m, err := nets.NewMLP(c.batch, c.in, layers)
		if err != nil {
			t.Fatal(err)
		}
		grad, err := graph.BuildGradient(m.Loss, m.Weights)
		if err != nil {
			t.Fatal(err)
		}
		for l := range m.Weights {
			inv, err := graph.BuildInverse(grad, l, grad.Grads[l], false)
			if err != nil {
				t.Fatal(err)
			}
			got, reasons := inv.Classify()
			if got != c.want[l] {
				t.Errorf("%s, block %d: %v, want %v; reasons %q", c.name, l, got, c.want[l], reasons)
			}
			if got != graph.Exact && len(reasons) == 0 {
				t.Errorf("%s, block %d: %v without a reason", c.name, l, got)
			}
		}
	}
}
