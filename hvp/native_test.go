package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gnet is an MLP written only with Gorgonia's API, as its users write one.
type gnet struct {
	g       *G.ExprGraph
	x, y    *G.Node
	weights []*G.Node // W1, b1, W2, b2, …
	loss    *G.Node
}

type gspec struct {
	name    string
	batch   int
	sizes   []int  // in, hidden…, out
	act     string // tanh, sigmoid, relu, leaky
	loss    string // mse (G.Mean(G.Square(G.Sub))) or ce (softmax cross-entropy)
	matvec  bool   // a last layer of one output as G.Mul(matrix, vector)
	exactly []int  // blocks whose InvHv (undamped) must be certified
}

func (s gspec) build(t testing.TB, dt tensor.Dtype, seed uint64) *gnet {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	g := G.NewGraph()
	val := func(shape ...int) tensor.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		if dt == tensor.Float32 {
			y := make([]float32, n)
			for i := range x {
				y[i] = float32(x[i])
			}
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(y))
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
	}
	n := &gnet{g: g}
	n.x = G.NewMatrix(g, dt, G.WithShape(s.batch, s.sizes[0]), G.WithName("x"), G.WithValue(val(s.batch, s.sizes[0])))
	out := s.sizes[len(s.sizes)-1]
	if s.matvec {
		n.y = G.NewVector(g, dt, G.WithShape(s.batch), G.WithName("y"), G.WithValue(val(s.batch)))
	} else {
		yv := val(s.batch, out)
		if strings.HasPrefix(s.loss, "ce") { // rows of probabilities
			yv = probabilities(t, yv, dt)
		}
		n.y = G.NewMatrix(g, dt, G.WithShape(s.batch, out), G.WithName("y"), G.WithValue(yv))
	}
	h := n.x
	for l := 1; l < len(s.sizes); l++ {
		last := l == len(s.sizes)-1
		var z *G.Node
		if last && s.matvec {
			w := G.NewVector(g, dt, G.WithShape(s.sizes[l-1]), G.WithName(fmt.Sprintf("w%d", l)), G.WithValue(val(s.sizes[l-1])))
			n.weights = append(n.weights, w)
			z = G.Must(G.Mul(h, w))
		} else {
			w := G.NewMatrix(g, dt, G.WithShape(s.sizes[l-1], s.sizes[l]), G.WithName(fmt.Sprintf("W%d", l)), G.WithValue(val(s.sizes[l-1], s.sizes[l])))
			b := G.NewVector(g, dt, G.WithShape(s.sizes[l]), G.WithName(fmt.Sprintf("b%d", l)), G.WithValue(val(s.sizes[l])))
			n.weights = append(n.weights, w, b)
			z = G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w)), b, nil, []byte{0}))
		}
		if last {
			h = z
			break
		}
		switch s.act {
		case "tanh":
			h = G.Must(G.Tanh(z))
		case "sigmoid":
			h = G.Must(G.Sigmoid(z))
		case "relu":
			h = G.Must(G.Rectify(z))
		case "leaky":
			h = G.Must(G.LeakyRelu(z, 0.1))
		default:
			t.Fatalf("activation %q", s.act)
		}
	}
	switch s.loss {
	case "mse":
		n.loss = G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(h, n.y))))))
	case "ce":
		logp := G.Must(G.Log(G.Must(G.SoftMax(h))))
		n.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(n.y, logp)), 1))))))
	case "ce, negated per row": // not the fused pattern: translated op by op
		logp := G.Must(G.Log(G.Must(G.SoftMax(h))))
		n.loss = G.Must(G.Mean(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, n.y)), 1))))))
	case "ce, mean of all elements":
		logp := G.Must(G.Log(G.Must(G.SoftMax(h))))
		n.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.HadamardProd(n.y, logp))))))
	case "mse per row":
		n.loss = G.Must(G.Mean(G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(h, n.y)))), 1))))
	}
	return n
}

func probabilities(t testing.TB, v tensor.Tensor, dt tensor.Dtype) tensor.Tensor {
	s := v.Shape()
	d := data(v.(*tensor.Dense))
	for i := 0; i < s[0]; i++ {
		var sum float64
		for j := 0; j < s[1]; j++ {
			d[i*s[1]+j] = math.Exp(d[i*s[1]+j])
			sum += d[i*s[1]+j]
		}
		for j := 0; j < s[1]; j++ {
			d[i*s[1]+j] /= sum
		}
	}
	return testnet.Tensor(d, s, dt)
}

// gorgoniaGrad evaluates G.Grad's gradient of the net at weight values ws
// (float64, rounded to the net's dtype), with a TapeMachine of the user's
// graph.
type gorgoniaGrad struct {
	n     *gnet
	grads []*G.Node
	m     G.VM
}

func newGorgoniaGrad(t testing.TB, n *gnet) *gorgoniaGrad {
	t.Helper()
	grads, err := G.Grad(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	return &gorgoniaGrad{n: n, grads: grads, m: G.NewTapeMachine(n.g)}
}

func (gg *gorgoniaGrad) at(t testing.TB, ws [][]float64) [][]float64 {
	t.Helper()
	for k, w := range gg.n.weights {
		if err := G.Let(w, gvalue(ws[k], w)); err != nil {
			t.Fatal(err)
		}
	}
	gg.m.Reset()
	if err := gg.m.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(gg.grads))
	for k, g := range gg.grads {
		out[k] = valueData(t, g.Value())
	}
	return out
}

// valueData returns a Gorgonia value's elements as float64: a tensor's or
// a scalar's (*gorgonia.F64, F32).
func valueData(t testing.TB, v G.Value) []float64 {
	t.Helper()
	d, _, err := native.Float64s(v)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), d...)
}

