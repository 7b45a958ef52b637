package solver_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gval is a tensor of the given shape and dtype with entries scale·N(0, 1).
func gval(rng *rand.Rand, dt tensor.Dtype, scale float64, shape ...int) tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * rng.NormFloat64()
	}
	return gtensor(dt, x, shape...)
}

// gtensor is x as a tensor of dtype dt (float32: rounded).
func gtensor(dt tensor.Dtype, x []float64, shape ...int) tensor.Tensor {
	if dt == tensor.Float32 {
		y := make([]float32, len(x))
		for i := range x {
			y[i] = float32(x[i])
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(y))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}

// gconst is a scalar constant of dtype dt.
func gconst(dt tensor.Dtype, v float64, name string) *G.Node {
	if dt == tensor.Float32 {
		return G.NewConstant(float32(v), G.WithName(name))
	}
	return G.NewConstant(v, G.WithName(name))
}

// l2Net is a 5-6-3 tanh net written with Gorgonia's API, as its users
// write one: mean squared error over a batch of 16, plus, when decay > 0,
// weight decay decay·(ΣW1² + ΣW2²) built from G.Square and G.Sum — each
// weight matrix is then used twice, by its layer and by the penalty.
func l2Net(t *testing.T, dt tensor.Dtype, decay float64) *hvp.Problem {
	t.Helper()
	return l2NetOf(t, dt, decay, true)
}

// l2NetOf is l2Net, its penalty on W1 alone unless both.
func l2NetOf(t *testing.T, dt tensor.Dtype, decay float64, both bool) *hvp.Problem {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	B, in, hid, out := 16, 5, 6, 3
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B, out)))
	w1 := G.NewMatrix(g, dt, G.WithShape(in, hid), G.WithName("W1"), G.WithValue(gval(rng, dt, 0.5, in, hid)))
	b1 := G.NewVector(g, dt, G.WithShape(hid), G.WithName("b1"), G.WithValue(gval(rng, dt, 0.1, hid)))
	w2 := G.NewMatrix(g, dt, G.WithShape(hid, out), G.WithName("W2"), G.WithValue(gval(rng, dt, 0.5, hid, out)))
	b2 := G.NewVector(g, dt, G.WithShape(out), G.WithName("b2"), G.WithValue(gval(rng, dt, 0.1, out)))
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
	o := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w2)), b2, nil, []byte{0}))
	cost := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(o, y))))))
	if decay > 0 {
		pen := G.Must(G.Sum(G.Must(G.Square(w1))))
		if both {
			pen = G.Must(G.Add(pen, G.Must(G.Sum(G.Must(G.Square(w2))))))
		}
		cost = G.Must(G.Add(cost, G.Must(G.Mul(gconst(dt, decay, "decay"), pen))))
	}
	p, err := hvp.New(cost, w1, b1, w2, b2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tiedNetOf is l2Net's 5-6-3 tanh net without decay, its W1 (and, if both,
// its W2) tied: each layer computes a·W + tie·(a·tanh(W)), using W twice. Such a
// block has no per-sample route (its weight is used twice by the data, not
// by a penalty on the weights alone), no op-by-op inverse, and no
// Kronecker factors (tanh(W) is not a product's factor, hvp's tied.go).
// Without biases, b1 and b2 are constants, not weights (a lone bias has
// K-FAC factors of its own).
func tiedNetOf(t *testing.T, tie float64, both, biases bool) *hvp.Problem {
	t.Helper()
	dt := tensor.Float64
	rng := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	B, in, hid, out := 16, 5, 6, 3
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B, out)))
	w1 := G.NewMatrix(g, dt, G.WithShape(in, hid), G.WithName("W1"), G.WithValue(gval(rng, dt, 0.5, in, hid)))
	b1 := G.NewVector(g, dt, G.WithShape(hid), G.WithName("b1"), G.WithValue(gval(rng, dt, 0.1, hid)))
	w2 := G.NewMatrix(g, dt, G.WithShape(hid, out), G.WithName("W2"), G.WithValue(gval(rng, dt, 0.5, hid, out)))
	b2 := G.NewVector(g, dt, G.WithShape(out), G.WithName("b2"), G.WithValue(gval(rng, dt, 0.1, out)))
	// tied(a, w) is a·w + tie·(a·tanh(w)): w used twice, as the right
	// factor of a·w and by tanh, both inside the net's output — a tie of no
	// form K-FAC has factors for (hvp's tied.go factors products and bias
	// adds only).
	tied := func(a, w *G.Node) *G.Node {
		return G.Must(G.Add(G.Must(G.Mul(a, w)), G.Must(G.Mul(gconst(dt, tie, "tie"), G.Must(G.Mul(a, G.Must(G.Tanh(w))))))))
	}
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(tied(x, w1), b1, nil, []byte{0}))))
	z := G.Must(G.Mul(h, w2))
	if both {
		z = tied(h, w2)
	}
	o := G.Must(G.BroadcastAdd(z, b2, nil, []byte{0}))
	cost := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(o, y))))))
	ws := []*G.Node{w1, w2}
	if biases {
		ws = []*G.Node{w1, b1, w2, b2}
	}
	p, err := hvp.New(cost, ws...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A block whose damped B-pass fails, and whose undamped one fails for the
// same reason, says that reason once in BlockStep.Replaced, followed by
// what replaced the step (issue 19 item 13: it was repeated). The reason's
// text is the error of an independent undamped InvHv call. The net's
// weights are tied (tiedNetOf): weight decay no longer takes the
// per-sample route away (method.md §11), tying does.
func TestNewtonReplacedSaysReasonOnce(t *testing.T) {
	for _, decay := range []float64{1e-3} {
		p := tiedNetOf(t, decay, true, true)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		// The dense route capped (Checks.MaxFlops): the B-pass fails damped
		// and undamped.
		capped := hvp.Options{MaxFlops: 1}
		_, rec, err := newtonStep(newOpt(t, "newton", p, &solver.DampedNewtonSettings{Checks: capped}))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for l, bs := range rec.Blocks {
			_, err := p.Block(l).InvHv(g.Block(l), &capped)
			if err == nil || bs.Replaced == "" || strings.Contains(bs.Replaced, "dense per-sample solve") {
				continue
			}
			checked++
			if n := strings.Count(bs.Replaced, err.Error()); n != 1 {
				t.Errorf("decay %g, block %d: the reason appears %d times in Replaced %q", decay, l, n, bs.Replaced)
			}
			if !strings.HasSuffix(bs.Replaced, "conjugate gradients") && !strings.HasSuffix(bs.Replaced, "gradient step") {
				t.Errorf("decay %g, block %d: Replaced %q does not say what replaced the step", decay, l, bs.Replaced)
			}
		}
		if checked == 0 {
			t.Errorf("decay %g: no block fell back past the dense solve: %+v", decay, rec.Blocks)
		}
	}
}

// probNet is Gorgonia's example 286 in small (a ReLU net whose cost is
// −mean(softmax(h·W1) ⊙ y), of the probabilities, not of their logarithm),
// batch 16, 20-30-10, one-hot targets.
func probNet(t *testing.T, dt tensor.Dtype) *hvp.Problem {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 2))
	g := G.NewGraph()
	B, in, hid, out := 16, 20, 30, 10
	yv := make([]float64, B*out)
	for i := range B {
		yv[i*out+rng.IntN(out)] = 1
	}
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gtensor(dt, yv, B, out)))
	w0 := G.NewMatrix(g, dt, G.WithShape(in, hid), G.WithName("w0"), G.WithValue(gval(rng, dt, 0.2, in, hid)))
	w1 := G.NewMatrix(g, dt, G.WithShape(hid, out), G.WithName("w1"), G.WithValue(gval(rng, dt, 0.2, hid, out)))
	h := G.Must(G.Rectify(G.Must(G.Mul(x, w0))))
	prob := G.Must(G.SoftMax(G.Must(G.Mul(h, w1))))
	cost := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.HadamardProd(prob, y))))))
	p, err := hvp.New(cost, w0, w1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Tied weights (tiedNetOf: each weight used twice by the data term) leave
// no block with Kronecker factors: KFAC refuses to run as gradient descent
// unless asked (AllowGradientFallback), naming every block and why; asked,
// its record names them with the typed errors, and the step is −α·g with
// α = gᵀg/gᵀGg (gᵀGg from an independent GGNv call; the net without
// biases, which would have a lone bias's factors). With W1 alone tied,
// W1's block falls back and is named, b1's (a lone bias) and W2+b2's are
// not, and the
// step is no error (issue 19 item 24: "gradient-only blocks 6", with no
// reason, was all a record said). The reasons are the errors of an
// independent BlockCurvature call (the per-sample route K-FAC needs).
// (Weight decay, which these tests used before method.md §11, no longer
// takes the factors away.)
func TestKFACNamesFallbacks(t *testing.T) {
	p := tiedNetOf(t, 1e-3, true, false)
	why := make([]string, p.Blocks())
	for l := range why {
		_, err := p.Block(l).Curvature()
		if err == nil {
			t.Fatalf("block %d has a per-sample route", l)
		}
		why[l] = err.Error()
	}
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = kfacStep(p, nil)
	if !errors.Is(err, errs.ErrCondition) {
		t.Fatalf("every block falls back: got %v, want an *errs.ConditionError", err)
	}
	for l := range why {
		if !strings.Contains(err.Error(), p.Block(l).Name()) || !strings.Contains(err.Error(), why[l]) {
			t.Errorf("the error does not name block %d (%s) and why: %v", l, p.Block(l).Name(), err)
		}
	}
	if w, _ := p.Current(); flatRelDiff(w.Flat(), w0.Flat()) != 0 {
		t.Error("the refused step moved the weights")
	}

	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	gg, err := p.GGNv(g)
	if err != nil {
		t.Fatal(err)
	}
	gf := g.Flat()
	alpha := floats.Dot(gf, gf) / floats.Dot(gf, gg.Flat())
	rec, _, err := kfacStep(p, &solver.KFACSettings{AllowGradientFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	if plainBlocks(rec) != p.Blocks() || len(rec.Fallbacks) != p.Blocks() {
		t.Fatalf("record %+v", rec)
	}
	for l, f := range rec.Fallbacks {
		var typed interface{ Is(error) bool }
		if f.Block != l || f.Weight != p.Block(l).Name() || f.Err == nil || f.Err.Error() != why[l] || !errors.As(f.Err, &typed) {
			t.Errorf("fallback %d: %+v, want block %d (%s): %s, a typed error", l, f, l, p.Block(l).Name(), why[l])
		}
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	step := w1.Flat()
	floats.Sub(step, w0.Flat())
	want := append([]float64(nil), gf...)
	floats.Scale(-alpha, want)
	// Two dot products and an axpy in float64: 1e-12.
	if e := flatRelDiff(step, want); e > 1e-12 || math.Abs(rec.StepSize-alpha) > 1e-12*alpha {
		t.Errorf("gradient step vs −(gᵀg/gᵀGg)g: %.2e (α %g, want %g)", e, rec.StepSize, alpha)
	}

	p = tiedNetOf(t, 1e-3, false, true)
	rec, _, err = kfacStep(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, f := range rec.Fallbacks {
		named[f.Weight] = true
		if _, err := p.Block(f.Block).Curvature(); err == nil || f.Err.Error() != err.Error() {
			t.Errorf("fallback %+v: BlockCurvature says %v", f, err)
		}
	}
	// A block falls back when it has no Kronecker factors (an independent
	// Kronecker call): W1, tied by tanh; b1, a lone bias without a
	// per-sample route, has a bias's factors (hvp's tied.go) and takes
	// K-FAC's step.
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		if (kf.Factors[l] == nil) != named[p.Block(l).Name()] {
			t.Errorf("block %d (%s): factors %v (%v), named as fallen back %v", l, p.Block(l).Name(), kf.Factors[l] != nil, kf.Err[l], named[p.Block(l).Name()])
		}
		if _, err := p.Block(l).Curvature(); p.Block(l).Name() == "b1" && (err == nil || named["b1"]) {
			t.Errorf("b1: route error %v, fell back %v; want a lone bias without a route, not falling back", err, named["b1"])
		}
	}
	if plainBlocks(rec) != len(rec.Fallbacks) || len(rec.Fallbacks) == 0 || len(rec.Fallbacks) == p.Blocks() {
		t.Errorf("penalty on W1: record %+v", rec)
	}
}

// Where the loss is not convex in the net's output (Gorgonia's example
// 286: a loss of softmax probabilities) the Gauss–Newton curvature along
// KFAC's direction is negative and no step length exists: KFAC takes no
// step and its record says why (issue 19 item 24: α = 0 on a float32
// model, the loss unchanged, no reason; float64 is the same — the cause is
// the loss, not the dtype). Independent evidence: gᵀGg < 0 (GGNv).
func TestKFACSaysWhyNoStep(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		p := probNet(t, dt)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		gg, err := p.GGNv(g)
		if err != nil {
			t.Fatal(err)
		}
		if c := floats.Dot(g.Flat(), gg.Flat()); !(c < 0) {
			t.Fatalf("%v: gᵀGg = %g: G is not indefinite here", dt, c)
		}
		w0, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		rec, det, err := kfacStep(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		w1, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		if rec.StepSize != 0 || flatRelDiff(w1.Flat(), w0.Flat()) != 0 {
			t.Fatalf("%v: a step was taken: %+v", dt, rec)
		}
		if !strings.Contains(det.Note, "no step") || !strings.Contains(det.Note, "not convex") {
			t.Errorf("%v: record %+v does not say why no step was taken", dt, det)
		}
	}
}

// Weight decay no longer costs K-FAC its factors (method.md §11: the
// blocks are found on the data term): on l2Net with decay every block has
// Kronecker factors, no block falls back, and the step lowers the loss.
func TestKFACWithWeightDecay(t *testing.T) {
	p := l2Net(t, tensor.Float64, 1e-3)
	before, _, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kfacStep(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Fallbacks) != 0 || !(after < before) {
		t.Errorf("KFAC with weight decay: fallbacks %v, loss %g → %g", rec.Fallbacks, before, after)
	}
}

// A vector weight (linear regression x·θ, Gorgonia's iris example's
// form: matrix × vector, one output) is a K-FAC layer of one output: its
// DD is 1×1, so A ⊗ DD is A times a scalar and the undamped K-FAC
// direction is a multiple of (XᵀX)⁻¹g, the Newton direction of the
// least-squares loss; with the exact Gauss–Newton step length (= the
// Hessian's, the loss being quadratic) one step lands on the minimum.
// Oracle: the gradient there, against the gradient at the start (1e-8:
// a 5×5 eigen-solve and a step length in float64, cond(XᵀX) ≈ 10).
func TestKFACVectorWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	dt := tensor.Float64
	g := G.NewGraph()
	B, k := 30, 5
	x := G.NewMatrix(g, dt, G.WithShape(B, k), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, k)))
	y := G.NewVector(g, dt, G.WithShape(B), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B)))
	theta := G.NewVector(g, dt, G.WithShape(k), G.WithName("theta"), G.WithValue(gval(rng, dt, 1, k)))
	cost := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(x, theta)), y))))))
	p, err := hvp.New(cost, theta)
	if err != nil {
		t.Fatal(err)
	}
	_, g0, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kfacStep(p, &solver.KFACSettings{FactorDamping: solver.NoDamping})
	if err != nil {
		t.Fatal(err)
	}
	_, g1, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Fallbacks) != 0 || g1.Norm() > 1e-8*g0.Norm() {
		t.Errorf("K-FAC on x·θ: fallbacks %v, ‖g‖ %g → %g, want one step to the minimum", rec.Fallbacks, g0.Norm(), g1.Norm())
	}
}
