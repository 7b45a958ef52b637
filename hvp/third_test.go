package hvp_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// writeupProblem returns the problem of f(x) for x a 3×1 weight (the
// writeup's functions, examples/writeup).
func writeupProblem(t *testing.T, f func(*G.Node) (*G.Node, error), x []float64) *hvp.Problem {
	t.Helper()
	xt := tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), x...)))
	w := G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(xt))
	loss, err := f(w)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The third-order pass against the closed forms of the writeup's
// functions: Σ xᵢ³ has ∇³f[u, v] = 6·u⊙v (H = 6 diag(x), linear in x),
// x₁x₂x₃ has
// (∇³f[u, v])_k = u_i v_j + u_j v_i, {i, j} the other two indices. Both
// are a few roundings of O(1) values: 1e-14 relative.
func TestThirdClosedForms(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	x, u, v := []float64{1.5, -2, 0.5}, []float64{1, 2, 3}, []float64{-0.5, 0.25, 2}
	cases := []struct {
		name string
		f    func(*G.Node) (*G.Node, error)
		want []float64
	}{
		{"Σ xᵢ³", sumCubes, []float64{6 * u[0] * v[0], 6 * u[1] * v[1], 6 * u[2] * v[2]}},
		{"x₁x₂x₃", ops.Product, []float64{u[1]*v[2] + u[2]*v[1], u[0]*v[2] + u[2]*v[0], u[0]*v[1] + u[1]*v[0]}},
	}
	for _, c := range cases {
		p := writeupProblem(t, c.f, x)
		uv, vv := params.FromFlat(p.Layout(), append([]float64(nil), u...)), params.FromFlat(p.Layout(), append([]float64(nil), v...))
		got, err := p.Third(uv, vv)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if e := flatRelDiff(got.Flat(), c.want); e > 1e-14 {
			t.Errorf("%s: T[u, v] = %v, want %v (rel. %.1e)", c.name, got.Flat(), c.want, e)
		}
		bt, err := p.Block(0).Third(uv, vv)
		if err != nil {
			t.Fatalf("%s: block: %v", c.name, err)
		}
		if e := flatRelDiff(bt.Flat(), c.want); e > 1e-14 {
			t.Errorf("%s: Block.Third = %v, want %v (rel. %.1e)", c.name, bt.Flat(), c.want, e)
		}
		zero, err := p.Third(params.New(p.Layout()), vv)
		if err != nil || zero.Norm() != 0 {
			t.Errorf("%s: T[0, v] = %v, %v; want zeros", c.name, zero, err)
		}
	}
}

// hvAt returns H(w)·v at weights w + s·d (the graph's weights restored).
func hvAt(t *testing.T, p *hvp.Problem, d, v *params.Vector, s float64) *params.Vector {
	t.Helper()
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	w := w0.Clone()
	w.AddScaled(s, d)
	if err := p.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.SetWeights(w0); err != nil {
			t.Fatal(err)
		}
	}()
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	return hv
}

// centralHv is (H(w + r u)v − H(w − r u)v) / 2r: T[u, v] + O(r²).
func centralHv(t *testing.T, p *hvp.Problem, u, v *params.Vector, r float64) []float64 {
	hp, hm := hvAt(t, p, u, v, r), hvAt(t, p, u, v, -r)
	out := hp.Clone()
	out.AddScaled(-1, hm)
	out.Scale(1 / (2 * r))
	return out.Flat()
}