// gvalue makes a value for node w from data: a tensor of w's shape and
// dtype, or Gorgonia's scalar for a scalar node.
func gvalue(data []float64, w *G.Node) G.Value {
	if w.Shape().IsScalar() {
		if w.Dtype() == tensor.Float32 {
			return G.NewF32(float32(data[0]))
		}
		return G.NewF64(data[0])
	}
	return testnet.Tensor(data, w.Shape(), w.Dtype())
}

// weights returns the weights' current values.
func (gg *gorgoniaGrad) weights(t testing.TB) [][]float64 {
	w0 := make([][]float64, len(gg.n.weights))
	for k, w := range gg.n.weights {
		w0[k] = valueData(t, w.Value())
	}
	return w0
}

// central returns (∇J(w0 + r v) − ∇J(w0 − r v)) / 2r by G.Grad, flattened.
func (gg *gorgoniaGrad) central(t testing.TB, w0 [][]float64, v *params.Vector, r float64) []float64 {
	plus, minus := make([][]float64, len(w0)), make([][]float64, len(w0))
	for k := range w0 {
		vk := v.Weight(k)
		plus[k], minus[k] = append([]float64(nil), w0[k]...), append([]float64(nil), w0[k]...)
		for i := range vk {
			plus[k][i] += r * vk[i]
			minus[k][i] -= r * vk[i]
		}
	}
	gp, gm := flatten(gg.at(t, plus)), flatten(gg.at(t, minus))
	for i := range gp {
		gp[i] = (gp[i] - gm[i]) / (2 * r)
	}
	return gp
}

