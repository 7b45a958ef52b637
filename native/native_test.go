package native_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opCase is one Gorgonia construction: f builds, from the weight W (and
// the data X, a scalar input s, a vector weight b), the node whose sum is
// the loss.
type opCase struct {
	name     string
	positive bool // W's values positive (sqrt, log, ÷)
	f        func(W, X, b, s *G.Node, k konst) *G.Node
}

// gradWrong holds the constructions whose G.Grad is wrong in Gorgonia
// v0.9.18, and why: their gradient is checked against central differences
// of the loss instead (and G.Grad's difference logged).
var gradWrong = map[string]string{
	"InverseSqrt": "inverseSqrtDiffExpr computes −ȳ/(2y³) for y = x^−½, i.e. −ȳx^{3/2}/2; d/dx x^−½ = −x^{−3/2}/2 = −y³/2",
}

var mustN = G.Must

// konst makes a scalar constant of the graph's dtype.
type konst func(float64) *G.Node

var opCases = []opCase{
	{"Mul matrix × matrix", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Mul(X, W)) }},
	{"Mul matrix × vector", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Mul(W, b)) }},
	{"Add", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Add(W, mustN(G.Square(W)))) }},
	{"Sub", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Sub(mustN(G.Tanh(W)), W)) }},
	{"HadamardProd", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.HadamardProd(W, mustN(G.Tanh(W)))) }},
	{"HadamardDiv", true, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.HadamardDiv(mustN(G.Tanh(W)), W)) }},
	{"Add scalar constant", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Add(W, k(1.5)))))
	}},
	{"Sub from scalar constant", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Sub(k(0.5), W))))
	}},
	{"Mul by scalar constant", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Mul(W, k(2.5)))))
	}},
	{"HadamardDiv by scalar input", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.HadamardDiv(W, s))))
	}},
	{"HadamardProd by scalar input", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.HadamardProd(s, W))))
	}},
	{"Add scalar input", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Add(W, s))))
	}},
	{"BroadcastAdd row (bias)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Tanh(mustN(G.BroadcastAdd(mustN(G.Mul(X, W)), b, nil, []byte{0}))))
	}},
	{"BroadcastSub row", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.BroadcastSub(W, b, nil, []byte{0}))))
	}},
	{"BroadcastHadamardProd row", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.BroadcastHadamardProd(W, b, nil, []byte{0}))))
	}},
	{"BroadcastHadamardDiv column", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.BroadcastHadamardDiv(W, mustN(G.Exp(b)), nil, []byte{1}))))
	}},
	{"Neg", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Neg(mustN(G.Square(W)))) }},
	{"Square", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Tanh(W)))) }},
	{"Sqrt", true, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Sqrt(W)) }},
	{"Exp", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Exp(W)) }},
	{"Log", true, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Log(W)) }},
	{"Tanh", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Tanh(W)) }},
	{"Sigmoid", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Sigmoid(W)) }},
	{"Rectify", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Rectify(W)))) }},
	{"LeakyRelu", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.LeakyRelu(W, 0.2)))) }},
	{"SoftMax matrix", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.HadamardProd(X, mustN(G.SoftMax(mustN(G.Mul(X, W))))))
	}},
	{"SoftMax vector", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.SoftMax(mustN(G.Mul(W, b))))))
	}},
	{"log of SoftMax (log-softmax)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Log(mustN(G.SoftMax(W))))))
	}},
	{"cross-entropy, Sum", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Neg(mustN(G.Sum(mustN(G.HadamardProd(mustN(G.SoftMax(X)), mustN(G.Log(mustN(G.SoftMax(mustN(G.Mul(X, W))))))))))))
	}},
	{"Sum over axis 0", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Sum(mustN(G.Tanh(W)), 0)))) }},
	{"Sum over axis 1", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Sum(mustN(G.Tanh(W)), 1)))) }},
	{"Mean", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Mean(mustN(G.Tanh(W)))))) }},
	{"Mean over axis 1", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Mean(mustN(G.Tanh(W)), 1)))) }},
	{"Transpose", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Mul(mustN(G.Transpose(W)), mustN(G.Tanh(W))))
	}},
	{"Cube", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Cube(W)) }},
	{"Abs", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Square(mustN(G.Abs(W)))) }},
	{"Inverse", true, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Inverse(W)) }},
	{"InverseSqrt", true, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.InverseSqrt(W)) }},
	{"Pow 3", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Pow(W, k(3))) }},
	{"Pow 2", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Pow(mustN(G.Tanh(W)), k(2.0))) }},
	{"Slice row S(i)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Tanh(mustN(G.Slice(mustN(G.Mul(X, W)), G.S(2)))))
	}},
	{"Slice column S(j)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Tanh(mustN(G.Slice(mustN(G.Mul(X, W)), nil, G.S(1)))))))
	}},
	{"Slice rows S(a, b)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Tanh(mustN(G.Slice(mustN(G.Mul(X, W)), G.S(1, 3)))))
	}},
	{"Slice columns S(a, b, step)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		wide := mustN(G.Concat(1, W, mustN(G.Square(W)), mustN(G.Tanh(W)))) // 3×9; Gorgonia's shape needs (end − start)/step whole
		return mustN(G.Square(mustN(G.Tanh(mustN(G.Slice(wide, nil, G.S(1, 9, 4)))))))
	}},
	{"Slice element S(i), S(j)", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Tanh(mustN(G.Slice(mustN(G.Mul(X, W)), G.S(3), G.S(1)))))))
	}},
	{"Slice column then element", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Slice(mustN(G.Slice(mustN(G.Mul(X, W)), nil, G.S(2))), G.S(1)))))
	}},
	{"Slice of a vector to a scalar", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Slice(mustN(G.Tanh(b)), G.S(1)))))
	}},
	{"Concat axis 0", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Tanh(mustN(G.Concat(0, mustN(G.Mul(X, W)), mustN(G.Square(W))))))
	}},
	{"Concat axis 1", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Tanh(mustN(G.Concat(1, W, mustN(G.Tanh(W)), W))))))
	}},
	{"Concat vectors", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Concat(0, mustN(G.Mul(W, b)), mustN(G.Tanh(b))))))
	}},
	{"Mul vector × matrix", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Tanh(mustN(G.Mul(b, W))))
	}},
	{"Add vector × matrix and a bias vector", false, func(W, X, b, s *G.Node, k konst) *G.Node {
		return mustN(G.Square(mustN(G.Tanh(mustN(G.Add(mustN(G.Mul(mustN(G.Slice(X, G.S(0))), W)), b))))))
	}},
}

