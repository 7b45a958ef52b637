package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
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

func wantCondition(t *testing.T, err error, block int, parts ...string) *errs.ConditionError {
	t.Helper()
	var ce *errs.ConditionError
	if !errors.As(err, &ce) || !errors.Is(err, errs.ErrCondition) {
		t.Fatalf("error %v (%T), want a *errs.ConditionError", err, err)
	}
	if ce.Block != block {
		t.Errorf("error names block %d, want %d", ce.Block, block)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
	return ce
}

// Batch > fan-in: no B-pass inverts the blocks, so the dense route
// (dense.go) is chosen, the report keeping why; its results match the
// R-pass's dense block (reference.DenseBlock) solved by gonum to
// 100·ε·cond, and a flop cap below its estimate refuses it before running.
func TestBatchAboveFanIn(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	_, p := testnet.MLP(t, rng, 12, 8, []int{8, 8, 8}, testnet.Leaky())
	conds := p.Conditions()
	for l, c := range conds {
		if c.Kind != hvp.KindExact || c.Method != hvp.MethodDenseRoute {
			t.Errorf("block %d: %v, %v route, want exact, dense route", l, c.Kind, c.Method)
		}
	}
	if s := conds.String(); !strings.Contains(s, "(12) than rows (8)") || !strings.Contains(s, "64×64 from") {
		t.Errorf("report does not give batch 12, fan-in 8 and the dense size:\n%s", s)
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Block(1).InvHv(g.Block(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := reference.DenseBlock(p, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, cond := testnet.PinvSolve(t, h, g.Block(1), 1e-10)
	if e, tol := flatRelDiff(res.U.Flat(), want.Flat()), 100*testnet.Eps*cond; e > tol || !res.Certified || res.Kind != hvp.KindExact {
		t.Errorf("dense route vs the dense reference's solve: %.2e > %.2e (certified %v, %v)", e, tol, res.Certified, res.Kind)
	}
	_, err = p.Block(1).InvHv(g.Block(1), &hvp.Options{MaxFlops: 1e3})
	var le *errs.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "W2") || !strings.Contains(err.Error(), "Options.MaxFlops") {
		t.Errorf("under a flop cap of 1e3: %v, want an *errs.LimitError naming W2 and Options.MaxFlops", err)
	}
}

// Widths growing after the block: the op-by-op chain is refused (a
// gradient-pass product loses information, method.md §4), but the
// per-sample route (§9) inverts: with widths growing, every M_i is
// nonsingular, so the blocks are exact (batch = fan-in) or a
// pseudo-inverse (the last, batch 6 < fan-in 10). Checked against the
// closed-form blocks.
func TestWidthsGrowing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	m, p := testnet.MLP(t, rng, 6, 6, []int{8, 10, 12}, testnet.Leaky())
	want := []hvp.Kind{hvp.KindExact, hvp.KindPseudoInverse, hvp.KindPseudoInverse}
	for l, c := range p.Conditions() {
		if c.Kind != want[l] || c.Method != hvp.MethodPerSample && l < 2 {
			t.Errorf("block %d: %v (%s route), want %v", l, c.Kind, c.Method, want[l])
		}
		if l < 2 && !strings.Contains(strings.Join(c.Reasons, " "), "chain route: refused") {
			t.Errorf("block %d: the report does not say why the chain was not taken: %q", l, c.Reasons)
		}
	}
	v := testnet.RandLike(rng, m)
	for l := range want {
		res, err := p.Block(l).InvHv(v.Block(l), nil)
		if err != nil {
			t.Fatalf("block %d: %v", l, err)
		}
		hb, err := m.BlockHessian(l)
		if err != nil {
			t.Fatal(err)
		}
		ref, _, cond := testnet.PinvSolve(t, hb, v.Block(l), 1e-10)
		if e, tol := params.RelDiff(res.U, ref), 100*testnet.Eps*cond; e > tol || res.Kind != want[l] {
			t.Errorf("block %d (%v): vs the dense solve %.2e > %.2e", l, res.Kind, e, tol)
		}
	}
}

// Widths shrinking: Newton-only. The gradient is in the range: certified.
// A random v is not: the residual check refuses it.
func TestNewtonOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	m, p := testnet.MLP(t, rng, 6, 12, []int{10, 8, 6}, testnet.Leaky())
	if k := p.Conditions()[0].Kind; k != hvp.KindNewtonOnly {
		t.Fatalf("block 0: %v, want Newton-only", k)
	}
	_, g, _ := p.Gradient()
	res, err := p.Block(0).InvHv(g.Block(0), nil)
	if err != nil {
		t.Fatalf("v = g: %v", err)
	}
	if res.Kind != hvp.KindNewtonOnly || !res.Certified {
		t.Errorf("v = g: kind %v certified %v", res.Kind, res.Certified)
	}
	_, err = p.Block(0).InvHv(testnet.RandLike(rng, m).Block(0), nil)
	wantCondition(t, err, 0, "Newton-only", "range")
}

// A rank-deficient weight matrix: the blocks whose inverse pass solves with
// it fail with the singular factorisation named; the others are fine.
func TestRankDeficientWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	m, p := testnet.Square(t, rng, 3, 5)
	w2 := m.Weights[1].Value().(*tensor.Dense)
	d := w2.Float64s()
	for j := 0; j < 5; j++ { // row 4 = row 3: rank 4
		d[4*5+j] = d[3*5+j]
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Block(0).InvHv(g.Block(0), nil)
	ce := wantCondition(t, err, 0)
	if !strings.Contains(ce.Reason, "singular") && !strings.Contains(ce.Reason, "rank 4") {
		t.Errorf("reason %q does not say singular or rank 4", ce.Reason)
	}
	if _, err := p.Block(1).InvHv(g.Block(1), nil); err != nil {
		t.Errorf("block 1 does not solve with W2: %v", err)
	}
}

// A singular input batch (two equal samples): every block's inverse pass
// solves with a singular h_{l−1}.
func TestSingularInputBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	m, p := testnet.Square(t, rng, 2, 4)
	x := m.X.Value().(*tensor.Dense).Float64s()
	copy(x[4:8], x[0:4])
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	for l := range m.Weights {
		_, err := p.Block(l).InvHv(g.Block(l), nil)
		wantCondition(t, err, l)
	}
}

// NaN in a weight: every product refuses, naming the weight.
func TestNaNWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	m, p := testnet.Square(t, rng, 2, 3)
	v := testnet.RandLike(rng, m)
	m.Weights[1].Value().(*tensor.Dense).Float64s()[2] = math.NaN()
	var nf *errs.NotFiniteError
	_, _, err := p.Gradient()
	if !errors.As(err, &nf) || !errors.Is(err, errs.ErrNotFinite) || !strings.Contains(err.Error(), "W2") {
		t.Errorf("Gradient: %v", err)
	}
	if _, err := p.Hv(v); !errors.Is(err, errs.ErrNotFinite) {
		t.Errorf("Hv: %v", err)
	}
	if _, err := p.Block(0).InvHv(v.Block(0), nil); !errors.Is(err, errs.ErrNotFinite) {
		t.Errorf("InvHv: %v", err)
	}
	if _, err := reference.InvHvFD(p, 0, v.Block(0), 1e-6, nil); !errors.Is(err, errs.ErrNotFinite) {
		t.Errorf("InvHvFD: %v", err)
	}
	if _, err := reference.DenseBlockFD(p, 0, 0, nil); !errors.Is(err, errs.ErrNotFinite) {
		t.Errorf("DenseBlockHessian: %v", err)
	}
}