func flatten(xs [][]float64) []float64 {
	var out []float64
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

var gnets = []gspec{
	// batch = fan-in + 1 (with the bias): every block whose M_i is
	// nonsingular is exact (method.md §9).
	{"tanh 5-5-5-3 MSE, biases", 6, []int{5, 5, 5, 3}, "tanh", "mse", false, []int{0, 1, 2}},
	{"sigmoid 4-4-4-2 MSE, biases", 5, []int{4, 4, 4, 2}, "sigmoid", "mse", false, []int{0, 1, 2}},
	// The last block of a softmax cross-entropy is Newton-only (M_i
	// singular): exact only damped.
	{"tanh 4-4-3 softmax CE, biases", 5, []int{4, 4, 3}, "tanh", "ce", false, []int{0}},
	{"leaky 4-4-4-2 MSE, biases", 5, []int{4, 4, 4, 2}, "leaky", "mse", false, nil},
	{"relu 3-5-2 softmax CE, biases", 6, []int{3, 5, 2}, "relu", "ce", false, nil},
	{"tanh 4-4-1 MSE, matrix × vector output", 5, []int{4, 4, 1}, "tanh", "mse", true, []int{0}},
	{"sigmoid 4-4-3 CE negated per row", 5, []int{4, 4, 3}, "sigmoid", "ce, negated per row", false, []int{0}},
	{"tanh 4-4-3 CE mean of all elements", 5, []int{4, 4, 3}, "tanh", "ce, mean of all elements", false, []int{0}},
	{"tanh 4-4-2 MSE summed per row", 5, []int{4, 4, 2}, "tanh", "mse per row", false, []int{0, 1}},
}

// Hv of a model written with Gorgonia's API equals central differences of
// G.Grad (run by Gorgonia's own TapeMachine) to O(r²): at r = 1e-3 the
// difference is the truncation, ≈ r²‖∇³J‖/6 ≫ rounding ε‖g‖/r ≈ 1e-13;
// halving r divides it by 4 (a ratio within [0.2, 0.3]; piecewise-linear
// nets too: the loss is a polynomial in the weights between kinks).
func TestGorgoniaHvAgainstGrad(t *testing.T) {
	for _, s := range gnets {
		t.Run(s.name, func(t *testing.T) {
			n := s.build(t, tensor.Float64, 1)
			p, err := hvp.New(n.loss, n.weights...)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			v := randomLike(rng, p)
			hv, err := p.Hv(v)
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range n.weights {
				if ht := hv.Tensors()[k]; !ht.Shape().Eq(w.Shape()) || ht.Dtype() != tensor.Float64 {
					t.Fatalf("Hv for %s: shape %v dtype %v, want the weight's %v", w.Name(), ht.Shape(), ht.Dtype(), w.Shape())
				}
			}
			gg := newGorgoniaGrad(t, n)
			w0 := gg.weights(t)
			fd := func(r float64) float64 { return flatRelDiff(gg.central(t, w0, v, r), hv.Flat()) }
			e1, e2 := fd(1e-3), fd(5e-4)
			t.Logf("‖Hv − FD(G.Grad)‖/‖Hv‖: r = 1e-3: %.3g, r = 5e-4: %.3g (ratio %.3f)", e1, e2, e2/e1)
			switch {
			case e1 > 1e-4:
				t.Errorf("Hv differs from central differences of G.Grad by %.3g", e1)
			case !(e2/e1 >= 0.2 && e2/e1 <= 0.3):
				t.Errorf("halving r changed the difference by %.3f, want ≈ 1/4 (O(r²) convergence to Hv)", e2/e1)
			}
			// The user's graph still gives its own results: the loss G.Grad's
			// machine computed at the original weights is the one hvp reads.
			gg.at(t, w0)
			loss, grads, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			want := testnet.ScalarOf(n.loss.Value())
			if d := math.Abs(loss-want) / math.Abs(want); d > 1e-12 {
				t.Errorf("loss %v, Gorgonia's %v", loss, want)
			}
			if d := flatRelDiff(grads.Flat(), flatten(gg.at(t, w0))); d > 1e-12 {
				t.Errorf("gradient differs from G.Grad's by %.3g", d)
			}
		})
	}
}

func randomLike(rng *rand.Rand, p *hvp.Problem) *params.Vector {
	v := params.New(p.Layout())
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	v.Round() // a float32 model's directions hold float32 values
	return v
}

// InvHv is certified where method.md says it is exact, and equals the
// solve of the dense block (exact R-pass columns, a reference that shares
// no code with the B-pass) to 1e-10·cond; every block of every net is
// certified with damping (exact LM damping, §9), against the dense damped
// block.
func TestGorgoniaInvHv(t *testing.T) {
	for _, s := range gnets {
		t.Run(s.name, func(t *testing.T) {
			n := s.build(t, tensor.Float64, 2)
			p, err := hvp.New(n.loss, n.weights...)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Conditions()
			rng := rand.New(rand.NewPCG(4, 4))
			v := randomLike(rng, p)
			for _, l := range s.exactly {
				if c[l].Kind != hvp.KindExact {
					t.Fatalf("block %s: kind %v, want exact (%v)", p.Block(l).Name(), c[l].Kind, c[l].Reasons)
				}
			}
			for l := 0; l < p.Blocks(); l++ {
				h, err := reference.DenseBlock(p, l, nil)
				if err != nil {
					t.Fatal(err)
				}
				vl := v.Block(l)
				for _, lambda := range []float64{0, 0.1} {
					exact := (lambda > 0 && c[l].Kind != hvp.KindRefused) || slices.Contains(s.exactly, l)
					if !exact {
						continue
					}
					res, err := p.Block(l).InvHv(vl, &hvp.Options{Damping: lambda})
					if err != nil {
						t.Fatalf("block %s, λ %g: %v", p.Block(l).Name(), lambda, err)
					}
					hd := h
					if lambda > 0 {
						if hd, err = reference.Damp(p, l, h, lambda); err != nil {
							t.Fatal(err)
						}
					}
					want := testnet.Solve(t, hd, vl)
					d := flatRelDiff(res.U.Flat(), want.Flat())
					cond := testnet.Cond(hd)
					t.Logf("block %s λ %g: %v via %s, residual %.2g, vs dense %.2g (cond %.2g)", p.Block(l).Name(), lambda, res.Kind, res.Method, res.Residual, d, cond)
					if !res.Certified || d > 1e-10*cond {
						t.Errorf("block %s λ %g: certified %v, differs from the dense solve by %.3g (cond %.3g)", p.Block(l).Name(), lambda, res.Certified, d, cond)
					}
				}
			}
		})
	}
}

// A float32 model gets its products in float32, equal to the float64
// model's (same values, promoted exactly) to float32 rounding; its
// InvHv is the certified float64 result rounded; its Hv agrees with
// central differences of G.Grad run in float32 as far as float32 allows
// (r = 1e-2: truncation ≈ 1e-4·‖∇³J‖, rounding ≈ ε₃₂‖g‖/r ≈ 1e-5·‖g‖;
// 3e-2; smooth nets only: at r = 1e-2 the differences of a ReLU net cross
// kinks).
func TestGorgoniaFloat32(t *testing.T) {
	for _, s := range gnets {
		t.Run(s.name, func(t *testing.T) {
			n32, n64 := s.build(t, tensor.Float32, 5), s.build(t, tensor.Float64, 5)
			p32, err := hvp.New(n32.loss, n32.weights...)
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range n64.weights { // the float64 model at the float32 values
				d := data(n32.weights[k].Value().(*tensor.Dense))
				if err := G.Let(w, testnet.Tensor(d, w.Shape(), tensor.Float64)); err != nil {
					t.Fatal(err)
				}
			}
			for _, in := range [][2]*G.Node{{n32.x, n64.x}, {n32.y, n64.y}} {
				if err := G.Let(in[1], testnet.Tensor(data(in[0].Value().(*tensor.Dense)), in[1].Shape(), tensor.Float64)); err != nil {
					t.Fatal(err)
				}
			}
			p64, err := hvp.New(n64.loss, n64.weights...)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(6, 6))
			v32 := randomLike(rng, p32)
			hv32, err := p32.Hv(v32)
			if err != nil {
				t.Fatal(err)
			}
			hv64, err := p64.Hv(v32) // float32 directions are accepted and promoted
			if err != nil {
				t.Fatal(err)
			}
			for _, ht := range hv32.Tensors() {
				if ht.Dtype() != tensor.Float32 {
					t.Fatalf("Hv of a float32 graph in %v", ht.Dtype())
				}
			}
			// Rounding to float32: 2⁻²⁴ ≈ 6e-8 per element.
			if d := flatRelDiff(hv32.Flat(), hv64.Flat()); d > 1e-7 {
				t.Errorf("float32 Hv differs from the float64 model's by %.3g", d)
			}
			gg := newGorgoniaGrad(t, n32)
			w0 := gg.weights(t)
			gp := gg.central(t, w0, v32, 1e-2)
			gg.at(t, w0) // back to the point of the products
			d := flatRelDiff(gp, hv32.Flat())
			t.Logf("float32: vs float64 model %.2g, vs FD of G.Grad in float32 %.2g", flatRelDiff(hv32.Flat(), hv64.Flat()), d)
			if smooth := s.act == "tanh" || s.act == "sigmoid"; smooth && d > 3e-2 {
				t.Errorf("float32 Hv differs from float32 FD of G.Grad by %.3g", d)
			}
			for _, l := range s.exactly {
				res, err := p32.Block(l).InvHv(v32.Block(l), nil)
				if err != nil {
					t.Fatalf("block %s: %v", p32.Block(l).Name(), err)
				}
				r64, err := p64.Block(l).InvHv(v32.Block(l), nil)
				if err != nil {
					t.Fatal(err)
				}
				if dt := res.U.Tensors()[0].Dtype(); dt != tensor.Float32 || !res.Certified || res.Residual > hvp.DefaultTol {
					t.Errorf("block %s: dtype %v, certified %v, residual %.3g", p32.Block(l).Name(), dt, res.Certified, res.Residual)
				}
				// The float32 result is the float64 one rounded: 2⁻²⁴ ≈ 6e-8
				// relative per element.
				dd := flatRelDiff(res.U.Flat(), r64.U.Flat())
				t.Logf("block %s: float32 InvHv residual %.2g (of the float32 result: %.2g), vs float64 result %.2g", p32.Block(l).Name(), res.Residual, res.RoundedResidual, dd)
				if dd > 1e-7 || !(res.RoundedResidual >= 0) {
					t.Errorf("block %s: float32 InvHv differs from float64's by %.3g (rounded residual %v)", p32.Block(l).Name(), dd, res.RoundedResidual)
				}
			}
		})
	}
}