// thirdNet is a two-layer net of act with biases (full batch), and its
// problem.
func thirdNet(t *testing.T, rng *rand.Rand, act ops.ScalarFunc, loss string) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	m, err := nets.Build(nets.Spec{Batch: 6, In: 3, Layers: []nets.Layer{{Out: 4, Act: act, Bias: true}, {Out: 2, Act: act, Bias: true}}, Loss: loss})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.8, 0); err != nil {
		t.Fatal(err)
	}
	if loss == nets.SoftmaxCrossEntropy || loss == nets.SigmoidCrossEntropy {
		y := make([]float64, 6*2)
		for i := range 6 {
			y[2*i+rng.IntN(2)] = 1
		}
		if err := G.Let(m.Y, tensor.New(tensor.WithShape(6, 2), tensor.WithBacking(y))); err != nil {
			t.Fatal(err)
		}
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

func thirdRand(rng *rand.Rand, l *params.Layout) *params.Vector {
	v := params.New(l)
	f := v.Flat()
	for i := range f {
		f[i] = rng.NormFloat64()
	}
	return params.FromFlat(l, f)
}

// On smooth nets the third-order pass against central differences of the
// exact Hv along u: the error falls as O(r²) (ratio ≈ 4 from r to r/2),
// and one Richardson step, (4D(r/2) − D(r))/3, is O(r⁴) ≈ 1e-12 at
// r = 1e-3 with rounding ε·‖Hv‖/r ≈ 1e-13: 1e-8 relative. T is symmetric
// in u and v.
func TestThirdMatchesDifferencesOfHv(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 1))
	cases := []struct {
		name string
		act  ops.ScalarFunc
		loss string
	}{
		{"tanh, squared error", ops.TanhFunc{}, nets.HalfSquaredError},
		{"softplus, squared error", ops.SoftplusFunc{}, nets.HalfSquaredError},
		{"tanh, softmax cross-entropy", ops.TanhFunc{}, nets.SoftmaxCrossEntropy},
		{"sigmoid, sigmoid cross-entropy", ops.SigmoidFunc{}, nets.SigmoidCrossEntropy},
	}
	for _, c := range cases {
		_, p := thirdNet(t, rng, c.act, c.loss)
		u, v := thirdRand(rng, p.Layout()), thirdRand(rng, p.Layout())
		tuv, err := p.Third(u, v)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tvu, err := p.Third(v, u)
		if err != nil {
			t.Fatal(err)
		}
		if e := flatRelDiff(tvu.Flat(), tuv.Flat()); e > 1e-12 {
			t.Errorf("%s: T[v, u] differs from T[u, v] by %.1e (symmetry)", c.name, e)
		}
		const r = 1e-3
		d1, d2 := centralHv(t, p, u, v, r), centralHv(t, p, u, v, r/2)
		e1, e2 := flatRelDiff(d1, tuv.Flat()), flatRelDiff(d2, tuv.Flat())
		if ratio := e1 / e2; ratio < 3.5 || ratio > 4.5 {
			t.Errorf("%s: central-difference errors %.2e at r, %.2e at r/2: ratio %.2f, want ≈ 4 (O(r²))", c.name, e1, e2, ratio)
		}
		rich := make([]float64, len(d1))
		for i := range rich {
			rich[i] = (4*d2[i] - d1[i]) / 3
		}
		if e := flatRelDiff(tuv.Flat(), rich); e > 1e-8 {
			t.Errorf("%s: T[u, v] vs Richardson differences of Hv: rel. %.1e, want ≤ 1e-8", c.name, e)
		}
		t.Logf("%s: FD errors %.2e, %.2e (ratio %.2f); Richardson %.1e", c.name, e1, e2, e1/e2, flatRelDiff(tuv.Flat(), rich))
	}
}

