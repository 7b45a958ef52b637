package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"

	"github.com/newtonia/newtonia/hvp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// withPenalty adds to n's loss λ·Σ_W pen(W) over its matrix weights, as a
// Gorgonia user writes weight decay: G.Mul(λ, G.Sum(G.Square(W))) (kind
// "l2") or G.Sum(G.Abs(W)) (kind "l1").
func withPenalty(t testing.TB, n *gnet, dt tensor.Dtype, lam float64, kind string) {
	t.Helper()
	for _, w := range n.weights {
		if len(w.Shape()) != 2 {
			continue
		}
		var sq *G.Node
		switch kind {
		case "l2":
			sq = G.Must(G.Square(w))
		case "l1":
			sq = G.Must(G.Abs(w))
		default:
			t.Fatalf("penalty %q", kind)
		}
		var c *G.Node
		if dt == tensor.Float32 {
			c = G.NewConstant(float32(lam), G.WithName(fmt.Sprintf("λ%s", w.Name())))
		} else {
			c = G.NewConstant(lam, G.WithName(fmt.Sprintf("λ%s", w.Name())))
		}
		n.loss = G.Must(G.Add(n.loss, G.Must(G.Mul(c, G.Must(G.Sum(sq))))))
	}
}

// A practitioner's MLP (tanh, biases by G.BroadcastAdd, softmax
// cross-entropy) with weight decay 0.01·Σ W² on each weight matrix, in
// float64: the blocks pair each W with its b as without the penalty; Hv
// includes the penalty's Hessian (central differences of G.Grad run by
// Gorgonia's TapeMachine, O(r²): halving r quarters the difference, as in
// TestGorgoniaHvAgainstGrad); InvHv takes the penalized route and is
// certified by the exact R-pass (residual ≤ 1e-10: an LU solve of a block
// of condition ≤ 1e5 rounds to ε·cond ≈ 1e-11), and agrees, in both of its
// forms, with a solve of the dense block built column by column from the
// R-pass (reference.DenseBlock, 1e-9: two backward-stable solves of one
// matrix differ by ≈ ε·cond).
func TestPenaltyMLP(t *testing.T) {
	for _, batch := range []int{3, 8} { // B·n < k·n (push-through is cheaper), and B·n > k·n (dense)
		s := gspec{name: "mlp", batch: batch, sizes: []int{4, 5, 3}, act: "tanh", loss: "ce"}
		n := s.build(t, tensor.Float64, 1)
		withPenalty(t, n, tensor.Float64, 0.01, "l2")
		p, err := hvp.New(n.loss, n.weights...)
		if err != nil {
			t.Fatal(err)
		}
		if p.Blocks() != 2 || p.Layout().BlockName(0) != "W1+b1" || p.Layout().BlockName(1) != "W2+b2" {
			t.Fatalf("batch %d: blocks %d (%s, …), want W1+b1 and W2+b2", batch, p.Blocks(), p.Layout().BlockName(0))
		}
		conds := p.Conditions()
		for _, c := range conds {
			if c.Method != hvp.MethodPenalized || c.Kind != hvp.KindExact || c.Penalty == nil || c.Penalty.Kind != "L2" ||
				math.Abs(c.Penalty.C[0]-0.02) > 2e-16 || c.Penalty.C[1] != 0 {
				t.Errorf("batch %d: conditions of block %d: %+v (penalty %+v); want the penalized route, exact, L2 with c = [0.02 0]", batch, c.Block, c, c.Penalty)
			}
		}
		t.Logf("batch %d:\n%s", batch, conds)
		// The report's solve is the cheaper form: push-through on the B·n
		// side at batch 3 (B·n = 15 < k·n = 25, with one more row for the
		// undecayed bias), the dense block at batch 8.
		form := map[int]string{3: "push-through LU (B·n side), 20×20", 8: "dense LU of H_ll (k·n side), 25×25"}[batch]
		if pc := conds[0].Penalty; pc == nil || !strings.HasPrefix(pc.Solve, form) || !(pc.Flops > 0) || !(pc.Bytes > 0) {
			t.Errorf("batch %d: block 0's penalty report %+v, want the solve %q with its flops and bytes", batch, pc, form)
		}
		rng := rand.New(rand.NewPCG(3, uint64(batch)))
		v := randomLike(rng, p)
		hv, err := p.Hv(v)
		if err != nil {
			t.Fatal(err)
		}
		gg := newGorgoniaGrad(t, n)
		w0 := gg.weights(t)
		e1 := flatRelDiff(gg.central(t, w0, v, 1e-3), hv.Flat())
		e2 := flatRelDiff(gg.central(t, w0, v, 5e-4), hv.Flat())
		gg.at(t, w0)
		t.Logf("batch %d: ‖Hv − FD(G.Grad)‖/‖Hv‖ = %.3g, %.3g at r = 1e-3, 5e-4 (ratio %.3f)", batch, e1, e2, e2/e1)
		if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
			t.Errorf("batch %d: Hv vs central differences of G.Grad: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", batch, e1, e2, e2/e1)
		}
		// The output block W2+b2 is singular: softmax cross-entropy is
		// shift invariant (M_i 1 = 0) and the decay leaves b2 alone, so
		// H_ll (0, 1) = 0. Its LU says so: a condition error naming it.
		_, err = p.Block(1).InvHv(v.Block(1), nil)
		var ce *errs.ConditionError
		if !errors.As(err, &ce) || ce.Block != 1 {
			t.Errorf("batch %d: InvHv of the singular output block: %v; want an *errs.ConditionError", batch, err)
		} else {
			t.Logf("batch %d, block 1: %v", batch, err)
		}
		for l := range 1 {
			h, err := reference.DenseBlock(p, l, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Block.Curvature carries the decay: its Dense block is the
			// R-pass's column by column (1e-13: sums of B products in
			// another order).
			cv, err := p.Block(l).Curvature()
			if err != nil {
				t.Fatal(err)
			}
			hd, err := cv.Dense(0)
			if err != nil {
				t.Fatal(err)
			}
			if d := flatRelDiff(hd.RawMatrix().Data, h.RawMatrix().Data); d > 1e-13 || len(cv.Penalty) != 5 || math.Abs(cv.Penalty[0]-0.02) > 2e-16 || cv.Penalty[4] != 0 {
				t.Errorf("batch %d, block %d: Curvature.Dense differs from DenseBlock by %.3g (penalty %v, want 0.02 on W1's rows, 0 on b1's)", batch, l, d, cv.Penalty)
			}
			var want mat.VecDense
			if err := want.SolveVec(h, mat.NewVecDense(len(v.Block(l).Flat()), v.Block(l).Flat())); err != nil {
				t.Fatal(err)
			}
			for _, form := range []string{"", "dense", "push"} {
				restore := hvp.ForceSolve(form)
				res, err := p.Block(l).InvHv(v.Block(l), nil)
				restore()
				if err != nil {
					t.Fatalf("batch %d, block %d, form %q: %v", batch, l, form, err)
				}
				d := flatRelDiff(res.U.Flat(), want.RawVector().Data)
				t.Logf("batch %d, block %d, form %q: %s; vs dense DenseBlock solve %.2g; %s, cond %.2g", batch, l, form, res.Label(), d,
					res.Factorizations[0].Op, res.Factorizations[0].Cond)
				if res.Method != hvp.MethodPenalized || res.Kind != hvp.KindExact || !res.Certified || res.Residual > 1e-10 || d > 1e-9 {
					t.Errorf("batch %d, block %d, form %q: %s (%v, %v), %.3g from the dense solve; want exact, certified, residual ≤ 1e-10, ≤ 1e-9",
						batch, l, form, res.Label(), res.Method, res.Kind, d)
				}
			}
		}
		// Damped: (H_ll + λ·h̃ᵀh̃ ⊗ I) u = v, certified by the same damped
		// operator: the output block too.
		for l := range 2 {
			res, err := p.Block(l).InvHv(v.Block(l), &hvp.Options{Damping: 0.1})
			if err != nil || !res.Certified || res.Damping != 0.1 || res.Residual > 1e-10 {
				t.Errorf("batch %d, block %d: damped InvHv: %v, %v", batch, l, res, err)
			} else {
				t.Logf("batch %d, block %d, damped 0.1: %s", batch, l, res.Label())
			}
		}
		// Kronecker's factors carry the decay for K-FAC to fold in.
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		for l, f := range kf.Factors {
			// 0.02 to 2e-16 (1e-14 relative): the probe's Rayleigh quotient of 2λ·d, a few roundings.
			if f == nil || len(f.Penalty) != []int{5, 6}[l] || math.Abs(f.Penalty[0]-0.02) > 2e-16 || f.Penalty[len(f.Penalty)-1] != 0 || f.PenaltyErr != nil {
				t.Errorf("batch %d: Kronecker factors of block %d: %+v, want Penalty 0.02 on W's rows, 0 on the bias", batch, l, f)
			}
		}
		// InvHvAll runs the penalized blocks too, as one by one.
		all, err := p.InvHvAll(v, &hvp.Options{Damping: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		for l, res := range all {
			one, _ := p.Block(l).InvHv(v.Block(l), &hvp.Options{Damping: 0.1})
			if !res.Certified || res.Method != hvp.MethodPenalized || flatRelDiff(res.U.Flat(), one.U.Flat()) > 1e-14 {
				t.Errorf("batch %d: InvHvAll block %d: %s, differs from InvHv", batch, l, res.Label())
			}
		}
		// Above MaxFlops: a typed refusal naming the penalty, with the estimate.
		_, err = p.Block(0).InvHv(v.Block(0), &hvp.Options{MaxFlops: 100})
		var le *errs.LimitError
		if !errors.As(err, &le) || le.Resource != "flops" || !(le.Estimate > 100) || !strings.Contains(err.Error(), "penalty") ||
			!strings.Contains(err.Error(), conds[0].Penalty.Node) {
			t.Errorf("batch %d: InvHv above MaxFlops: %v; want an *errs.LimitError naming the penalty %s", batch, err, conds[0].Penalty.Node)
		} else {
			t.Logf("refusal: %v", err)
		}
		// Above the memory cap: the same, in bytes; a cap that is no
		// number of flops: an argument error.
		_, err = p.Block(0).InvHv(v.Block(0), &hvp.Options{MaxBytes: 100})
		if !errors.As(err, &le) || le.Resource != "memory" || !strings.Contains(err.Error(), conds[0].Penalty.Node) {
			t.Errorf("batch %d: InvHv above MaxBytes: %v; want an *errs.LimitError naming the penalty", batch, err)
		}
		if _, err := p.Block(0).InvHv(v.Block(0), &hvp.Options{MaxFlops: -1}); !errors.Is(err, errs.ErrArgument) || !strings.Contains(err.Error(), "Options.MaxFlops") {
			t.Errorf("MaxFlops -1: got %v, want an *errs.ArgumentError naming Options.MaxFlops", err)
		}
	}
}

// The same MLP in float32 (a ReLU hidden layer this time, batch 8 so that
// no hidden unit is dead on every sample, which would leave its bias
// without curvature and the block singular): the blocks pair W with b,
// and InvHv of the first block is certified on the residual of the
// float32 result as returned (Tol32, the float32 contract), its float64
// result to 1e-8 (ε·cond of the factorised matrix, logged: ≈ 1e6 here —
// the ReLU block's curvature is low-rank per sample, D W₂M'W₂ᵀD).
func TestPenaltyMLPFloat32(t *testing.T) {
	s := gspec{name: "mlp32", batch: 8, sizes: []int{4, 5, 3}, act: "relu", loss: "ce"}
	n := s.build(t, tensor.Float32, 2)
	withPenalty(t, n, tensor.Float32, 0.01, "l2")
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	if p.Blocks() != 2 || p.Layout().BlockName(0) != "W1+b1" {
		t.Fatalf("blocks %d (%s, …), want W1+b1 and W2+b2", p.Blocks(), p.Layout().BlockName(0))
	}
	c := p.Conditions()[0]
	// c = 2·float32(0.01), the constant as the float32 graph holds it.
	if c.Penalty == nil || c.Penalty.Kind != "L2" || math.Abs(c.Penalty.C[0]-2*float64(float32(0.01))) > 1e-15 {
		t.Fatalf("conditions: %s", p.Conditions())
	}
	v := randomLike(rand.New(rand.NewPCG(4, 4)), p)
	res, err := p.Block(0).InvHv(v.Block(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("float32: %s; %s, cond %.2g", res.Label(), res.Factorizations[0].Op, res.Factorizations[0].Cond)
	if res.U.Layout().Dtype() != tensor.Float32 || !res.Certified || res.Residual > 1e-8 || !(res.RoundedResidual <= hvp.DefaultTol32) {
		t.Errorf("float32 InvHv: %s; want certified, residual ≤ 1e-8, rounded residual ≤ Tol32", res.Label())
	}
}

// An L1 penalty 0.01·Σ|W|: its Hessian is zero away from 0, so Hv is the
// data term's (central differences of G.Grad, as TestPenaltyMLP: no weight
// crosses 0 at r ≤ 1e-3, checked below), and InvHv refuses, naming the
// penalty, with a typed error; the conditions report says it.
func TestPenaltyL1(t *testing.T) {
	s := gspec{name: "mlp", batch: 5, sizes: []int{4, 4, 3}, act: "tanh", loss: "ce"}
	n := s.build(t, tensor.Float64, 3)
	withPenalty(t, n, tensor.Float64, 0.01, "l1")
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := p.Current()
	for _, x := range w.Flat() {
		if math.Abs(x) < 1e-2 {
			t.Fatalf("a weight %.3g within 1e-2 of the kink of |·|", x)
		}
	}
	v := randomLike(rand.New(rand.NewPCG(5, 5)), p)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	gg := newGorgoniaGrad(t, n)
	w0 := gg.weights(t)
	e1 := flatRelDiff(gg.central(t, w0, v, 1e-3), hv.Flat())
	e2 := flatRelDiff(gg.central(t, w0, v, 5e-4), hv.Flat())
	gg.at(t, w0)
	t.Logf("L1: ‖Hv − FD(G.Grad)‖/‖Hv‖ = %.3g, %.3g (ratio %.3f)", e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
	conds := p.Conditions()
	c := conds[0]
	if c.Kind != hvp.KindRefused || c.Penalty == nil || c.Penalty.Kind == "L2" {
		t.Errorf("conditions of block 0: %s", conds)
	}
	_, err = p.Block(0).InvHv(v.Block(0), nil)
	var ce *errs.ConditionError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "penalty "+c.Penalty.Node) || !strings.Contains(err.Error(), "Hessian on W1 is 0") {
		t.Errorf("InvHv with an L1 penalty: %v; want an *errs.ConditionError naming the penalty %s", err, c.Penalty.Node)
	} else {
		t.Logf("L1 refusal: %v", err)
	}
	// L2 on W1 and L1 on b1: W1's curvature is 2λI, b1's penalty has none,
	// which a probe cannot tell from no penalty; the penalty reads b1, so
	// InvHv refuses, naming b1.
	n = s.build(t, tensor.Float64, 3)
	withPenalty(t, n, tensor.Float64, 0.01, "l2")
	n.loss = G.Must(G.Add(n.loss, G.Must(G.Sum(G.Must(G.Abs(n.weights[1]))))))
	if p, err = hvp.New(n.loss, n.weights...); err != nil {
		t.Fatal(err)
	}
	_, err = p.Block(0).InvHv(v.Block(0), nil)
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "Hessian on b1 is 0") {
		t.Errorf("InvHv with L2 on W1 and L1 on b1: %v; want an *errs.ConditionError naming b1", err)
	}
}

// A penalty whose Hessian is not c·I (Σ W⁴, 12·W² on the diagonal): Hv and
// GGNv exact, InvHv refused naming the penalty as not L2.
func TestPenaltyNotL2(t *testing.T) {
	s := gspec{name: "mlp", batch: 5, sizes: []int{4, 4, 3}, act: "tanh", loss: "mse"}
	n := s.build(t, tensor.Float64, 4)
	w1 := n.weights[0]
	n.loss = G.Must(G.Add(n.loss, G.Must(G.Sum(G.Must(G.Square(G.Must(G.Square(w1))))))))
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	if p.Layout().BlockName(0) != "W1+b1" {
		t.Fatalf("block 0 is %s, want W1+b1", p.Layout().BlockName(0))
	}
	c := p.Conditions()[0]
	if c.Kind != hvp.KindRefused || c.Penalty == nil || c.Penalty.Kind != "other" {
		t.Fatalf("conditions: %s", p.Conditions())
	}
	v := randomLike(rand.New(rand.NewPCG(6, 6)), p)
	_, err = p.Block(0).InvHv(v.Block(0), nil)
	var ce *errs.ConditionError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not L2") {
		t.Errorf("InvHv with Σ W⁴: %v; want an *errs.ConditionError saying the penalty is not L2", err)
	}
	// GGNv adds the penalty's exact Hessian 12·W1² ⊙ v on W1: GGNv with
	// and without the term differ by exactly that (1e-12: one product per entry).
	g1, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	n0 := s.build(t, tensor.Float64, 4)
	p0, err := hvp.New(n0.loss, n0.weights...)
	if err != nil {
		t.Fatal(err)
	}
	g0, err := p0.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := p.Current()
	wf, vf, a, b := w.Weight(0), v.Weight(0), g1.Weight(0), g0.Weight(0)
	var worst float64
	for i := range wf {
		worst = math.Max(worst, math.Abs(a[i]-b[i]-12*wf[i]*wf[i]*vf[i])/(1+math.Abs(a[i])))
	}
	if worst > 1e-12 {
		t.Errorf("GGNv's penalty part differs from 12·W²⊙v by %.3g", worst)
	}
}

// Logistic regression in Gorgonia's idiom (logreg: a weight vector w, a
// scalar bias G.NewScalar, mean binary cross-entropy, 0.05·Σ w²): w's
// block takes the penalized route and is exact (residual ≤ 1e-10, vs a
// solve of reference.DenseBlock to 1e-9 as TestPenaltyMLP), the scalar
// bias its scalar route.
func TestPenaltyLogisticRegression(t *testing.T) {
	n := logreg(t, 1)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", p.Conditions())
	v := randomLike(rand.New(rand.NewPCG(7, 7)), p)
	for l := range p.Blocks() {
		res, err := p.Block(l).InvHv(v.Block(l), nil)
		if err != nil {
			t.Fatalf("block %d (%s): %v", l, p.Layout().BlockName(l), err)
		}
		h, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want mat.VecDense
		if err := want.SolveVec(h, mat.NewVecDense(len(v.Block(l).Flat()), v.Block(l).Flat())); err != nil {
			t.Fatal(err)
		}
		d := flatRelDiff(res.U.Flat(), want.RawVector().Data)
		t.Logf("block %d (%s): %s, %.2g from the dense solve", l, p.Layout().BlockName(l), res.Label(), d)
		if !res.Certified || res.Residual > 1e-10 || d > 1e-9 {
			t.Errorf("block %d: %s, %.3g from the dense solve", l, res.Label(), d)
		}
		if p.Layout().BlockName(l) == "w" && res.Method != hvp.MethodPenalized {
			t.Errorf("w's block took the %v route, want penalized", res.Method)
		}
	}
}

// Tied weights: an autoencoder reconstructing x by tanh(x·W)·Wᵀ uses W
// twice in its data term (and, with decay, once more in its weight decay).
// Hv is exact (central differences of G.Grad as TestPenaltyMLP); InvHv
// refuses with a reason saying that W is tied, naming it.
func TestTiedWeights(t *testing.T) {
	for _, decay := range []bool{true, false} {
		t.Run(fmt.Sprintf("decay %v", decay), func(t *testing.T) { tied(t, decay) })
	}
}

func tied(t *testing.T, decay bool) {
	rng := rand.New(rand.NewPCG(8, 8))
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(6, 4), G.WithName("x"), G.WithValue(randDense(rng, 6, 4)))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("W"), G.WithValue(randDense(rng, 4, 3)))
	h := G.Must(G.Tanh(G.Must(G.Mul(x, w))))
	rec := G.Must(G.Mul(h, G.Must(G.Transpose(w))))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(rec, x))))))
	if decay {
		loss = G.Must(G.Add(loss, G.Must(G.Mul(G.NewConstant(0.01), G.Must(G.Sum(G.Must(G.Square(w))))))))
	}
	n := &gnet{g: g, x: x, weights: []*G.Node{w}, loss: loss}
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	v := randomLike(rand.New(rand.NewPCG(9, 9)), p)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	gg := newGorgoniaGrad(t, n)
	w0 := gg.weights(t)
	e1 := flatRelDiff(gg.central(t, w0, v, 1e-3), hv.Flat())
	e2 := flatRelDiff(gg.central(t, w0, v, 5e-4), hv.Flat())
	gg.at(t, w0)
	t.Logf("tied: ‖Hv − FD(G.Grad)‖/‖Hv‖ = %.3g, %.3g (ratio %.3f)", e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
	// GGNv against the Gauss–Newton matrix formed from its definition:
	// G = Jᵀ (2/24) J + 0.02·I (with decay), J = ∂rec/∂W (24 × 12) by
	// central differences of the forward pass written out here (r = 1e-5:
	// truncation ≈ r² ≈ 1e-10 relative, rounding ≈ ε/r ≈ 1e-11; tolerance
	// 1e-7).
	xs, ws := data(x.Value().(*tensor.Dense)), w0[0]
	forward := func(wv []float64) []float64 {
		out := make([]float64, 24)
		for i := range 6 {
			var hr [3]float64
			for j := range 3 {
				var z float64
				for a := range 4 {
					z += xs[i*4+a] * wv[a*3+j]
				}
				hr[j] = math.Tanh(z)
			}
			for a := range 4 {
				for j := range 3 {
					out[i*4+a] += hr[j] * wv[a*3+j]
				}
			}
		}
		return out
	}
	const r = 1e-5
	jac := mat.NewDense(24, 12, nil)
	for c := range 12 {
		wp, wm := append([]float64(nil), ws...), append([]float64(nil), ws...)
		wp[c] += r
		wm[c] -= r
		fp, fm := forward(wp), forward(wm)
		for i := range 24 {
			jac.Set(i, c, (fp[i]-fm[i])/(2*r))
		}
	}
	var gm mat.Dense
	gm.Mul(jac.T(), jac)
	gm.Scale(2.0/24, &gm)
	if decay {
		for c := range 12 {
			gm.Set(c, c, gm.At(c, c)+0.02)
		}
	}
	var want mat.VecDense
	want.MulVec(&gm, mat.NewVecDense(12, v.Flat()))
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(gv.Flat(), want.RawVector().Data); d > 1e-7 {
		t.Errorf("GGNv of the tied weight differs from Jᵀ(2/24)J v (+0.02 v) by %.3g", d)
	} else {
		t.Logf("tied: GGNv vs Jᵀ(2/24)J v from central differences of the forward pass: %.2g", d)
	}
	// No structured route inverts a tied weight: the dense route from R-pass
	// columns (the penalty's Hessian included, Hv being of the whole loss),
	// checked against the FD dense block of the gradient (reference.
	// DenseBlockFD, independent of the R-pass) solved by gonum, to 1e-6:
	// far above the FD block's Richardson and rounding error (measured
	// 3e-12–7e-12 here), far below the O(1) of a wrong solve.
	c := p.Conditions()[0]
	if c.Method != hvp.MethodDenseRoute || !strings.Contains(strings.Join(c.Reasons, "; "), "tied") || !strings.Contains(strings.Join(c.Reasons, "; "), "R-pass columns") {
		t.Errorf("conditions: %s", p.Conditions())
	}
	res, err := p.Block(0).InvHv(v.Block(0), nil)
	if err != nil {
		t.Fatalf("InvHv of a tied weight: %v", err)
	}
	hfd, err := reference.DenseBlockFD(p, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sol mat.VecDense
	if err := sol.SolveVec(hfd, mat.NewVecDense(len(v.Block(0).Flat()), v.Block(0).Flat())); err != nil {
		t.Fatal(err)
	}
	if e := flatRelDiff(res.U.Flat(), sol.RawVector().Data); e > 1e-6 || !res.Certified || res.Method != hvp.MethodDenseRoute {
		t.Errorf("tied: dense route vs the FD dense block's solve: %.3g (certified %v, %s)", e, res.Certified, res.Method)
	} else {
		t.Logf("tied: dense route vs the FD dense block's solve: %.2g, residual %.2g", e, res.Residual)
	}
	// K-FAC's factors of the W/Wᵀ tie (tied.go) carry the decay's
	// constant 2·0.01 on every row of W̃ (closed form), as a kernel's do,
	// for K-FAC to fold; none without decay.
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	f := kf.Factors[0]
	if f == nil {
		t.Fatalf("tied W: no factors: %v", kf.Err[0])
	}
	if decay != (f.Penalty != nil) || f.PenaltyErr != nil {
		t.Errorf("tied W, decay %v: Penalty %v, PenaltyErr %v", decay, f.Penalty, f.PenaltyErr)
	}
	for a, c := range f.Penalty {
		if math.Abs(c-0.02) > 1e-12 {
			t.Errorf("tied W: penalty constant %g on row %d, want 0.02", c, a)
		}
	}
}