// New never touches the user's graph: no node is added, and a
// TapeMachine made after the products were used computes the same loss.
func TestGorgoniaGraphUntouched(t *testing.T) {
	n := gnets[2].build(t, tensor.Float64, 7)
	before := len(n.g.AllNodes())
	m0 := G.NewTapeMachine(n.g)
	if err := m0.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := testnet.ScalarOf(n.loss.Value())
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Conditions()
	rng := rand.New(rand.NewPCG(8, 8))
	if _, err := p.Hv(randomLike(rng, p)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.InvHvAll(randomLike(rng, p), &hvp.Options{Damping: 0.1}); err != nil {
		t.Fatal(err)
	}
	if after := len(n.g.AllNodes()); after != before {
		t.Fatalf("the user's graph went from %d to %d nodes", before, after)
	}
	m := G.NewTapeMachine(n.g)
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := testnet.ScalarOf(n.loss.Value()); got != want {
		t.Fatalf("loss %v after the products, %v before", got, want)
	}
	_ = c
}

// Every untranslatable node is reported at once, by the user's names,
// with how to add a rule.
func TestGorgoniaUntranslated(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"))
	z := G.Must(G.Mul(x, w))
	c := G.Must(G.Sin(z))
	a := G.Must(G.Cos(z))
	loss := G.Must(G.Sum(G.Must(G.Add(c, a))))
	_, err := hvp.New(loss, w)
	var ue *errs.UntranslatedError
	if !errors.As(err, &ue) || !errors.Is(err, errs.ErrNoRule) {
		t.Fatalf("got %v, want an *errs.UntranslatedError", err)
	}
	if len(ue.Nodes) != 2 || !strings.Contains(err.Error(), "sin") || !strings.Contains(err.Error(), "cos") || !strings.Contains(err.Error(), "native.Register") {
		t.Fatalf("error does not list both nodes and the remedy:\n%v", err)
	}
	t.Log(err)
}

// An op failing inside a product on a Gorgonia-built graph is reported on
// the user's node (its name), not on a node of the private translation.
func TestGorgoniaErrorsNameUserNodes(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, -2, 3, 4, -5, 6}))))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 0, 0, 1}))))
	z := G.Must(G.Mul(x, w))
	lg := G.Must(G.Log(z)) // log of negative entries
	loss := G.Must(G.Sum(lg))
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Gradient()
	var re *errs.RunError
	if !errors.As(err, &re) || re.Node != lg {
		t.Fatalf("got %v, want a run error on the user's node %s", err, lg.Name())
	}
	if !strings.Contains(err.Error(), lg.Name()) {
		t.Fatalf("error does not name the user's node %q: %v", lg.Name(), err)
	}
	t.Log(err)
}

// Products of a Gorgonia-built float32 graph from many goroutines equal
// the sequential ones (run under -race in CI): the inputs are read from
// the user's nodes and converted per call.
func TestConcurrentGorgonia(t *testing.T) {
	n := gnets[0].build(t, tensor.Float32, 9)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	v := randomLike(rng, p)
	want, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 16)
	for range 16 {
		go func() {
			got, err := p.Hv(v)
			if err == nil && flatRelDiff(got.Flat(), want.Flat()) != 0 {
				err = fmt.Errorf("concurrent Hv differs")
			}
			errc <- err
		}()
	}
	for range 16 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// Bad input on a Gorgonia-built graph: a typed error naming the node,
