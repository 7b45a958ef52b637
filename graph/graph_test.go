package graph_test

import (
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
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
	for _, op := range []string{"A⁻¹C", "A⊘B", "CA⁻¹", "A+B", "leaky(2)"} {
		if !strings.Contains(text, op) {
			t.Errorf("printed inverse pass lacks %s:\n%s", op, text)
		}
	}
	// The step s·X with s the seed 1 is inverted by X itself: no X/s.
	if strings.Contains(text, "X/s") {
		t.Errorf("printed inverse pass divides by the seed 1:\n%s", text)
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
	var nr *errs.NoRuleError
	if !errors.As(err, &nr) || nr.Rule != "inverse" || nr.Op.String() != "relu" {
		t.Fatalf("error %v, want a NoRuleError for the relu node", err)
	}
	var no *errs.NoInverseError
	if !errors.As(err, &no) || !errors.Is(err, errs.ErrNoInverse) {
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
	var loop *errs.DependencyLoopError
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
	var nr *errs.NoRuleError
	if !errors.As(err, &nr) || nr.Rule != "VJP" || !errors.Is(err, errs.ErrNoRule) {
		t.Fatalf("error %v, want a NoRuleError for the VJP", err)
	}
}

// Bad arguments are errors, not panics.
func TestBadArguments(t *testing.T) {
	m := net(t, ops.LeakyReLUFunc{Alpha: 0.5})
	if _, err := graph.BuildGradient(m.Out, m.Weights); !errors.Is(err, errs.ErrShape) {
		t.Errorf("a matrix loss: %v, want ErrShape", err)
	}
	if _, err := graph.BuildGradient(m.Loss, []*G.Node{m.Weights[0], m.Weights[0]}); !errors.Is(err, errs.ErrShape) {
		t.Errorf("a repeated weight: %v, want ErrShape", err)
	}
	if _, err := graph.BuildGradient(m.Loss, []*G.Node{m.Out}); !errors.Is(err, errs.ErrShape) {
		t.Errorf("a non-input weight: %v, want ErrShape", err)
	}
	if _, err := graph.BuildGradient(nil, nil); !errors.Is(err, errs.ErrArgument) {
		t.Errorf("no loss: %v, want ErrArgument", err)
	}
}

// panicOp panics in Do, as a buggy op (or Gorgonia, or gonum) might.
type panicOp struct{ ops.Unary }

func (panicOp) String() string          { return "panic" }
func (o panicOp) WriteHash(h hash.Hash) { ops.WriteHash(h, o) }
func (o panicOp) Hashcode() uint32      { return ops.Hashcode(o) }
func (panicOp) Do(...G.Value) (G.Value, error) {
	var m map[string]int
	m["boom"]++ // a nil-map write: a runtime panic
	return nil, nil
}

// A panic inside an op becomes an error naming the node, in the calling
// goroutine: Gorgonia's TapeMachine runs ops in a goroutine of its own,
// where the same panic killed the process.
func TestProgramRecoversPanics(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
	y, err := ops.Apply(panicOp{}, x)
	if err != nil {
		t.Fatal(err)
	}
	_, err = graph.Compile("test", []*G.Node{y}).Run(nil)
	var re *errs.RunError
	if !errors.As(err, &re) || re.Node != y || !errors.Is(err, errs.ErrInternal) {
		t.Fatalf("error %v, want a RunError at the panicking node matching ErrInternal", err)
	}
}

// Bound values replace an input's own for one run, leave the node's value
// alone, and a program runs concurrently with itself.
func TestProgramBindsAndRunsConcurrently(t *testing.T) {
	g := G.NewGraph()
	own := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))
	x := G.NewMatrix(g, G.Float64, G.WithShape(2, 2), G.WithName("x"), G.WithValue(own))
	y, err := ops.MatMul(x, x)
	if err != nil {
		t.Fatal(err)
	}
	prog := graph.Compile("square", []*G.Node{y})
	var wg sync.WaitGroup
	fails := make(chan string, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := float64(i)
			bound := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{c, 0, 0, c}))
			vals, err := prog.Run(graph.Values{x: bound})
			if err != nil {
				fails <- err.Error()
				return
			}
			if got := vals[y].(*tensor.Dense).Float64s(); got[0] != c*c || got[3] != c*c || got[1] != 0 {
				fails <- fmt.Sprintf("run %d: %v", i, got)
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	vals, err := prog.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals[y].(*tensor.Dense).Float64s(); got[0] != 7 || got[3] != 22 {
		t.Errorf("unbound run: %v, want x·x = [7 10 15 22]", got)
	}
	if own.Float64s()[0] != 1 {
		t.Error("the input's own value was modified")
	}
}

