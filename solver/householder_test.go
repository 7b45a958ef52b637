package solver_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// cubicProblem returns f(x) − ⟨c, x⟩ for x a 3×1 weight at x0: the
// writeup's functions made to have a regular stationary point.
func cubicProblem(t *testing.T, f func(*G.Node) (*G.Node, error), x0, c []float64) *hvp.Problem {
	t.Helper()
	g := G.NewGraph()
	col := func(d []float64) *tensor.Dense {
		return tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), d...)))
	}
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(col(x0)))
	cn := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("c"), G.WithValue(col(c)))
	loss, err := ops.Sub(G.Must(f(x)), G.Must(ops.Inner(cn, x)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tanhBlockProblem returns a tanh net's last block (W2+b2) with targets
// of a teacher (reachable: J = 0 at the solution) and batch = fan-in + 1,
// so that the per-sample B-pass is exact, started at the teacher's
// weights perturbed by scale.
func tanhBlockProblem(t *testing.T, rng *rand.Rand, act ops.ScalarFunc, scale float64) (*hvp.Problem, int) {
	t.Helper()
	const in, hid, out = 3, 4, 2
	m, err := nets.Build(nets.Spec{Batch: hid + 1, In: in, Layers: []nets.Layer{{Out: hid, Act: act, Bias: true}, {Out: out, Act: act, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.7, 0); err != nil {
		t.Fatal(err)
	}
	// y = the net's output at the teacher's weights, by Gorgonia's own
	// machine (before the passes are added to the graph).
	if err := G.Let(m.Y, tensor.New(tensor.WithShape(hid+1, out), tensor.WithBacking(make([]float64, (hid+1)*out)))); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(m.Graph)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y := m.Out.Value().(*tensor.Dense).Clone().(*tensor.Dense)
	vm.Close()
	if err := G.Let(m.Y, y); err != nil {
		t.Fatal(err)
	}
	teacher, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	w, err := teacher.Current()
	if err != nil {
		t.Fatal(err)
	}
	l := teacher.Blocks() - 1
	b := w.Block(l)
	for k := range b.Layout().Weights() {
		for i := range b.Weight(k) {
			b.Weight(k)[i] += scale * rng.NormFloat64()
		}
	}
	if err := teacher.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	return teacher, l
}

// The Householder steps converge with their orders: Newton's ≈ 2,
// Halley's and Chebyshev's ≥ 2.8 (theory: 3), and reach ‖g‖ ≤ 1e-12 in
// fewer iterations than Newton on the writeup's functions and a tanh net's
// block. The orders are estimated where the errors are above 1e-14: the
// rounding floor of ‖g‖ on these problems is about 1e-16 (the runs end
// there), so estimates from errors a hundred times above it are the
// method's, not rounding's.
func TestHouseholderOrders(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	// Σ xᵢ³ − ⟨c, x⟩, c = 3a²: root a. x₁x₂x₃ − ⟨c, x⟩: root P/c, P = √(c₁c₂c₃).
	a := []float64{1, -1.5, 2}
	c3 := []float64{3 * a[0] * a[0], 3 * a[1] * a[1], 3 * a[2] * a[2]}
	type problem struct {
		name string
		make func() (*hvp.Problem, int)
	}
	problems := []problem{
		{"Σ xᵢ³ − ⟨c, x⟩", func() (*hvp.Problem, int) { return cubicProblem(t, sumCubes, []float64{1.1, -1.3, 2.2}, c3), 0 }},
		{"x₁x₂x₃ − ⟨c, x⟩", func() (*hvp.Problem, int) {
			return cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4}), 0
		}},
		{"tanh net, last block", func() (*hvp.Problem, int) {
			return tanhBlockProblem(t, rand.New(rand.NewPCG(23, 23)), ops.TanhFunc{}, 0.15) // the same problem for every method
		}},
	}
	for _, pr := range problems {
		iters := map[solver.Householder]int{}
		for _, m := range []solver.Householder{solver.HouseholderNewton, solver.HouseholderHalley, solver.HouseholderChebyshev} {
			p, l := pr.make()
			tr, err := solver.IterateBlock(p, l, m, 30, 1e-12, nil)
			if err != nil {
				t.Fatalf("%s, %v: %v (errors %.3g)", pr.name, m, err, tr.Errors)
			}
			e := tr.Errors
			if e[len(e)-1] > 1e-12 {
				t.Fatalf("%s, %v: not converged: %.3g", pr.name, m, e)
			}
			iters[m] = len(e) - 1
			ord := solver.Orders(e, 1e-14)
			if len(ord) == 0 {
				t.Fatalf("%s, %v: no order estimate from %.3g", pr.name, m, e)
			}
			top := ord[len(ord)-1]
			t.Logf("%s, %v: %d iterations, errors %.2g, orders %.2f", pr.name, m, iters[m], e, ord)
			switch m {
			case solver.HouseholderNewton:
				if top < 1.7 || top > 2.5 {
					t.Errorf("%s: Newton's order %.2f, want ≈ 2", pr.name, top)
				}
			default:
				if top < 2.8 {
					t.Errorf("%s: %v's order %.2f, want ≥ 2.8", pr.name, m, top)
				}
			}
			for _, st := range tr.Steps {
				if !st.Certified {
					t.Errorf("%s, %v: a step not certified (residual %.2g)", pr.name, m, st.Residual)
				}
			}
		}
		for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
			if iters[m] >= iters[solver.HouseholderNewton] {
				t.Errorf("%s: %v took %d iterations, Newton %d", pr.name, m, iters[m], iters[solver.HouseholderNewton])
			}
		}
	}
}

// Within an activation pattern a one-layer leaky net with squared error
// is quadratic: T = 0, so Halley's and Chebyshev's steps are Newton's,
// to rounding.
func TestHalleyIsNewtonWhenTIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 4, Layers: []nets.Layer{{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gl := g.Block(0).Clone()
	newton, err := solver.BlockHouseholder(p, 0, gl, solver.HouseholderNewton, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []solver.Householder{solver.HouseholderHalley, solver.HouseholderChebyshev} {
		st, err := solver.BlockHouseholder(p, 0, gl, m, nil)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if d := flatRelDiff(st.S.Flat(), newton.S.Flat()); d > 1e-14 {
			t.Errorf("%v's step differs from Newton's by %.1e with T = 0", m, d)
		}
	}
}

// Bad arguments are typed errors naming them.
func TestHouseholderArguments(t *testing.T) {
	p := cubicProblem(t, ops.Product, []float64{1, 2, 3}, []float64{1, 1, 1})
	g := params.New(p.Layout().Block(0))
	var ae *errs.ArgumentError
	if _, err := solver.BlockHouseholder(p, 0, g, solver.Householder(7), nil); !errors.As(err, &ae) || ae.What != "method" {
		t.Errorf("method 7: %v", err)
	}
	if _, err := solver.BlockHouseholder(p, 0, g, solver.HouseholderHalley, &solver.HouseholderOptions{GMRESTol: 2}); !errors.As(err, &ae) || ae.What != "HouseholderOptions.GMRESTol" {
		t.Errorf("GMRESTol 2: %v", err)
	}
	if _, err := solver.BlockHouseholder(p, 3, g, solver.HouseholderHalley, nil); !errors.As(err, &ae) || ae.What != "block" {
		t.Errorf("block 3: %v", err)
	}
	if o := solver.Orders([]float64{1, 0.1}, 0); o != nil {
		t.Errorf("Orders of two errors: %v, want none", o)
	}
}

// BlockNewton with Degree 2 takes Halley's (or Chebyshev's) step on every
// block: on the writeup's x₁x₂x₃ − ⟨c, x⟩ (one block, so the subspace
// coefficient is 1 and the line search takes full steps near the
// solution) it reaches ‖g‖ ≤ 1e-12 in fewer steps than Degree 1, and
// records the degree used. Degree 3 is refused, naming the field.
func TestBlockNewtonDegree(t *testing.T) {
	steps := map[string]int{}
	for _, c := range []struct {
		name string
		s    solver.BlockNewtonSettings
	}{
		{"newton", solver.BlockNewtonSettings{}},
		{"halley", solver.BlockNewtonSettings{Degree: 2}},
		{"chebyshev", solver.BlockNewtonSettings{Degree: 2, Chebyshev: true}},
	} {
		p := cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})
		o, err := solver.NewBlockNewton(p, &c.s)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			_, g, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			if g.Norm() <= 1e-12 {
				steps[c.name] = k
				break
			}
			_, det, err := newtonStep(o)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(c.s.Degree, 1); det.Blocks[0].Degree != want {
				t.Errorf("%s, step %d: degree %d (%s), want %d", c.name, k, det.Blocks[0].Degree, det.Blocks[0].Householder, want)
			}
		}
		if steps[c.name] == 0 {
			t.Fatalf("%s: not converged in 20 steps", c.name)
		}
	}
	t.Logf("steps to ‖g‖ ≤ 1e-12: %v", steps)
	if steps["halley"] >= steps["newton"] || steps["chebyshev"] >= steps["newton"] {
		t.Errorf("steps %v: want fewer for Halley and Chebyshev than for Newton", steps)
	}
	p := cubicProblem(t, ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})
	var ae *errs.ArgumentError
	if _, err := solver.NewBlockNewton(p, &solver.BlockNewtonSettings{Degree: 3}); !errors.As(err, &ae) || ae.What != "BlockNewtonSettings.Degree" {
		t.Errorf("Degree 3: %v", err)
	}
}

// On a two-block tanh net (CombineSubspace, the line search) Degree 2
// steps never raise the loss, every block takes Halley's step where it is
// certified, and why it did not is said otherwise.
func TestBlockNewtonDegreeTwoBlocks(t *testing.T) {
	p, _ := tanhBlockProblem(t, rand.New(rand.NewPCG(23, 23)), ops.TanhFunc{}, 0.15)
	o, err := solver.NewBlockNewton(p, &solver.BlockNewtonSettings{Degree: 2})
	if err != nil {
		t.Fatal(err)
	}
	halley := 0
	for k := 0; k < 5; k++ {
		rec, det, err := newtonStep(o)
		if err != nil {
			t.Fatal(err)
		}
		if rec.LossAfter > rec.LossBefore {
			t.Errorf("step %d: loss %.6g → %.6g", k, rec.LossBefore, rec.LossAfter)
		}
		for l, b := range det.Blocks {
			switch {
			case b.Degree == 2:
				halley++
			case b.Direction == solver.DirectionBPass && b.Householder == "":
				t.Errorf("step %d, block %d: degree %d with no reason", k, l, b.Degree)
			}
		}
	}
	if halley == 0 {
		t.Errorf("no block took Halley's step")
	}
}