// never a panic.
func TestGorgoniaBadInput(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x")) // no value yet
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
	z := G.Must(G.Mul(x, w))
	loss := G.Must(G.Sum(G.Must(G.Tanh(z))))
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); !errors.Is(err, errs.ErrShape) || !strings.Contains(err.Error(), `x`) {
		t.Errorf("input without a value: %v", err)
	}
	if err := G.Let(x, tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, 3, 4, 5, math.NaN()}))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); !errors.Is(err, errs.ErrNotFinite) || !strings.Contains(err.Error(), "x") {
		t.Errorf("NaN input: %v", err)
	}
	if err := G.Let(x, tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Gradient(); err != nil { // the translation is checked once the values are there
		t.Errorf("after Let: %v", err)
	}
	bad := []struct {
		name    string
		loss    *G.Node
		weights []*G.Node
		want    error
	}{
		{"not an input", loss, []*G.Node{z}, errs.ErrShape},
		{"another graph's", loss, []*G.Node{G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(2, 2), G.WithName("W"))}, errs.ErrShape},
		{"loss not a scalar", z, []*G.Node{w}, errs.ErrShape},
		{"nil weight", loss, []*G.Node{nil}, errs.ErrShape},
		{"nil loss", nil, []*G.Node{w}, errs.ErrShape},
	}
	for _, c := range bad {
		_, err := hvp.New(c.loss, c.weights...)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := p.Hv(vec(t, tensor.New(tensor.WithShape(3, 3), tensor.Of(tensor.Float64)))); !errors.Is(err, errs.ErrShape) || !strings.Contains(err.Error(), "W") {
		t.Errorf("direction of the wrong shape: %v", err)
	}
	// A 3-D tensor is translated (issue 21); a function newtonia has not
	// (cos) is refused on it, naming the node.
	g3 := G.NewGraph()
	t3 := G.NewTensor(g3, tensor.Float64, 3, G.WithShape(2, 2, 2), G.WithName("cube3"))
	w3 := G.NewScalar(g3, tensor.Float64, G.WithName("s"))
	l3 := G.Must(G.Sum(G.Must(G.Mul(t3, w3))))
	if _, err := hvp.New(l3, w3); err != nil {
		t.Errorf("3-D input: %v", err)
	}
	l3 = G.Must(G.Sum(G.Must(G.Cos(G.Must(G.Mul(t3, w3))))))
	if _, err := hvp.New(l3, w3); !errors.Is(err, errs.ErrNoRule) || !strings.Contains(err.Error(), "cos") {
		t.Errorf("cos of a 3-D input: %v", err)
	}
}

// Unnamed weights are named by their node id and shape (%c (3×2)) in
// block names, the conditions report and errors, in a Gorgonia-built
// graph and in one of newtonia's ops — not %!s(<nil>)(), Gorgonia's name
// of an unnamed input (issue 19 item 20).
func TestUnnamedWeightsNamed(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 20))
	for _, gorgonia := range []bool{true, false} {
		g := G.NewGraph()
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"), G.WithValue(randDense(rng, 4, 3)))
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithValue(randDense(rng, 3, 2))) // unnamed
		var loss *G.Node
		if gorgonia {
			loss = G.Must(G.Sum(G.Must(G.Tanh(G.Must(G.Mul(x, w))))))
		} else {
			loss = G.Must(ops.Sum(G.Must(ops.Map(ops.TanhFunc{}, G.Must(ops.MatMul(x, w))))))
		}
		want := fmt.Sprintf("%%%x (3×2)", w.ID())
		check := func(what, s string) {
			t.Helper()
			if !strings.Contains(s, want) || strings.Contains(s, "%!") {
				t.Errorf("Gorgonia's ops %v: %s does not name the weight %s: %s", gorgonia, what, want, s)
			}
		}
		p, err := hvp.New(loss, w)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Gorgonia's ops %v: block %q", gorgonia, p.Block(0).Name())
		check("block name", p.Block(0).Name())
		check("conditions", p.Conditions().String())
		_, err = p.Hv(vec(t, tensor.New(tensor.WithShape(2, 2), tensor.Of(tensor.Float64))))
		check("a direction's shape error", fmt.Sprint(err))
		nan := tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, math.NaN(), 4, 5, 6}))
		_, err = p.Hv(vec(t, nan))
		check("a direction's NaN", fmt.Sprint(err))
		old := w.Value()
		if err := G.Let(w, nan); err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Gradient()
		check("a weight's NaN", fmt.Sprint(err))
		if err := G.Let(w, old); err != nil {
			t.Fatal(err)
		}
	}
	// An unnamed weight of three dimensions (translated since issue 21),
	// in its block's name.
	g := G.NewGraph()
	k := G.NewTensor(g, tensor.Float64, 3, G.WithShape(2, 2, 2))
	s := G.NewScalar(g, tensor.Float64, G.WithName("s"))
	p, err := hvp.New(G.Must(G.Sum(G.Must(G.Mul(k, s)))), k)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%%%x (2×2×2)", k.ID()); !strings.Contains(p.Block(0).Name(), want) || strings.Contains(p.Block(0).Name(), "%!") {
		t.Errorf("3-D weight not named %s: %v", want, p.Block(0).Name())
	}
}

func randDense(rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}

// logreg is a logistic regression written with Gorgonia's API as its
// users write one: a vector of weights w, a scalar bias b (G.NewScalar),
// the mean binary cross-entropy of sigmoid(x·w + b) and an L2 term on w.
func logreg(t testing.TB, seed uint64) *gnet {
	t.Helper()
	const n, feats, l2 = 8, 3, 0.05
	rng := rand.New(rand.NewPCG(seed, 17))
	g := G.NewGraph()
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = float64(i % 2)
	}
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(n, feats), G.WithName("x"), G.WithValue(randDense(rng, n, feats)))
	y := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))))
	w := G.NewVector(g, tensor.Float64, G.WithShape(feats), G.WithName("w"), G.WithValue(randDense(rng, feats)))
	b := G.NewScalar(g, tensor.Float64, G.WithName("bias"), G.WithValue(0.3))
	one := G.NewConstant(1.0)
	prob := G.Must(G.Sigmoid(G.Must(G.Add(G.Must(G.Mul(x, w)), b))))
	ce := G.Must(G.Sub(G.Must(G.HadamardProd(G.Must(G.Neg(y)), G.Must(G.Log(prob)))),
		G.Must(G.HadamardProd(G.Must(G.Sub(one, y)), G.Must(G.Log(G.Must(G.Sub(one, prob))))))))
	loss := G.Must(G.Add(G.Must(G.Mean(ce)), G.Must(G.Mul(G.NewConstant(l2), G.Must(G.Sum(G.Must(G.Square(w))))))))
	return &gnet{g: g, x: x, y: y, weights: []*G.Node{w, b}, loss: loss}
}

