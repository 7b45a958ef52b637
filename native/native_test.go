package native_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/ops"
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
	{"Pow 2", false, func(W, X, b, s *G.Node, k konst) *G.Node { return mustN(G.Pow(mustN(G.Tanh(W)), k(2.0))) }},
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
					want := gg[k].Value().(*tensor.Dense)
					if d := hvp.RelDiff(grads[k], want); d > tol {
						t.Errorf("gradient for %s differs from G.Grad's by %.3g", ws[k].Name(), d)
					}
					if grads[k].Dtype() != dt {
						t.Errorf("gradient in %v for a %v graph", grads[k].Dtype(), dt)
					}
				}
			})
		}
	}
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
// computes the wrong function (x² for Gorgonia's cube) is caught at the
// first product, naming the node; the right rule (x·x·x) is accepted and
// its gradient equals G.Grad's.
func TestRegisterIsVerified(t *testing.T) {
	build := func() (*G.ExprGraph, *G.Node, *G.Node) {
		g := G.NewGraph()
		rng := rand.New(rand.NewPCG(3, 4))
		W := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("W"), G.WithValue(randT(rng, tensor.Float64, false, 2, 3)))
		c := G.Must(G.Cube(W))
		return g, W, G.Must(G.Sum(c))
	}
	native.Register("cube", func(op G.Op, in []*G.Node) (*G.Node, error) { return ops.Square(in[0]) })
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
	native.Register("cube", func(op G.Op, in []*G.Node) (*G.Node, error) {
		x2, err := ops.Mul(in[0], in[0])
		if err != nil {
			return nil, err
		}
		return ops.Mul(x2, in[0])
	})
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
	if d := hvp.RelDiff(grads[0], gg[0].Value().(*tensor.Dense)); d > 1e-12 {
		t.Fatalf("registered cube: gradient differs from G.Grad's by %.3g", d)
	}
}