// Every translation against Gorgonia itself, in float64 and float32: the
// forward value of every translated node (Verify runs at the first
// product: float64 to 1e-8, float32 to 1e-3), and the gradient against
// G.Grad run by Gorgonia's TapeMachine on the same graph (float64: a
// backward pass in another order, 1e-12; float32: Gorgonia's own float32
// rounding, 1e-4).
func TestEveryTranslationAgainstGorgonia(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, c := range opCases {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				g := G.NewGraph()
				W := G.NewMatrix(g, dt, G.WithShape(3, 3), G.WithName("W"), G.WithValue(randT(rng, dt, c.positive, 3, 3)))
				X := G.NewMatrix(g, dt, G.WithShape(4, 3), G.WithName("X"), G.WithValue(randT(rng, dt, false, 4, 3)))
				b := G.NewVector(g, dt, G.WithShape(3), G.WithName("b"), G.WithValue(randT(rng, dt, false, 3)))
				s := G.NewScalar(g, dt, G.WithName("s"), G.WithValue(scalarV(dt, 1.7)))
				out := c.f(W, X, b, s, func(x float64) *G.Node {
					if dt == tensor.Float32 {
						return G.NewConstant(float32(x))
					}
					return G.NewConstant(x)
				})
				loss := out
				if !out.Shape().IsScalar() {
					loss = mustN(G.Sum(out))
				}
				var ws []*G.Node // those the loss reads
				for _, n := range graph.Inputs(loss) {
					if n == W || n == b {
						ws = append(ws, n)
					}
				}
				p, err := hvp.New(loss, ws...)
				if err != nil {
					t.Fatal(err)
				}
				lossN, grads, err := p.Gradient() // runs Verify first
				if err != nil {
					t.Fatal(err)
				}
				gg, err := G.Grad(loss, ws...)
				if err != nil {
					t.Fatal(err)
				}
				m := G.NewTapeMachine(g)
				defer m.Close()
				if err := m.RunAll(); err != nil {
					t.Fatal(err)
				}
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-4
				}
				if d := math.Abs(lossN-testnet.ScalarOf(loss.Value())) / math.Max(1, math.Abs(lossN)); d > tol {
					t.Errorf("loss %v, Gorgonia's %v", lossN, testnet.ScalarOf(loss.Value()))
				}
				for k := range ws {
					want := data(gg[k].Value().(*tensor.Dense))
					if why := gradWrong[c.name]; why != "" {
						t.Logf("G.Grad differs by %.3g (%s); checked against central differences instead", relDiff(grads.Weight(k), want), why)
						want = lossFD(t, p, k, 1e-4)
						tol = 1e-6 // truncation O(r²) at r = 1e-4 (float32: the loss in float64 of the float32 model)
					}
					if d := relDiff(grads.Weight(k), want); d > tol {
						t.Errorf("gradient for %s differs from G.Grad's by %.3g", ws[k].Name(), d)
					}
					if gt := grads.Tensors()[k]; gt.Dtype() != dt {
						t.Errorf("gradient in %v for a %v graph", gt.Dtype(), dt)
					}
				}
			})
		}
	}
}