// A scalar weight (G.NewScalar, the bias of a logistic regression) is a
// 1-parameter block; its gradient, Hv and InvHv come back as tensors of
// shape () (issue 19 item 17). Oracles: G.Grad run by Gorgonia's
// TapeMachine for the gradient (1e-12: the same sums in another order);
// central differences of G.Grad for Hv (O(r²): halving r quarters the
// difference, as TestGorgoniaHvAgainstGrad); the closed form of the bias
// block for InvHv: ∂²J/∂b² = mean σ(zᵢ)(1 − σ(zᵢ)), so InvHv = v/h
// (1e-12: one division and a sum of 8 terms).
func TestScalarWeight(t *testing.T) {
	n := logreg(t, 1)
	// hvp.New pairs the scalar bias added to x·w with w (one block, a
	// layer with its bias); the bias's own closed form is checked on a
	// block of its own, chosen with NewBlocks.
	if paired, err := hvp.New(n.loss, n.weights...); err != nil || paired.Blocks() != 1 {
		t.Fatalf("hvp.New: %v blocks (%v), want w and its scalar bias as one block", paired, err)
	}
	p, err := hvp.NewBlocks(n.loss, n.weights[:1], n.weights[1:])
	if err != nil {
		t.Fatal(err)
	}
	_, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if gb := grads.Tensors()[1]; !gb.Shape().IsScalar() || gb.Dtype() != tensor.Float64 {
		t.Fatalf("gradient for the bias: shape %v, dtype %v; want a float64 tensor of shape ()", gb.Shape(), gb.Dtype())
	}
	gg := newGorgoniaGrad(t, n)
	w0 := gg.weights(t)
	if d := flatRelDiff(grads.Flat(), flatten(gg.at(t, w0))); d > 1e-12 {
		t.Errorf("gradient differs from G.Grad's by %.3g", d)
	}
	v := like(t, p.Layout(), randDense(rand.New(rand.NewPCG(2, 2)), 3), tensor.New(tensor.WithShape(), tensor.WithBacking([]float64{-0.7})))
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	if s := hv.Tensors()[1].Shape(); !s.IsScalar() {
		t.Fatalf("Hv for the bias of shape %v, want ()", s)
	}
	fd := func(r float64) float64 { return flatRelDiff(gg.central(t, w0, v, r), hv.Flat()) }
	e1, e2 := fd(1e-3), fd(5e-4)
	gg.at(t, w0)
	t.Logf("‖Hv − FD(G.Grad)‖/‖Hv‖: r = 1e-3: %.3g, r = 5e-4: %.3g (ratio %.3f)", e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
	// The bias block, against its closed form.
	l := -1
	for k := 0; k < p.Blocks(); k++ {
		if slices.Equal(p.Layout().BlockWeights(k), []int{1}) {
			l = k
		}
	}
	if l < 0 {
		t.Fatalf("the bias is not a block of its own: %d blocks", p.Blocks())
	}
	xs, ws := data(n.x.Value().(*tensor.Dense)), w0[0]
	var h float64
	for i := range 8 {
		z := w0[1][0]
		for j := range 3 {
			z += xs[3*i+j] * ws[j]
		}
		s := 1 / (1 + math.Exp(-z))
		h += s * (1 - s) / 8
	}
	res, err := p.Block(l).InvHv(v.Block(l), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := -0.7 / h
	got := res.U.Flat()
	t.Logf("bias block: h = %.6g, InvHv %v (%v, certified %v), closed form %.15g", h, got, res.Kind, res.Certified, want)
	if s := res.U.Tensors()[0].Shape(); !s.IsScalar() || !res.Certified || math.Abs(got[0]-want) > 1e-12*math.Abs(want) {
		t.Errorf("InvHv of the bias block: %v of shape %v, certified %v; want %.15g certified", got, s, res.Certified, want)
	}
	if bh, err := p.Block(l).Hv(v.Block(l)); err != nil || math.Abs(bh.Flat()[0]+0.7*h) > 1e-12*h {
		t.Errorf("BlockHv of the bias block: %v (%v), want %.15g", bh, err, -0.7*h)
	}
}

// A scalar weight in a graph of newtonia's own ops (not translated):
// J(b) = Σ tanh(b·xᵢ), whose derivatives are closed forms,
// ∂J/∂b = Σ xᵢ(1 − tᵢ²) and ∂²J/∂b² = −2 Σ xᵢ² tᵢ(1 − tᵢ²), tᵢ = tanh(b·xᵢ);
// gradient, Hv and InvHv (= v/(∂²J/∂b²)) come back as tensors of shape () and
// agree with them to 1e-12 (sums of 12 terms).
func TestScalarWeightNewtoniaOps(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3}
	for i := range xs {
		xs[i] /= 10
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(xs))))
	const b0 = 0.3
	b := G.NewScalar(g, tensor.Float64, G.WithName("b"), G.WithValue(b0))
	loss := G.Must(ops.Sum(G.Must(ops.Map(ops.TanhFunc{}, G.Must(ops.ScalarMul(b, x))))))
	p, err := hvp.New(loss, b)
	if err != nil {
		t.Fatal(err)
	}
	var d1, d2 float64
	for _, xi := range xs {
		ti := math.Tanh(b0 * xi)
		d1 += xi * (1 - ti*ti)
		d2 += -2 * xi * xi * ti * (1 - ti*ti)
	}
	near := func(what string, got *params.Vector, want float64) {
		t.Helper()
		if s := got.Tensors()[0].Shape(); !s.IsScalar() || math.Abs(got.Flat()[0]-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s: %v of shape %v, want %.15g of shape ()", what, got.Flat(), s, want)
		}
	}
	_, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	near("gradient", grads, d1)
	v := like(t, p.Layout(), tensor.New(tensor.WithShape(), tensor.WithBacking([]float64{1.5})))
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	near("Hv", hv, 1.5*d2)
	res, err := p.Block(0).InvHv(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	near("InvHv", res.U, 1.5/d2)
	if !res.Certified || res.Method != hvp.MethodScalar {
		t.Errorf("InvHv: certified %v, route %q", res.Certified, res.Method)
	}
}