// A transpose read only by matrix products is never formed: the program
// drops it and the products read their input with a flag; one read by
// another op (or asked for) is kept. Values equal the explicit
// transpose-then-multiply, computed here by loops.
func TestProgramFusesTransposes(t *testing.T) {
	g := G.NewGraph()
	a := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("A"),
		G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	b := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 4), G.WithName("B"),
		G.WithValue(tensor.New(tensor.WithShape(3, 4), tensor.WithBacking([]float64{1, -1, 2, 0, 3, 1, -2, 5, 0.5, 4, 1, -3}))))
	at, err := ops.Transpose(a)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ops.MatMul(at, b) // 2×4: Aᵀ·B
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ops.Transpose(c)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ops.MatMul(ct, at) // (Aᵀ·B)ᵀ·Aᵀ = Bᵀ·A·Aᵀ, 4×3
	if err != nil {
		t.Fatal(err)
	}
	av, bv := a.Value().Data().([]float64), b.Value().Data().([]float64)
	want := make([]float64, 12) // Bᵀ·(A·Aᵀ)
	for i := 0; i < 4; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				aat := av[k*2]*av[j*2] + av[k*2+1]*av[j*2+1]
				want[i*3+j] += bv[k*4+i] * aat
			}
		}
	}
	for _, tc := range []struct {
		keep  []*G.Node
		len   int
		flops float64 // 2mkn per product (2·2·3·4 and 2·4·2·3), + 8 for the formed 4×2 Cᵀ
	}{{nil, 4, 96}, {[]*G.Node{ct}, 5, 104}} { // A, B, Aᵀ·B, the product; + the kept Cᵀ
		p := graph.Compile("fused", []*G.Node{d}, tc.keep...)
		if p.Len() != tc.len {
			t.Errorf("keep %v: program of %d nodes, want %d", tc.keep, p.Len(), tc.len)
		}
		if p.Flops() != tc.flops {
			t.Errorf("keep %v: %g flops, want %g", tc.keep, p.Flops(), tc.flops)
		}
		out, err := p.Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := out[d].Data().([]float64)
		for i := range want {
			if diff := got[i] - want[i]; diff > 1e-12 || diff < -1e-12 {
				t.Fatalf("element %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}

// UsesWithout a penalty term counts only the data term's uses: W read by
// its product and by λ·Σ W² is used twice by the loss, once by its data
// term; the cut term itself is still a use of nothing it reads.
func TestUsesWithoutPenalty(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"))
	prod := G.Must(G.Mul(x, w))
	pen := G.Must(G.Sum(G.Must(G.Square(w))))
	loss := G.Must(G.Add(G.Must(G.Sum(prod)), pen))
	if n := len(graph.Uses(loss)[w]); n != 2 {
		t.Errorf("Uses: W used %d times, want 2", n)
	}
	uses := graph.UsesWithout(loss, pen)
	if u := uses[w]; len(u) != 1 || u[0] != prod {
		t.Errorf("UsesWithout the penalty: W used by %v, want the product alone", u)
	}
	if u := uses[pen]; len(u) != 1 || u[0] != loss {
		t.Errorf("UsesWithout: the penalty used by %v, want the loss", u)
	}
}
