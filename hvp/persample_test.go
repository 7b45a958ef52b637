package hvp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// smoothNet is a net of the per-sample route's tests.
type smoothNet struct {
	name      string
	batch, in int
	layers    []nets.Layer
	loss, red string
	want      []hvp.Kind // per block, the kind the result must have
}

var (
	tanh     = ops.TanhFunc{}
	sigmoid  = ops.SigmoidFunc{}
	softplus = ops.SoftplusFunc{}
	identity = ops.IdentityFunc{}
	leaky    = ops.LeakyReLUFunc{Alpha: 0.5}
	ex, pi   = hvp.KindExact, hvp.KindPseudoInverse
	no       = hvp.KindNewtonOnly
	rf       = hvp.KindRefused
)

func L(out int, act ops.ScalarFunc, bias bool) nets.Layer {
	return nets.Layer{Out: out, Act: act, Bias: bias}
}

var smoothNets = []smoothNet{
	{"tanh 5-5-5-5", 5, 5, []nets.Layer{L(5, tanh, false), L(5, tanh, false), L(5, tanh, false)}, nets.HalfSquaredError, "", []hvp.Kind{ex, ex, ex}},
	{"tanh, sigmoid, id 6-6-6-3", 6, 6, []nets.Layer{L(6, tanh, false), L(6, sigmoid, false), L(3, identity, false)}, nets.HalfSquaredError, "", []hvp.Kind{ex, ex, ex}},
	// Blocks 1 and 2 have fan-in 4 < batch 6: refused.
	{"softplus, tanh, id 6-4-4-4 (shrinking)", 6, 6, []nets.Layer{L(4, softplus, false), L(4, tanh, false), L(4, identity, false)}, nets.HalfSquaredError, "", []hvp.Kind{ex, rf, rf}},
	{"softplus, tanh, id 4-6-5-3 (shrinking), B 4", 4, 6, []nets.Layer{L(5, softplus, false), L(5, tanh, false), L(3, identity, false)}, nets.HalfSquaredError, "", []hvp.Kind{pi, pi, pi}},
	{"tanh with biases, B = fan-in + 1", 6, 5, []nets.Layer{L(5, tanh, true), L(5, tanh, true), L(5, tanh, true)}, nets.HalfSquaredError, "", []hvp.Kind{ex, ex, ex}},
	{"tanh + bias, softmax CE, mean", 6, 5, []nets.Layer{L(5, tanh, true), L(5, tanh, true), L(4, identity, true)}, nets.SoftmaxCrossEntropy, nets.ReductionMean, []hvp.Kind{ex, ex, no}},
	{"sigmoid BCE, B < fan-in", 4, 6, []nets.Layer{L(6, sigmoid, true), L(3, identity, true)}, nets.SigmoidCrossEntropy, "", []hvp.Kind{pi, pi}},
	{"leaky + bias, shrinking 6-5-4, B 7", 7, 6, []nets.Layer{L(5, leaky, true), L(4, identity, true)}, nets.HalfSquaredError, "", []hvp.Kind{no, rf}},
}

func (c smoothNet) build(t *testing.T, rng *rand.Rand) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	m, err := nets.Build(nets.Spec{Batch: c.batch, In: c.in, Layers: c.layers, Loss: c.loss, Reduction: c.red})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 1/math.Sqrt(float64(c.in)), 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// The closed-form per-sample oracle (nets.MLP.PerSampleHessian, plain
// gonum) against the dense block of Richardson central differences of
// the gradient, which shares nothing with it: O(r⁴) truncation at
// r = 1e-3 and rounding ≈ ε‖g‖/r, so 1e-8 relative.
func TestPerSampleOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(60, 60))
	for _, c := range smoothNets {
		m, p := c.build(t, rng)
		for l := range p.Blocks() {
			h, err := m.PerSampleHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := reference.DenseBlockFD(p, l, 1e-3, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := testnet.RelDense(fd, h); e > 1e-8 {
				t.Errorf("%s block %d: oracle vs FD dense block: %.2e", c.name, l, e)
			}
		}
	}
}

// Hv through every new op (biases, sigmoid, softplus, the cross-entropies,
// the mean) is exact: BlockHv against the oracle times v to 1e-12, and the
// exact-column dense block to 1e-13.
func TestPerSampleHv(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 61))
	for _, c := range smoothNets {
		m, p := c.build(t, rng)
		for l := range p.Blocks() {
			h, err := m.PerSampleHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			vl := blockRand(rng, p, l)
			hv, err := p.Block(l).Hv(vl)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := h.Dims()
			var want mat.VecDense
			want.MulVec(h, mat.NewVecDense(n, vl.Flat()))
			if e := flatRelDiff(hv.Flat(), want.RawVector().Data); e > 1e-12 {
				t.Errorf("%s block %d: BlockHv vs oracle: %.2e", c.name, l, e)
			}
			dense, err := reference.DenseBlock(p, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := testnet.RelDense(dense, h); e > 1e-13 {
				t.Errorf("%s block %d: exact-column dense block vs oracle: %.2e", c.name, l, e)
			}
		}
	}
}