// A direction of the wrong shape is a *ShapeError with both shapes.
func TestWrongDirectionShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	_, p := testnet.Square(t, rng, 2, 3)
	_, err := p.Block(0).InvHv(vec(t, nets.Randn(rng, 3, 4, 0)), nil)
	var se *errs.ShapeError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "(3, 4)") || !strings.Contains(err.Error(), "(3, 3)") {
		t.Errorf("error %v", err)
	}
}

// A plain ReLU and a leaky ReLU of slope 0: no op-by-op inverse (the
// report names the node), so the per-sample route is taken; the inactive
// units make M_i singular, so the result is Newton-only: certified for the
// gradient, refused by its residual for a random v. Hv still works.
func TestNonInjectiveActivations(t *testing.T) {
	for _, act := range []ops.ScalarFunc{ops.ReLUFunc{}, ops.LeakyReLUFunc{Alpha: 0}} {
		rng := rand.New(rand.NewPCG(17, 17))
		m, p := testnet.MLP(t, rng, 4, 4, []int{4, 4}, act)
		c := p.Conditions()[0]
		if c.Method != hvp.MethodPerSample || !strings.Contains(strings.Join(c.Reasons, " "), act.String()) {
			t.Errorf("%v: report %+v", act, c)
		}
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Block(0).InvHv(g.Block(0), nil)
		if err != nil || res.Kind != hvp.KindNewtonOnly || !res.Certified {
			t.Errorf("%v: v = g: %+v, %v", act, res, err)
		}
		v := testnet.RandLike(rng, m)
		_, err = p.Block(0).InvHv(v.Block(0), nil)
		wantCondition(t, err, 0, "Newton-only")
		if _, err := p.Hv(v); err != nil {
			t.Errorf("%v: Hv: %v", act, err)
		}
	}
}