// withCond returns an r×c matrix (r ≥ c) with singular values spread
// geometrically from 1 down to 1/cond: U Σ Vᵀ from the SVD of a Gaussian
// matrix, so its 2-norm condition is cond.
func withCond(rng *rand.Rand, r, c int, cond float64) []float64 {
	a := mat.NewDense(r, c, nil)
	for i := range r {
		for j := range c {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		panic("SVD failed")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	s := mat.NewDiagDense(c, nil)
	for i := range c {
		s.SetDiag(i, math.Pow(cond, -float64(i)/float64(c-1)))
	}
	var x mat.Dense
	x.Mul(&u, s)
	x.Mul(&x, v.T())
	return x.RawMatrix().Data
}

// A float32 squared-error layer J = mean((xW − y)²), batch = fan-in, in
// Gorgonia's float32 ops: H = (2/(B·n)) xᵀx ⊗ I in closed form, the
// oracle for u = H⁻¹v and for the residual of the float32 result.
// At cond(x) = 1e4 (cond(H) = 1e8) the float64 result is certified to
// 1e-6 but its float32 rounding leaves a residual far above DefaultTol32
// (rounding costs up to ε₃₂·cond(H) ≈ 6): InvHv refuses it, and best
// effort returns it uncertified with both residuals — the rounded one
// equal to the closed form's to 1e-6 (float64 arithmetic on both sides,
// ε₆₄·cond(H) ≈ 2e-8 of ‖v‖). At cond(x) = 10 the float32 result stays
// certified and equals the closed-form solve to float32 rounding
// (2⁻²⁴ ≈ 6e-8 per entry, plus ε₆₄·cond(H): 2e-7) (issue 19 item 9).
func TestFloat32CertifiesWhatIsReturned(t *testing.T) {
	const k, n = 5, 3
	for _, c := range []struct {
		cond      float64
		certified bool
	}{{10, true}, {1e4, false}} {
		t.Run(fmt.Sprintf("cond(x) %g", c.cond), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			g := G.NewGraph()
			f32 := func(d []float64) []float64 { // the float32 values, promoted
				out := make([]float64, len(d))
				for i, x := range d {
					out[i] = float64(float32(x))
				}
				return out
			}
			xd := f32(withCond(rng, k, k, c.cond))
			wd, yd := make([]float64, k*n), make([]float64, k*n)
			for i := range wd {
				wd[i], yd[i] = float64(float32(rng.NormFloat64())), float64(float32(rng.NormFloat64()))
			}
			mk := func(name string, d []float64, r, cols int) *G.Node {
				return G.NewMatrix(g, tensor.Float32, G.WithShape(r, cols), G.WithName(name), G.WithValue(testnet.Tensor(d, tensor.Shape{r, cols}, tensor.Float32)))
			}
			x, w, y := mk("x", xd, k, k), mk("W", wd, k, n), mk("y", yd, k, n)
			loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(x, w)), y))))))
			p, err := hvp.New(loss, w)
			if err != nil {
				t.Fatal(err)
			}
			v := randomLike(rng, p)
			vd := v.Flat()
			// H U = (2/(k·n)) xᵀx U for U k×n, row-major like W.
			xm := mat.NewDense(k, k, xd)
			var xtx mat.Dense
			xtx.Mul(xm.T(), xm)
			xtx.Scale(2/float64(k*n), &xtx)
			hOf := func(u []float64) []float64 {
				var hu mat.Dense
				hu.Mul(&xtx, mat.NewDense(k, n, u))
				return hu.RawMatrix().Data
			}
			var want mat.Dense
			if err := want.Solve(&xtx, mat.NewDense(k, n, vd)); err != nil {
				t.Fatal(err)
			}

			res, err := p.Block(0).InvHv(v, nil)
			if !c.certified {
				ce := wantCondition(t, err, 0, "float32", "W")
				t.Logf("refused: %v", ce)
				if res, err = p.Block(0).InvHv(v, &hvp.Options{BestEffort: true}); err != nil {
					t.Fatal(err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			u := res.U.Flat()
			rounded := flatRelDiff(hOf(u), vd)
			t.Logf("certified %v, residual %.2g, rounded residual %.2g (closed form %.2g), vs H⁻¹v %.2g",
				res.Certified, res.Residual, res.RoundedResidual, rounded, flatRelDiff(u, want.RawMatrix().Data))
			if dt := res.U.Tensors()[0].Dtype(); dt != tensor.Float32 || res.Certified != c.certified || !(res.Residual <= hvp.DefaultTol) {
				t.Errorf("dtype %v, certified %v (want %v), residual of the float64 result %.3g", dt, res.Certified, c.certified, res.Residual)
			}
			if d := math.Abs(res.RoundedResidual-rounded) / rounded; !(d < 1e-6) {
				t.Errorf("RoundedResidual %.6g, closed form %.6g", res.RoundedResidual, rounded)
			}
			if c.certified {
				if d := flatRelDiff(u, want.RawMatrix().Data); res.RoundedResidual > hvp.DefaultTol32 || d > 2e-7 {
					t.Errorf("rounded residual %.3g, differs from H⁻¹v by %.3g", res.RoundedResidual, d)
				}
			} else if !(res.RoundedResidual > hvp.DefaultTol32) {
				t.Errorf("uncertified with rounded residual %.3g ≤ %.3g", res.RoundedResidual, hvp.DefaultTol32)
			}
			// The float32 tolerance is the caller's to set.
			loose, err := p.Block(0).InvHv(v, &hvp.Options{Tol32: 10})
			if err != nil || !loose.Certified {
				t.Errorf("Tol32 10: certified %v, %v", loose != nil && loose.Certified, err)
			}
			var ae *errs.ArgumentError
			if _, err := p.Block(0).InvHv(v, &hvp.Options{Tol32: math.NaN()}); !errors.As(err, &ae) || ae.What != "Options.Tol32" {
				t.Errorf("Tol32 NaN: %v", err)
			}
		})
	}
}