// blockRand returns a random direction for block l.
func blockRand(rng *rand.Rand, p *hvp.Problem, l int) *params.Vector {
	out := params.New(p.Layout().Block(l))
	for i, k := range p.Layout().BlockWeights(l) {
		s := p.Weights()[k].Shape()
		copy(out.Weight(i), nets.Randn(rng, s[0], s[1], 0).Float64s())
	}
	return out
}

// The per-sample B-pass on every net: the kind the report and the run
// give, and u against the dense solve of the oracle's block — H⁻¹v or H⁺v
// to 100·ε·cond₊ (backward-stable solves, as for the chain route); for a
// Newton-only block (softmax cross-entropy's M_i is singular; leaky ReLU
// with shrinking widths) H u = g to 1e-9; with damping λ,
// (H + λ·h̃ᵀh̃ ⊗ I)⁻¹v, h̃ from nets.MLP.LayerInput, to 100·ε·cond.
//
// Twice: the M_i's columns by one JVP each (the default), and by JVPs
// replayed on replicated rows (graph.ReplayRows), 2–4 columns a pass.
func TestPerSampleInverse(t *testing.T) {
	defer func(c int) { graph.ChunkBytes = c }(graph.ChunkBytes)
	for _, cb := range []int{0, 8 * 2 * 7 * 6} { // B·n ≤ 42 on these nets: c ≥ 2
		graph.ChunkBytes = cb
		t.Run(fmt.Sprintf("ChunkBytes=%d", cb), perSampleInverse)
	}
}

func perSampleInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(62, 62))
	worst := 0.0
	for _, c := range smoothNets {
		m, p := c.build(t, rng)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		for l := range p.Blocks() {
			where := fmt.Sprintf("%s block %d (%s)", c.name, l, p.Block(l).Name())
			h, err := m.PerSampleHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			v := blockRand(rng, p, l)
			res, err := p.Block(l).InvHv(v, &hvp.Options{BestEffort: true})
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			want, route := c.want[l], hvp.MethodPerSample
			if want == rf { // batch > fan-in: no B-pass inverts it, the dense route solves it (dense.go)
				want, route = ex, hvp.MethodDenseRoute
			}
			if res.Kind != want || route == hvp.MethodDenseRoute && res.Method != route {
				t.Errorf("%s: kind %v (%s route), want %v; %q", where, res.Kind, res.Method, want, res.Reasons)
			}
			switch res.Kind {
			case ex, pi:
				want, _, cond := testnet.PinvSolve(t, h, v, 1e-10)
				e := flatRelDiff(res.U.Flat(), want.Flat())
				worst = math.Max(worst, e/(testnet.Eps*cond))
				if tol := 100 * testnet.Eps * cond; e > tol || !res.Certified {
					t.Errorf("%s: %v vs the dense solve: %.2e > %.2e (certified %v)", where, res.Kind, e, tol, res.Certified)
				}
			case no:
				rg, err := p.Block(l).InvHv(g.Block(l), nil)
				if err != nil || rg.Residual > 1e-9 || rg.Kind != no {
					t.Errorf("%s: Newton-only, v = g: %+v, %v", where, rg, err)
				}
			}
			if res.Kind == rf {
				continue // damping does not make batch > fan-in invertible
			}
			// Damped: exact for every block, including the Newton-only ones.
			const lambda = 0.3
			hd, err := m.LayerInput(l)
			if err != nil {
				t.Fatal(err)
			}
			a := dampedOracle(h, hd, lambda)
			res, err = p.Block(l).InvHv(v, &hvp.Options{Damping: lambda, BestEffort: true})
			if err != nil {
				t.Fatalf("%s damped: %v", where, err)
			}
			// For batch < fan-in the damped operator is singular too (h̃ᵀh̃ has
			// rank B): its pseudo-inverse, and the residual is that of v's
			// component in the range.
			ref, _, cond := testnet.PinvSolve(t, a, v, 1e-10)
			if e, tol := flatRelDiff(res.U.Flat(), ref.Flat()), 100*testnet.Eps*cond; e > tol || res.Method != route || (res.Kind == ex && res.Residual > 1e-10) {
				t.Errorf("%s damped: vs the dense solve %.2e > %.2e, route %s, residual %.2e", where, e, tol, res.Method, res.Residual)
			}
		}
	}
	t.Logf("largest error/(ε·cond) of an exact or pseudo-inverse result: %.3g", worst)
}