// An empty batch cannot be built: an error, not a panic.
func TestEmptyBatch(t *testing.T) {
	if _, err := nets.NewMLP(0, 3, []nets.Layer{{Out: 3, Act: testnet.Leaky()}}); err == nil {
		t.Error("nets accepted batch 0")
	}
	g := G.NewGraph()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v", r)
			}
		}()
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(0, 3), G.WithName("x"))
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("w"))
		y := G.NewMatrix(g, tensor.Float64, G.WithShape(0, 3), G.WithName("y"))
		var h, loss *G.Node
		if h, err = ops.MatMul(x, w); err != nil {
			return
		}
		if loss, err = ops.HalfSSE(h, y); err != nil {
			return
		}
		var p *hvp.Problem
		if p, err = hvp.New(loss, w); err != nil {
			return
		}
		_, _, err = p.Gradient()
	}()
	if err == nil {
		t.Error("an empty batch gave no error")
	}
	t.Logf("empty batch: %v", err)
}

// A condition limit below the factors' conditions refuses, naming the
// node; best effort returns the flagged result.
func TestMaxCond(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	_, p := testnet.Square(t, rng, 2, 4)
	_, g, _ := p.Gradient()
	_, err := p.Block(0).InvHv(g.Block(0), &hvp.Options{MaxCond: 1.5})
	ce := wantCondition(t, err, 0, "condition estimate", "limit")
	if ce.Node == "" || ce.Op == "" {
		t.Errorf("no node or op named: %+v", ce)
	}
	res, err := p.Block(0).InvHv(g.Block(0), &hvp.Options{MaxCond: 1.5, BestEffort: true})
	if err != nil || res.Certified || len(res.Factorizations) == 0 {
		t.Errorf("best effort: %v, %+v", err, res)
	}
}

// The conditions report against the numbers, over random blocks as in
// method.md §4's sweep (1–4 layers, widths 3–9, batch 2–10, leaky ReLU):
// an exact block's B-pass is H_ll⁻¹v, a pseudo-inverse block's is H_ll⁺v,
// a Newton-only block's solves H_ll u = g_l, and a refused block's result
// for v = g_l has a residual far above rounding (the report never refuses
// a block that would have been right, and never accepts one that is wrong).
func TestConditionsMatchNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	count := map[hvp.Kind]int{}
	for trial := 0; trial < 60; trial++ {
		depth := 1 + rng.IntN(4)
		widths := make([]int, depth)
		for i := range widths {
			widths[i] = 3 + rng.IntN(7)
		}
		in, batch := 3+rng.IntN(7), 2+rng.IntN(9)
		m, p := testnet.MLP(t, rng, batch, in, widths, testnet.Leaky())
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		conds := p.Conditions()
		for l := range conds {
			hb, err := m.BlockHessian(l)
			if err != nil {
				t.Fatal(err)
			}
			v := testnet.RandLike(rng, m).Block(l)
			rg, err := p.Block(l).InvHv(g.Block(l), bestEffort)
			if err != nil {
				t.Fatal(err)
			}
			u, err := p.Block(l).InvHv(v, bestEffort)
			if err != nil {
				t.Fatal(err)
			}
			// The per-sample route decides Newton-only when it runs (a
			// singular M_i): the result's kind is the claim to check.
			count[u.Kind]++
			where := fmt.Sprintf("trial %d (batch %d, %d-%v) block %d %v (%s route)", trial, batch, in, widths, l, u.Kind, u.Method)
			switch u.Kind {
			case hvp.KindExact:
				cond := mat.Cond(hb, 2)
				if e, tol := params.RelDiff(u.U, testnet.Solve(t, hb, v)), 100*testnet.Eps*cond; e > tol {
					t.Errorf("%s: vs H⁻¹v %.2e > %.2e", where, e, tol)
				}
			case hvp.KindPseudoInverse:
				ref, _, cond := testnet.PinvSolve(t, hb, v, 1e-10)
				if e, tol := params.RelDiff(u.U, ref), 100*testnet.Eps*cond; e > tol {
					t.Errorf("%s: vs H⁺v %.2e > %.2e", where, e, tol)
				}
			case hvp.KindNewtonOnly:
				if rg.Residual > 1e-9 {
					t.Errorf("%s: H u = g residual %.2e", where, rg.Residual)
				}
			case hvp.KindRefused:
				if rg.Residual < 1e-6 {
					t.Errorf("%s: refused, yet the residual for v = g is %.2e", where, rg.Residual)
				}
			}
		}
	}
	t.Logf("blocks by kind: %v", count)
}

