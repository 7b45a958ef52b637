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

func TestPenaltyExplore(t *testing.T) {
	s := gspec{name: "mlp", batch: 6, sizes: []int{4, 5, 3}, act: "tanh", loss: "ce"}
	n := s.build(t, tensor.Float64, 1)
	withPenalty(t, n, tensor.Float64, 0.01, "l2")
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(p.Conditions())
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
				math.Abs(c.Penalty.C[0]-0.02) > 1e-15 || c.Penalty.C[1] != 0 {
				t.Errorf("batch %d: conditions of block %d: %+v (penalty %+v); want the penalized route, exact, L2 with c = [0.02 0]", batch, c.Block, c, c.Penalty)
			}
		}
		t.Logf("batch %d:\n%s", batch, conds)
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
		// Above MaxFlops: a typed refusal naming the penalty, with the estimate.
		_, err = p.Block(0).InvHv(v.Block(0), &hvp.Options{MaxFlops: 100})
		var le *errs.LimitError
		if !errors.As(err, &le) || le.Resource != "flops" || !(le.Estimate > 100) || !strings.Contains(err.Error(), "penalty") ||
			!strings.Contains(err.Error(), conds[0].Penalty.Node) {
			t.Errorf("batch %d: InvHv above MaxFlops: %v; want an *errs.LimitError naming the penalty %s", batch, err, conds[0].Penalty.Node)
		} else {
			t.Logf("refusal: %v", err)
		}
	}
}