// dampedOracle returns H + λ·(h̃ᵀh̃ ⊗ I), parameters row-major.
func dampedOracle(h, ht *mat.Dense, lambda float64) *mat.Dense {
	var g mat.Dense
	g.Mul(ht.T(), ht)
	k, _ := g.Dims()
	n := h.RawMatrix().Rows / k
	out := mat.DenseCopyOf(h)
	for a := range k {
		for c := range k {
			for b := range n {
				out.Set(a*n+b, c*n+b, out.At(a*n+b, c*n+b)+lambda*g.At(a, c))
			}
		}
	}
	return out
}

// The per-sample route's conditions: a bias joins its weight (one block
// "W1+b1"); batch > fan-in + 1 is refused before running; a node that does
// not act row by row (a transpose) is named; blocks are per layer unless
// NewBlocks asks for a weight alone.
func TestPerSampleConditions(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 63))
	c := smoothNet{"", 7, 5, []nets.Layer{L(5, tanh, true), L(3, identity, true)}, nets.HalfSquaredError, "", nil}
	m, p := c.build(t, rng)
	conds := p.Conditions()
	if len(conds) != 2 || conds[0].Weight != "W1+b1" || conds[1].Method != hvp.MethodDenseRoute || conds[0].Method != hvp.MethodDenseRoute || conds[0].Kind != hvp.KindExact {
		t.Fatalf("batch 7 > fan-in 5 + 1: the dense route expected: %v", conds)
	}
	if s := conds.String(); !strings.Contains(s, "batch 7 > fan-in 6 (5 inputs + 1 for the bias)") || !strings.Contains(s, "30×30 from the per-sample curvature") {
		t.Errorf("report:\n%s", s)
	}
	// Against the closed-form per-sample Hessian solved by gonum, to
	// 100·ε·cond (a backward-stable solve).
	v0 := blockRand(rng, p, 0)
	res, err := p.Block(0).InvHv(v0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h0, err := m.PerSampleHessian(0)
	if err != nil {
		t.Fatal(err)
	}
	want, _, cond := testnet.PinvSolve(t, h0, v0, 1e-10)
	if e, tol := flatRelDiff(res.U.Flat(), want.Flat()), 100*testnet.Eps*cond; e > tol || !res.Certified || res.Method != hvp.MethodDenseRoute {
		t.Errorf("dense route vs the closed-form block's solve: %.2e > %.2e (certified %v, %s)", e, tol, res.Certified, res.Method)
	}
	// W1 alone, its bias held fixed.
	q, err := hvp.NewBlocks(m.Loss, []*G.Node{m.Weights[0]}, []*G.Node{m.Biases[0]}, []*G.Node{m.Weights[1], m.Biases[1]})
	if err != nil {
		t.Fatal(err)
	}
	if q.Blocks() != 3 || q.Block(0).Name() != "W1" || q.Block(1).Name() != "b1" {
		t.Errorf("blocks %d: %s, %s", q.Blocks(), q.Block(0).Name(), q.Block(1).Name())
	}
	if c := q.Conditions()[0]; c.Method != hvp.MethodDenseRoute {
		t.Errorf("W1 alone, batch 7 > fan-in 5: %v route, want the dense route", c.Method)
	}
	// A loss mixing samples: the transpose is named.
	g := G.NewGraph()
	mk := func(name string) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(4, 4), G.WithName(name), G.WithValue(nets.Randn(rng, 4, 4, 1)))
	}
	x, w, y := mk("x"), mk("W"), mk("y")
	h, err := ops.MatMul(x, w)
	if err == nil {
		h, err = ops.Tanh(h)
	}
	var ht *G.Node
	if err == nil {
		ht, err = ops.Apply(ops.TransposeOp{}, h)
	}
	var loss *G.Node
	if err == nil {
		loss, err = ops.HalfSSE(ht, y)
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	// No structured route: the report names the transpose, and the dense
	// route solves the block, checked against the R-pass's dense block
	// (reference.DenseBlock) solved by gonum, to 100·ε·cond.
	rc := r.Conditions()[0]
	if s := strings.Join(rc.Reasons, "; "); rc.Method != hvp.MethodDenseRoute || !strings.Contains(s, "Aᵀ") || !strings.Contains(s, "row by row") {
		t.Errorf("transposed loss: %s route, reasons %q", rc.Method, s)
	}
	vt := vec(t, nets.Randn(rng, 4, 4, 0))
	res, err = r.Block(0).InvHv(vt, nil)
	if err != nil {
		t.Fatalf("transposed loss: %v", err)
	}
	ht2, err := reference.DenseBlock(r, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, cond = testnet.PinvSolve(t, ht2, vt, 1e-10)
	if e, tol := flatRelDiff(res.U.Flat(), want.Flat()), 100*testnet.Eps*cond; e > tol || !res.Certified {
		t.Errorf("transposed loss: dense route vs the dense reference's solve %.2e > %.2e (certified %v)", e, tol, res.Certified)
	}
}