// The per-sample route's messages count a bias once: fan-in k = 5 inputs
// + 1 is "fan-in 6 (5 inputs + 1 for the bias)", for batch < k, = k and
// > k alike (issue 19 item 13).
func TestPerSampleFanInMessage(t *testing.T) {
	for _, c := range []struct {
		batch int
		want  string
	}{
		{4, "batch 4 < fan-in 6 (5 inputs + 1 for the bias)"},
		{6, "batch 6 = fan-in 6 (5 inputs + 1 for the bias)"},
		{8, "batch 8 > fan-in 6 (5 inputs + 1 for the bias)"},
	} {
		m, err := nets.Build(nets.Spec{Batch: c.batch, In: 5, Layers: []nets.Layer{{Out: 3, Act: ops.TanhFunc{}, Bias: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Randomize(rand.New(rand.NewPCG(5, 5)), 0.5, 1); err != nil {
			t.Fatal(err)
		}
		p, err := hvp.New(m.Loss, m.Params()...)
		if err != nil {
			t.Fatal(err)
		}
		s := p.Conditions().String()
		if !strings.Contains(s, c.want) || strings.Contains(s, "+ 1 (bias)") {
			t.Errorf("batch %d: report does not say %q once:\n%s", c.batch, c.want, s)
		}
	}
}

// Batch > fan-in on a squared-error output layer: H_ll = h̃ᵀh̃ ⊗ I is
// nonsingular (checked: the dense block from the exact R-pass has full
// rank), so the report must not say the gradient map has no inverse; it
// says what is true — the per-sample shortcut needs batch ≤ fan-in, the
// block itself may be invertible, solve it densely (issue 19 item 12).
func TestBatchAboveFanInMessage(t *testing.T) {
	m, err := nets.Build(nets.Spec{Batch: 9, In: 5, Layers: []nets.Layer{{Out: 2, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(6, 6)), 0.5, 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := reference.DenseBlock(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rank by the SVD, tolerance n·ε·σ_max (LAPACK's convention).
	var svd mat.SVD
	if !svd.Factorize(h, mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	sv := svd.Values(nil)
	rank := 0
	for _, x := range sv {
		if x > float64(len(sv))*testnet.Eps*sv[0] {
			rank++
		}
	}
	if rank != len(sv) {
		t.Fatalf("the block has rank %d of %d: this test needs a nonsingular block", rank, len(sv))
	}
	c := p.Conditions()
	if c[0].Kind != hvp.KindExact || c[0].Method != hvp.MethodDenseRoute {
		t.Fatalf("kind %v, %v route, want exact by the dense route (the per-sample shortcut does not apply)", c[0].Kind, c[0].Method)
	}
	s := c.String()
	for _, want := range []string{"batch 9 > fan-in 6", "per-sample shortcut needs batch ≤ fan-in", "may still be invertible", "dense route"} {
		if !strings.Contains(s, want) {
			t.Errorf("report does not say %q:\n%s", want, s)
		}
	}
	for _, wrong := range []string{"has no inverse", "is not an inverse of the gradient map"} {
		if strings.Contains(s, wrong) {
			t.Errorf("report says %q of a nonsingular block:\n%s", wrong, s)
		}
	}
}

// A layer input with a column that is zero across the batch (a zero input
// feature, a dead ReLU unit), batch = fan-in + 1 with the bias: h̃ is
// square but singular. The report says exact before running; the run
// finds the rank, the result is the minimum-norm one (pseudo-inverse),
// certified by the normal residual, and equals the dense min-norm solve
// (reference.MinNormSolve of the dense block from the exact R-pass) to
// 100·ε·cond, the accuracy of a backward-stable solve. Where the layer is
// not the last one (the M_i differ from sample to sample) the route is not
// the pseudo-inverse in general: whatever is certified must still equal
// the dense min-norm solve, and a random v is refused naming the rank
// (issue 19 item 10).
func TestRankDeficientLayerInput(t *testing.T) {
	relu := ops.ReLUFunc{}
	for _, c := range []struct {
		name     string
		layers   []nets.Layer
		block    int
		dead     bool // a dead ReLU unit in layer 1 instead of a zero input column
		minNormV bool // the route returns H⁺v for a random v
	}{
		{"squared-error output layer, zero input column", []nets.Layer{{Out: 3, Act: ops.IdentityFunc{}, Bias: true}}, 0, false, true},
		{"dead ReLU unit before the output layer", []nets.Layer{{Out: 5, Act: relu, Bias: true}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}, 1, true, true},
		{"hidden tanh layer, zero input column", []nets.Layer{{Out: 5, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}, 0, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			const in = 5
			m, err := nets.Build(nets.Spec{Batch: in + 1, In: in, Layers: c.layers})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Randomize(rng, 0.5, 1); err != nil {
				t.Fatal(err)
			}
			if c.dead { // unit 2 of layer 1: W1[:, 2] = 0, b1[2] = −1, so relu gives 0 for every sample
				w := m.Weights[0].Value().(*tensor.Dense).Float64s()
				for i := range in {
					w[i*5+2] = 0
				}
				m.Biases[0].Value().(*tensor.Dense).Float64s()[2] = -1
			} else {
				x := m.X.Value().(*tensor.Dense).Float64s()
				for r := range in + 1 {
					x[r*in+2] = 0
				}
			}
			p, err := hvp.New(m.Loss, m.Params()...)
			if err != nil {
				t.Fatal(err)
			}
			l := c.block
			if k := p.Conditions()[l].Kind; k != hvp.KindExact {
				t.Fatalf("block %d before running: %v, want exact (batch = fan-in)", l, k)
			}
			h, err := reference.DenseBlock(p, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, g, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			for _, dir := range []string{"random", "gradient"} {
				v := blockRand(rng, p, l)
				if dir == "gradient" {
					v = g.Block(l)
				}
				res, err := p.Block(l).InvHv(v, nil)
				switch {
				case err != nil && c.minNormV:
					t.Fatalf("v %s: %v", dir, err)
				case err != nil:
					wantCondition(t, err, l, "has rank 5 < 6", "dense solve")
					continue
				case !c.minNormV && dir == "random":
					t.Errorf("v random: certified %v, want refused (the M_i differ across samples)", res.Certified)
				}
				sol, err := reference.MinNormSolve(h, v.Flat())
				if err != nil {
					t.Fatal(err)
				}
				if sol.Rank == sol.N {
					t.Fatalf("the dense block has full rank %d: the test needs a singular one", sol.N)
				}
				d, tol := flatRelDiff(res.U.Flat(), sol.U), 100*testnet.Eps*sol.Cond
				t.Logf("v %s: %v, certified %v, residual %.2g, normal residual %.2g; vs dense min-norm (%v) %.2g", dir, res.Kind, res.Certified, res.Residual, res.NormalResidual, sol, d)
				if res.Kind != hvp.KindPseudoInverse || !res.Certified || d > tol {
					t.Errorf("v %s: %v, certified %v, differs from the dense min-norm solve by %.3g > %.3g", dir, res.Kind, res.Certified, d, tol)
				}
				if !strings.Contains(strings.Join(res.Reasons, " "), "has rank") {
					t.Errorf("v %s: the reasons do not give h̃'s rank: %q", dir, res.Reasons)
				}
			}
			if !c.minNormV {
				return
			}
			// Damped, (H_ll + λ·h̃ᵀh̃ ⊗ I) is as singular: the same, against
			// the dense damped block (reference.Damp).
			const lambda = 0.1
			v := blockRand(rng, p, l)
			res, err := p.Block(l).InvHv(v, &hvp.Options{Damping: lambda})
			if err != nil {
				t.Fatalf("λ %g: %v", lambda, err)
			}
			hd, err := reference.Damp(p, l, h, lambda)
			if err != nil {
				t.Fatal(err)
			}
			sol, err := reference.MinNormSolve(hd, v.Flat())
			if err != nil {
				t.Fatal(err)
			}
			if d, tol := flatRelDiff(res.U.Flat(), sol.U), 100*testnet.Eps*sol.Cond; res.Kind != hvp.KindPseudoInverse || !res.Certified || d > tol {
				t.Errorf("λ %g: %v, certified %v, differs from the dense damped min-norm solve by %.3g > %.3g", lambda, res.Kind, res.Certified, d, tol)
			}
		})
	}
}