// The dense third-derivative tensor T_kij = ∂H_kj/∂w_i, built as a
// framework would (PyTorch's jacobian of the Hessian): each exact Hessian
// column H e_j differenced along each e_i (Richardson, as above: 1e-8),
// then contracted with u and v, against the pass's T[u, v]; and block
// l's T_ll[u, v] against the same tensor restricted to the block.
func TestThirdMatchesDenseTensor(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 2))
	_, p := thirdNet(t, rng, ops.TanhFunc{}, nets.HalfSquaredError)
	l := p.Layout()
	n := l.Len()
	u, v := thirdRand(rng, l), thirdRand(rng, l)
	uf, vf := u.Flat(), v.Flat()
	want := make([]float64, n)
	const r = 1e-3
	for i := range n {
		ei := params.New(l)
		ei.Flat()[i] = 1
		ei = params.FromFlat(l, ei.Flat())
		for j := range n {
			if uf[i]*vf[j] == 0 {
				continue
			}
			ej := make([]float64, n)
			ej[j] = 1
			ejv := params.FromFlat(l, ej)
			d1, d2 := centralHv(t, p, ei, ejv, r), centralHv(t, p, ei, ejv, r/2)
			for k := range n {
				want[k] += (4*d2[k] - d1[k]) / 3 * uf[i] * vf[j]
			}
		}
	}
	got, err := p.Third(u, v)
	if err != nil {
		t.Fatal(err)
	}
	if e := flatRelDiff(got.Flat(), want); e > 1e-8 {
		t.Errorf("T[u, v] vs the dense tensor: rel. %.1e, want ≤ 1e-8", e)
	}
	// Block 0 against the tensor restricted to it: its T_ll[u_l, v_l]
	// equals the whole T at u, v zero outside block 0, on block 0.
	bu, bv := u.Block(0).Clone(), v.Block(0).Clone()
	bt, err := p.Block(0).Third(bu, bv)
	if err != nil {
		t.Fatal(err)
	}
	wu, wv := params.New(l), params.New(l)
	wu.Block(0).CopyFrom(bu)
	wv.Block(0).CopyFrom(bv)
	d1, d2 := centralHv(t, p, wu, wv, r), centralHv(t, p, wu, wv, r/2)
	rich := make([]float64, n)
	for k := range rich {
		rich[k] = (4*d2[k] - d1[k]) / 3
	}
	if e := flatRelDiff(bt.Flat(), params.FromFlat(l, rich).Block(0).Flat()); e > 1e-8 {
		t.Errorf("Block.Third vs differences of the block's Hv: rel. %.1e", e)
	}
}

// Within an activation pattern a leaky-ReLU net with squared error is
// quadratic in each weight and cubic at most across layers; the frozen
// pattern contributes nothing. A one-layer leaky net is exactly
// quadratic: T = 0.
func TestThirdOfAQuadraticIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 3))
	_, p := testnet.MLP(t, rng, 5, 3, []int{3}, testnet.Leaky())
	u, v := thirdRand(rng, p.Layout()), thirdRand(rng, p.Layout())
	got, err := p.Third(u, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.Norm() != 0 {
		t.Errorf("T[u, v] of a one-layer leaky net = %v, want exact zeros", got.Flat())
	}
}

// Bad directions are typed errors naming which direction.
func TestThirdBadDirections(t *testing.T) {
	p := writeupProblem(t, ops.Product, []float64{1, 2, 3})
	good := params.FromFlat(p.Layout(), []float64{1, 2, 3})
	if _, err := p.Third(nil, good); !errors.Is(err, errs.ErrShape) {
		t.Errorf("nil u: %v, want a shape error", err)
	}
	bad := params.FromFlat(p.Layout(), []float64{1, math.NaN(), 3})
	var nf *errs.NotFiniteError
	if _, err := p.Block(0).Third(good, bad); !errors.As(err, &nf) || nf.What != "direction v for x" {
		t.Errorf("NaN v: %v, want a NotFiniteError naming direction v for x", err)
	}
}

// A model written with Gorgonia's own ops (translated, package native):
// the third-order pass runs on its translation and matches Richardson
// differences of the exact Hv to 1e-8, as above; a piecewise-linear
// model's too, away from kinks (the loss is a polynomial in the weights
// between them, and r = 1e-3 crosses none at these points, or the O(r²)
// ratio check of TestGorgoniaHvAgainstGrad would fail there too).
func TestThirdOfGorgoniaModels(t *testing.T) {
	for _, s := range gnets {
		t.Run(s.name, func(t *testing.T) {
			n := s.build(t, tensor.Float64, 1)
			p, err := hvp.New(n.loss, n.weights...)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(23, 4))
			u, v := randomLike(rng, p), randomLike(rng, p)
			got, err := p.Third(u, v)
			if err != nil {
				t.Fatal(err)
			}
			const r = 1e-3
			d1, d2 := centralHv(t, p, u, v, r), centralHv(t, p, u, v, r/2)
			rich := make([]float64, len(d1))
			for i := range rich {
				rich[i] = (4*d2[i] - d1[i]) / 3
			}
			if e := flatRelDiff(got.Flat(), rich); e > 1e-8 {
				t.Errorf("T[u, v] vs Richardson differences of Hv: rel. %.1e", e)
			}
		})
	}
}