// inUserTerms fails unless every node reference %id in s is a node of the
// user's graph g written as errs.Label writes it (its id, then its name):
// no node of newtonia's private translation, whose ids mean nothing to
// the user, and no reference without its name.
func inUserTerms(t *testing.T, what, s string, g *G.ExprGraph) {
	t.Helper()
	ref := regexp.MustCompile(`%[0-9a-f]+`)
	last := 0
	for _, m := range ref.FindAllStringIndex(s, -1) {
		if m[0] < last {
			continue // inside a label already read
		}
		id, err := strconv.ParseInt(s[m[0]+1:m[1]], 16, 64)
		var n *G.Node
		if err == nil && id < int64(len(g.AllNodes())) {
			n = g.AllNodes()[id]
		}
		if n == nil || n.ID() != id || !strings.HasPrefix(s[m[0]:], errs.Label(n)) {
			t.Errorf("%s names %s, not a node of the user's graph by its label:\n%s", what, s[m[0]:m[1]], s)
			return
		}
		last = m[0] + len(errs.Label(n))
	}
}

// Every error and report of a translated graph names the user's nodes,
// never the translation's (issue 19 item 23), provoked from a Gorgonia
// model: a Log of negative values (a run error on the user's ln node, in
// every product, and the reasons the conditions report gives for the
// chain route, which name nodes of the passes), then a NaN input, then a
// direction of the wrong shape. The log's failure is not kept as the
// translation's verdict: once the input is mended the products run.
func TestGorgoniaErrorsInUserTerms(t *testing.T) {
	g := G.NewGraph()
	xv := tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, -2, 3, 4, -5, 6}))
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("x"), G.WithValue(xv))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 0.5, 0.5, 1}))))
	lg := G.Must(G.Log(G.Must(G.Mul(x, w))))
	loss := G.Must(G.Sum(G.Must(G.Square(lg))))
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	v := vec(t, tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4})))
	products := []struct {
		name string
		run  func() error
	}{
		{"Gradient", func() error { _, _, err := p.Gradient(); return err }},
		{"Hv", func() error { _, err := p.Hv(v); return err }},
		{"GGNv", func() error { _, err := p.GGNv(v); return err }},
		{"InvHv", func() error { _, err := p.Block(0).InvHv(v, nil); return err }},
		{"InvHvAll", func() error { _, err := p.InvHvAll(v, nil); return err }},
		{"InvHv damped", func() error { _, err := p.Block(0).InvHv(v, &hvp.Options{Damping: 0.1}); return err }},
	}
	for i, c := range products {
		err := c.run()
		var re *errs.RunError
		switch {
		case i >= 3 && errors.Is(err, errs.ErrCondition): // the block is refused before running (a dependency loop)
		case !errors.As(err, &re) || re.Node != lg || !strings.Contains(err.Error(), errs.Label(lg)):
			t.Errorf("%s: got %v, want a run error on the user's node %s", c.name, err, errs.Label(lg))
			continue
		}
		t.Logf("%s: %v", c.name, err)
		inUserTerms(t, c.name, err.Error(), g)
	}
	inUserTerms(t, "the conditions report", p.Conditions().String(), g)
	// A reason naming a node of the passes (the log's derivative) by the
	// user's node it is taken at.
	z := graph.Children(lg)[0]
	p2, err := hvp.New(G.Must(G.Sum(lg)), w)
	if err != nil {
		t.Fatal(err)
	}
	c2 := p2.Conditions().String()
	t.Logf("conditions: %s", c2)
	inUserTerms(t, "the conditions report", c2, g)
	if !strings.Contains(c2, "newtonia's log⁽1⁾("+errs.Label(z)+")") {
		t.Errorf("the conditions report does not name the log's derivative at %s:\n%s", errs.Label(z), c2)
	}
	// A NaN input, and a direction of the wrong shape.
	xv.Float64s()[0] = math.NaN()
	for _, c := range products[:3] {
		err := c.run()
		if !errors.Is(err, errs.ErrNotFinite) || !strings.Contains(err.Error(), "input x") {
			t.Errorf("%s with a NaN input: %v", c.name, err)
		}
	}
	bad := vec(t, tensor.New(tensor.WithShape(3, 2), tensor.Of(tensor.Float64)))
	if _, err := p.Hv(bad); !errors.Is(err, errs.ErrShape) || !strings.Contains(err.Error(), "direction for W") {
		t.Errorf("direction of the wrong shape: %v", err)
	}
	// Mended: the products run (the log's failure was not kept as the
	// translation's verdict).
	copy(xv.Float64s(), []float64{1, 2, 3, 4, 5, 6})
	for _, c := range products[:3] {
		if err := c.run(); err != nil {
			t.Errorf("%s after the input is mended: %v", c.name, err)
		}
	}
}