// lossFD returns the central differences of p's loss along each element
// of weight k.
func lossFD(t *testing.T, p *hvp.Problem, k int, r float64) []float64 {
	base, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	w := base.Weight(k)
	out := make([]float64, len(w))
	for i := range w {
		var f [2]float64
		for j, s := range []float64{r, -r} {
			ws := base.Clone()
			ws.Weight(k)[i] += s
			if f[j], err = p.LossAt(ws); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = (f[0] - f[1]) / (2 * r)
	}
	return out
}

// data returns a tensor's values in row-major order, as float64.
func data(t *tensor.Dense) []float64 {
	d, _, err := native.Float64s(t)
	if err != nil {
		panic(err)
	}
	return d
}

// relDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0).
func relDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}

func randT(rng *rand.Rand, dt tensor.Dtype, positive bool, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
		if positive {
			x[i] = 0.5 + math.Abs(x[i])
		}
	}
	return testnet.Tensor(x, shape, dt)
}

func scalarV(dt tensor.Dtype, x float64) G.Value {
	if dt == tensor.Float32 {
		return G.NewF32(float32(x))
	}
	return G.NewF64(x)
}

// A translation is checked by what it computes: a registered rule that
// computes the wrong function (x² for Gorgonia's sin) is caught at the
// first product, naming the node; a right one (sin as a newtonia op,
// sinOp below) is accepted and its gradient equals G.Grad's.
func TestRegisterIsVerified(t *testing.T) {
	build := func() (*G.ExprGraph, *G.Node, *G.Node) {
		g := G.NewGraph()
		rng := rand.New(rand.NewPCG(3, 4))
		W := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 2, 3)))
		c := G.Must(G.Sin(W))
		return g, W, G.Must(G.Sum(c))
	}
	register(t)
	sinWrong.Store(true)
	defer sinWrong.Store(false)
	_, W, loss := build()
	p, err := hvp.New(loss, W)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Gradient()
	var nr *errs.NoRuleError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "differs from Gorgonia's value") {
		t.Fatalf("a wrong translation was not caught: %v", err)
	}
	t.Log(err)
	sinWrong.Store(false)
	g, W, loss := build()
	p, err = hvp.New(loss, W)
	if err != nil {
		t.Fatal(err)
	}
	_, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gg, err := G.Grad(loss, W)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if d := relDiff(grads.Weight(0), data(gg[0].Value().(*tensor.Dense))); d > 1e-12 {
		t.Fatalf("registered cube: gradient differs from G.Grad's by %.3g", d)
	}
}

// sinWrong selects the rule registered for Gorgonia's sin: x² (wrong)
// or sin (right).
var sinWrong atomic.Bool

// registered registers the tests' rules, once per process (a name is
// registered once, and go test -count=2 runs the tests twice in one
// process): sin (see sinWrong), expm1 translated wrongly as x², and a rule
// for every tanh that computes x², which the built-in tanh, tried first,
// keeps from ever applying.
var registered = sync.OnceValue(func() error {
	unary := func(name, printed string, f func(x *G.Node) (*G.Node, error)) error {
		return native.Register(name, native.Rule{Type: "gorgonia.elemUnaryOp", Printed: printed,
			Translate: func(s *native.Site) (*G.Node, error) { return f(s.In(0)) }})
	}
	return errors.Join(
		unary("sin", "sin", func(x *G.Node) (*G.Node, error) {
			if sinWrong.Load() {
				return ops.Square(x)
			}
			return ops.Map(sinOp{}, x)
		}),
		unary("expm1", "expm1", ops.Square),
		native.Register("every tanh", native.Rule{
			Match: func(s *native.Site) error {
				if s.Node().Op().String() != "tanh" {
					return native.Skip
				}
				return nil
			},
			Translate: func(s *native.Site) (*G.Node, error) { return ops.Square(s.In(0)) },
		}),
	)
})

