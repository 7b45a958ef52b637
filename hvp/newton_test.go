package hvp_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"gonum.org/v1/gonum/optimize"
	"gorgonia.org/tensor"
)

// The solver decreases the loss at every step on small nets, with every
// way of combining the block steps.
func TestNewtonDecreasesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 30))
	for i, shape := range [][]int{{4, 4, 4}, {6, 6, 6, 6}, {8, 6, 4}} {
		_, p := mlp(t, rng, shape[0], shape[0], shape[1:], leaky())
		s := hvp.NewNewton(p, &hvp.NewtonSettings{Combine: hvp.Combine(i % 3)})
		prev := math.Inf(1)
		for i := 0; i < 5; i++ {
			rec, err := s.Iterate()
			if err != nil {
				t.Fatal(err)
			}
			if !(rec.NewLoss <= rec.Loss) || rec.Loss > prev {
				t.Errorf("%v step %d: loss %.6g → %.6g (previous %.6g)", shape, i, rec.Loss, rec.NewLoss, prev)
			}
			prev = rec.NewLoss
		}
		t.Logf("%v: loss after 5 steps %.3g, fallbacks %d", shape, prev, s.Fallbacks)
	}
}

// One step's direction equals the dense block Newton step −H_ll⁻¹ g_l,
// from the closed-form blocks, to the blocks' conditioning (100·ε·cond, as
// for InvHv).
func TestNewtonMatchesDenseStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	m, p := square(t, rng, 2, 3)
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	var want []*tensor.Dense
	var tol float64
	for l := range m.Weights {
		hb, err := m.BlockHessian(l)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, solve(t, hb, g[l]))
		tol = math.Max(tol, 100*eps*condOf(hb))
	}
	before := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		before[k] = w.Value().(*tensor.Dense)
	}
	// CombineSum without a trust-radius cap: the step is −t·(u_1, …, u_L).
	s := hvp.NewNewton(p, &hvp.NewtonSettings{Combine: hvp.CombineSum, Radius: 1e6})
	rec, err := s.Iterate()
	if err != nil {
		t.Fatal(err)
	}
	if rec.StepSize == 0 || rec.Fallbacks != 0 {
		t.Fatalf("step %+v", rec)
	}
	for l, w := range m.Weights {
		after := w.Value().(*tensor.Dense)
		u := make([]float64, 9)
		for i := range u {
			u[i] = (before[l].Float64s()[i] - after.Float64s()[i]) / rec.StepSize
		}
		if e := hvp.FlatRelDiff(u, want[l].Float64s()); e > tol {
			t.Errorf("block %d: direction vs dense Newton: %.2e > %.2e", l, e, tol)
		}
	}
}

// A refused block (batch > fan-in) falls back to CG, and it is counted and
// explained.
func TestNewtonFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	_, p := mlp(t, rng, 8, 3, []int{3, 3}, leaky())
	s := hvp.NewNewton(p, nil)
	rec, err := s.Iterate()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Fallbacks == 0 || s.Fallbacks != rec.Fallbacks {
		t.Fatalf("no fallback counted: %+v", rec)
	}
	b := rec.Blocks[0]
	if b.Kind != hvp.KindCG || !strings.Contains(b.Fallback, "refused") || !(b.Slope > 0) {
		t.Errorf("block 0: %+v", b)
	}
	if !(rec.NewLoss < rec.Loss) {
		t.Errorf("loss %.6g → %.6g", rec.Loss, rec.NewLoss)
	}
	// With the gradient fallback the step is a gradient step on that block.
	s2 := hvp.NewNewton(p, &hvp.NewtonSettings{Fallback: hvp.FallbackGradient})
	rec, err = s2.Iterate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Blocks[0].Fallback, "gradient step") {
		t.Errorf("gradient fallback: %+v", rec.Blocks[0])
	}
}

// Newton as a gorgonia.Solver writes the new weights into the model.
func TestNewtonAsGorgoniaSolver(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 33))
	m, p := square(t, rng, 2, 4)
	own := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		own[k] = w.Value().(*tensor.Dense).Clone().(*tensor.Dense)
	}
	_, g, _ := p.Gradient()
	model, err := p.ValueGrads(g)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := p.LossValue()
	if err := hvp.NewNewton(p, nil).Step(model); err != nil {
		t.Fatal(err)
	}
	after, _ := p.LossValue()
	if !(after < before) {
		t.Errorf("loss %.6g → %.6g", before, after)
	}
	for k := range model {
		got := model[k].Value().(*tensor.Dense).Float64s()
		want := m.Weights[k].Value().(*tensor.Dense).Float64s()
		if hvp.FlatRelDiff(got, want) != 0 {
			t.Errorf("model %d not updated to the new weights", k)
		}
	}
	_ = own
}

// The gonum adapter: Func and Grad agree with Gradient, and LBFGS lowers
// the loss.
func TestGonumProblem(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 34))
	m, p := square(t, rng, 2, 4)
	x0 := hvp.Flatten(weights(m))
	var perr error
	prob := p.Problem(&perr)
	loss, g, _ := p.Gradient()
	if f := prob.Func(x0); f != loss {
		t.Errorf("Func %.17g, loss %.17g", f, loss)
	}
	grad := make([]float64, len(x0))
	prob.Grad(grad, x0)
	if hvp.FlatRelDiff(grad, hvp.Flatten(g)) != 0 {
		t.Error("Grad differs from Gradient")
	}
	res, err := optimize.Minimize(prob, x0, &optimize.Settings{MajorIterations: 50}, &optimize.LBFGS{})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if perr != nil {
		t.Fatal(perr)
	}
	if !(res.F < loss/10) {
		t.Errorf("LBFGS: loss %.4g → %.4g", loss, res.F)
	}
}

func weights(m *nets.MLP) []*tensor.Dense {
	out := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		out[k] = w.Value().(*tensor.Dense)
	}
	return out
}