func register(t *testing.T) {
	t.Helper()
	if err := registered(); err != nil {
		t.Fatal(err)
	}
}

// Register appends to the table and never replaces a rule: a name that
// exists (registered, or built-in) and a rule that an earlier one always
// pre-empts are *errs.ArgumentError naming the name; a registered rule
// matching what a built-in translates never applies (tanh stays tanh).
func TestRegisterAppends(t *testing.T) {
	register(t)
	square := func(s *native.Site) (*G.Node, error) { return ops.Square(s.In(0)) }
	for _, c := range []struct {
		name, why string
		r         native.Rule
	}{
		{"sin", "exists", native.Rule{Type: "gorgonia.elemUnaryOp", Printed: "sin", Translate: square}},
		{"tanh", "exists", native.Rule{Type: "gorgonia.elemUnaryOp", Printed: "tanh", Translate: square}},
		{"relu", "exists", native.Rule{Translate: square}},
		{"my tanh", "never apply", native.Rule{Type: "gorgonia.elemUnaryOp", Printed: "tanh", Translate: square}},
		{"my sin", "never apply", native.Rule{Type: "gorgonia.elemUnaryOp", Printed: "sin", Translate: square}},
		{"nothing", "neither", native.Rule{}},
		{"", "empty", native.Rule{Translate: square}},
	} {
		err := native.Register(c.name, c.r)
		var ae *errs.ArgumentError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.name)) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Register(%q): got %v, want an *errs.ArgumentError naming it (%s)", c.name, err, c.why)
		}
	}
	rules := native.Rules()
	if n := len(rules); n < 4 || rules[0] != "random" || strings.Join(rules[n-3:], ",") != "sin,expm1,every tanh" {
		t.Errorf("the table is not the built-ins followed by the registered rules in order: %q", rules)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 3, 2)))
	p, err := hvp.New(mustN(G.Sum(mustN(G.Tanh(w)))), w)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); err != nil { // Verify: tanh, not x²
		t.Fatalf("a registered rule overrode the built-in tanh: %v", err)
	}
	t.Logf("%d rules: %q", len(rules), rules)
}

// sinOp is sin as a newtonia function: its derivatives by order.
type sinOp struct{}

func (sinOp) String() string { return "sin" }
func (sinOp) Deriv(order int, x float64) (float64, bool) {
	return [...]float64{math.Sin(x), math.Cos(x), -math.Sin(x), -math.Cos(x)}[((order%4)+4)%4], order >= 0
}

// convNet is a small convolutional model as Gorgonia's convnet example
// builds one: a 4-D image batch, a 4-D kernel, G.Conv2d, G.MaxPool2D, a
// reshape to a matrix and a dense layer.
func convNet(t *testing.T, kernelName string) (loss, kernel, w *G.Node) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 4, 4), G.WithName("images"), G.WithValue(randT(rng, tensor.Float64, false, 2, 1, 4, 4)))
	opts := []G.NodeConsOpt{G.WithShape(3, 1, 3, 3), G.WithValue(randT(rng, tensor.Float64, false, 3, 1, 3, 3))}
	if kernelName != "" {
		opts = append(opts, G.WithName(kernelName))
	}
	kernel = G.NewTensor(g, tensor.Float64, 4, opts...)
	c := mustN(G.Conv2d(x, kernel, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	r := mustN(G.Rectify(c))
	p := mustN(G.MaxPool2D(r, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	flat := mustN(G.Reshape(p, tensor.Shape{2, 12}))
	w = G.NewMatrix(g, tensor.Float64, G.WithShape(12, 2), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 12, 2)))
	return mustN(G.Sum(mustN(G.Tanh(mustN(G.Mul(flat, w)))))), kernel, w
}

// A weight of more than two dimensions (a convolution kernel), refused
// until issue 21, is translated with the 4-D images, G.Conv2d and
// G.MaxPool2D: its gradient is G.Grad's (TapeMachine), to 1e-12 (a
// backward pass in another order).
func TestKernelWeightAccepted(t *testing.T) {
	loss, kernel, w := convNet(t, "kernel")
	p, err := hvp.New(loss, kernel, w)
	if err != nil {
		t.Fatal(err)
	}
	_, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gg, err := G.Grad(loss, kernel, w)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(loss.Graph())
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for k := range gg {
		if d := relDiff(grads.Weight(k), data(gg[k].Value().(*tensor.Dense))); !(d < 1e-12) {
			t.Errorf("gradient %d differs from G.Grad's by %.3g", k, d)
		}
	}
	if s := p.Layout().Shape(0); !s.Eq(kernel.Shape()) {
		t.Errorf("the kernel's layout shape is %v, want %v", s, kernel.Shape())
	}
}

// Every untranslated op of the loss's graph is listed, also those below
// another untranslated op: log1p feeding cos, in a dense model and in a
// convolutional one (on the 4-D images, below G.Conv2d) (issue 19 item
// 22).
func TestEveryUntranslatedListed(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"))
	s := mustN(G.Log1p(mustN(G.Mul(x, w))))
	c := mustN(G.Cos(s))
	_, err := hvp.New(mustN(G.Sum(mustN(G.Tanh(c)))), w)
	listed := func(err error, op string) bool {
		var ue *errs.UntranslatedError
		if !errors.As(err, &ue) {
			t.Fatalf("got %v, want an *errs.UntranslatedError", err)
		}
		for _, n := range ue.Nodes {
			if strings.HasPrefix(n.Op, op) {
				return true
			}
		}
		return false
	}
	if !listed(err, "log1p") || !listed(err, "cos") {
		t.Errorf("log1p and cos are not both listed:\n%v", err)
	}
	g = G.NewGraph()
	images := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 4, 4), G.WithName("images"))
	kernel := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 1, 3, 3), G.WithName("kernel"))
	conv := mustN(G.Conv2d(mustN(G.Cos(mustN(G.Log1p(images)))), kernel, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	_, err = hvp.New(mustN(G.Sum(conv)), kernel)
	if !listed(err, "log1p") || !listed(err, "cos") {
		t.Errorf("log1p and cos on the images are not both listed:\n%v", err)
	}
}

// A random node is never folded into a constant (a draw frozen at
// translation is another function than Gorgonia's, which draws anew on
// every run) and no longer refused (issue 21 item 3): each of Gorgonia's
// random constructors, and G.Dropout, also of a constant, becomes an
// input holding one draw, listed by Random; the products of one draw
// agree, a redraw changes the loss (a folded constant would not), and the
// translation is verified against Gorgonia's own run at Gorgonia's draw
// (Prepare). What cannot be held fixed is refused by name: G.Dropout with
// p = 1 keeps nothing.
func TestRandomNodesHeld(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(5, 3), G.WithName("x"), G.WithValue(randT(rng, tensor.Float64, false, 5, 3)))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 3, 2)))
	xw := mustN(G.Mul(x, w))
	// Gorgonia hash-conses random nodes by type and shape alone (they are
	// inputs to it): distinct shapes keep them distinct nodes.
	random := map[string]*G.Node{
		"G.UniformRandomNode":  G.UniformRandomNode(g, tensor.Float64, 0, 1, 5, 2),
		"G.GaussianRandomNode": G.GaussianRandomNode(g, tensor.Float64, 0, 1, 3, 2),
		"G.BinomialRandomNode": G.BinomialRandomNode(g, tensor.Float64, 1, 0.5, 4, 3),
		"G.Dropout":            mustN(G.Dropout(xw, 0.5)),
		"G.Dropout of a constant": mustN(G.Dropout(G.NewConstant(tensor.New(tensor.WithShape(3, 2),
			tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6})), G.In(g)), 0.5)),
	}
	terms := []*G.Node{
		mustN(G.HadamardProd(xw, random["G.UniformRandomNode"])),
		mustN(G.HadamardProd(w, random["G.GaussianRandomNode"])),
		mustN(G.Mul(random["G.BinomialRandomNode"], w)),
		random["G.Dropout"],
		mustN(G.HadamardProd(w, random["G.Dropout of a constant"])),
	}
	var loss *G.Node
	for _, term := range terms {
		s := mustN(G.Sum(mustN(G.Tanh(term))))
		if loss == nil {
			loss = s
		} else {
			loss = mustN(G.Add(loss, s))
		}
	}
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Random()
	for what, n := range random {
		if !slices.Contains(got, n) {
			t.Errorf("%s (%s) is not listed by Random: %v", what, n.Name(), got)
		}
	}
	if len(got) != len(random) {
		t.Errorf("Random lists %d nodes, want %d", len(got), len(random))
	}
	l1, _, err := p.Gradient() // verified against Gorgonia's run at its own draw first
	if err != nil {
		t.Fatal(err)
	}
	l2, err := p.LossAt(nil)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 {
		t.Errorf("two products of one draw: loss %v then %v", l1, l2)
	}
	if err := p.Redraw(rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	l3, err := p.LossAt(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss at draw 1: %.6g, after a redraw: %.6g", l1, l3)
	if l3 == l1 {
		t.Errorf("a redraw left the loss at %v: a random node folded", l1)
	}

	g2 := G.NewGraph()
	w2 := G.NewMatrix(g2, tensor.Float64, G.WithShape(3, 2), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 3, 2)))
	drop := mustN(G.Dropout(w2, 1))
	_, err = hvp.New(mustN(G.Sum(mustN(G.Tanh(drop)))), w2)
	var ue *errs.UntranslatedError
	if !errors.As(err, &ue) || len(ue.Nodes) != 1 || ue.Nodes[0].Node != errs.Label(drop) || !ue.Nodes[0].Random || !strings.Contains(ue.Nodes[0].Reason, "0 ≤ p < 1") {
		t.Errorf("G.Dropout(W, 1): got %v, want an *errs.UntranslatedError naming the dropout node", err)
	}
}

// When translated nodes differ from Gorgonia's values, Verify names the
// earliest cause in the user's graph order, at every run: a wrong rule
// for expm1 makes expm1, the tanh above it and the sum differ, and the
// error must name expm1 every time (Verify once went through a map, in
// random order; issue 19 item 21).
func TestVerifyNamesEarliestMismatch(t *testing.T) {
	register(t) // expm1 translated wrongly: x², not eˣ − 1
	for run := range 20 {
		rng := rand.New(rand.NewPCG(7, 7))
		g := G.NewGraph()
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 4, 3)))
		e := mustN(G.Expm1(w))
		loss := mustN(G.Sum(mustN(G.Tanh(mustN(G.Square(e))))))
		p, err := hvp.New(loss, w)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Gradient()
		var nr *errs.NoRuleError
		if !errors.As(err, &nr) || nr.Node != e {
			t.Fatalf("run %d: got %v, want the mismatch of %s", run, err, e.Name())
		}
	}
}

// A Model is the user's own nodes for a graph of newtonia's float64 ops
// and their translation otherwise; Prepare binds the user's inputs
// (promoted from float32), checks them (a NaN input is an
// *errs.NotFiniteError naming it, before and after the one verification)
// and Check does the same without verifying.
func TestModel(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 0, 0, 1}))))
	own := G.Must(ops.Sum(G.Must(ops.MatMul(x, w))))
	m, err := native.NewModel(own, []*G.Node{w})
	if err != nil || m.Translated() || m.Loss() != own || m.Weights()[0] != w || m.Dtype() != tensor.Float64 || m.UserNode(own) != own {
		t.Fatalf("newtonia's ops: %+v, %v", m, err)
	}
	x32 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("x32"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	w32 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("W32"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 0, 0, 1}))))
	loss := G.Must(G.Sum(G.Must(G.Mul(x32, w32))))
	m, err = native.NewModel(loss, []*G.Node{w32})
	if err != nil || !m.Translated() || m.Loss() == loss || m.Dtype() != tensor.Float32 || m.UserNode(m.Weights()[0]) != w32 {
		t.Fatalf("Gorgonia's float32 ops: %v", err)
	}
	for i := range 2 {
		bind := graph.Values{}
		if err := m.Prepare(bind); err != nil {
			t.Fatalf("Prepare %d: %v", i, err)
		}
		if len(bind) != 2 { // x32 and W32, promoted
			t.Errorf("Prepare %d bound %d inputs, want 2", i, len(bind))
		}
	}
	x32.Value().(*tensor.Dense).Float32s()[1] = float32(math.NaN())
	for name, f := range map[string]func() error{"Prepare": func() error { return m.Prepare(graph.Values{}) }, "Check": m.Check} {
		var nf *errs.NotFiniteError
		if err := f(); !errors.As(err, &nf) || !strings.Contains(err.Error(), "x32") || nf.Index != 1 {
			t.Errorf("%s with a NaN input: %v", name, err)
		}
	}
}
