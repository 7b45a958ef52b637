package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convnet builds, in Gorgonia's idiom, a small convolutional classifier on
// N = 4 images of 1×8×8: Conv2d(3×3, pad 1, stride 1) to 2 channels,
// Rectify, MaxPool2D(2×2, stride 2), Conv2d(3×3, stride 2, pad 1) to 3
// channels, Rectify, Reshape to (N, 12), Mul by a dense 12×5 matrix,
// SoftMax and the mean cross-entropy. Its weights are the kernels k1
// (2, 1, 3, 3), k2 (3, 2, 3, 3) and the matrix W.
func convnet(t testing.TB, dt tensor.Dtype, seed uint64) *gnet {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 21))
	val := func(scale float64, shape ...int) tensor.Tensor {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return testnet.Tensor(x, shape, dt)
	}
	g := G.NewGraph()
	n := &gnet{g: g}
	n.x = G.NewTensor(g, dt, 4, G.WithShape(4, 1, 8, 8), G.WithName("images"), G.WithValue(val(1, 4, 1, 8, 8)))
	n.y = G.NewMatrix(g, dt, G.WithShape(4, 5), G.WithName("labels"), G.WithValue(probabilities(t, val(1, 4, 5), dt)))
	k1 := G.NewTensor(g, dt, 4, G.WithShape(2, 1, 3, 3), G.WithName("k1"), G.WithValue(val(0.5, 2, 1, 3, 3)))
	k2 := G.NewTensor(g, dt, 4, G.WithShape(3, 2, 3, 3), G.WithName("k2"), G.WithValue(val(0.5, 3, 2, 3, 3)))
	w := G.NewMatrix(g, dt, G.WithShape(12, 5), G.WithName("W"), G.WithValue(val(0.5, 12, 5)))
	n.weights = []*G.Node{k1, k2, w}
	c1 := G.Must(G.Rectify(G.Must(G.Conv2d(n.x, k1, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))))
	p1 := G.Must(G.MaxPool2D(c1, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	c2 := G.Must(G.Rectify(G.Must(G.Conv2d(p1, k2, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1}))))
	flat := G.Must(G.Reshape(c2, tensor.Shape{4, 12}))
	logp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Mul(flat, w))))))
	n.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(n.y, logp)), 1))))))
	return n
}

// convnetExample builds a model with the constructs of Gorgonia's
// examples/convnet (not its code): three Conv2d(3×3, pad 1, stride 1)–
// Rectify–MaxPool2D(2×2, stride 2) layers on N = 4 images of 1×28×28 (2,
// 3, 4 channels: 28 → 14 → 7 → 3), a reshape to (N, 36), a dense layer
// with Rectify, a dense output layer, SoftMax, and the example's loss
// −mean(log(p ⊙ y)) with labels of 0.1 and 0.9.
func convnetExample(t testing.TB, dt tensor.Dtype, seed uint64) *gnet {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 28))
	val := func(scale float64, shape ...int) tensor.Tensor {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return testnet.Tensor(x, shape, dt)
	}
	g := G.NewGraph()
	n := &gnet{g: g}
	n.x = G.NewTensor(g, dt, 4, G.WithShape(4, 1, 28, 28), G.WithName("x"), G.WithValue(val(1, 4, 1, 28, 28)))
	labels := make([]float64, 4*5)
	for i := range labels {
		labels[i] = 0.1
	}
	for i := range 4 {
		labels[i*5+rng.IntN(5)] = 0.9
	}
	n.y = G.NewMatrix(g, dt, G.WithShape(4, 5), G.WithName("y"), G.WithValue(testnet.Tensor(labels, []int{4, 5}, dt)))
	h := n.x
	for l, c := range [][2]int{{2, 1}, {3, 2}, {4, 3}} {
		k := G.NewTensor(g, dt, 4, G.WithShape(c[0], c[1], 3, 3), G.WithName(fmt.Sprintf("w%d", l)), G.WithValue(val(0.5, c[0], c[1], 3, 3)))
		n.weights = append(n.weights, k)
		a := G.Must(G.Rectify(G.Must(G.Conv2d(h, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))))
		h = G.Must(G.MaxPool2D(a, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	}
	s := h.Shape()
	r := G.Must(G.Reshape(h, tensor.Shape{s[0], s[1] * s[2] * s[3]}))
	w3 := G.NewMatrix(g, dt, G.WithShape(36, 8), G.WithName("w3"), G.WithValue(val(0.3, 36, 8)))
	w4 := G.NewMatrix(g, dt, G.WithShape(8, 5), G.WithName("w4"), G.WithValue(val(0.3, 8, 5)))
	n.weights = append(n.weights, w3, w4)
	out := G.Must(G.SoftMax(G.Must(G.Mul(G.Must(G.Rectify(G.Must(G.Mul(r, w3)))), w4))))
	n.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Log(G.Must(G.HadamardProd(out, n.y))))))))
	return n
}

// equalPatterns reports whether two activation patterns (hvp.Point) are
// equal.
func equalPatterns(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !floats.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// A convolutional net in Gorgonia's idiom (Conv2d, Rectify, MaxPool2D,
// Reshape, Mul, SoftMax, cross-entropy): hvp.New accepts it; its gradient
// is G.Grad's (TapeMachine; float64: 1e-12, a backward pass in another
// order; float32: 1e-4, Gorgonia's float32 rounding); Hv equals central
// differences of G.Grad run by Gorgonia's TapeMachine, converging as O(r²)
// (halving r divides the difference by ≈ 4; r = 1e-4 keeps the ReLU masks
// and pooling argmaxes of the segment, checked, so the loss is smooth
// there, and rounding ε‖g‖/r ≈ 1e-12 stays far below r²); GGNv is
// symmetric (⟨u, Gv⟩ = ⟨v, Gu⟩ to rounding, 1e-12) and positive
// semidefinite. The float32 model's Hv is the float64 twin's at the same
// values, rounded (2⁻²⁴ ≈ 6e-8 per element: 1e-7), and the twin's Hv is
// the one checked against central differences of its G.Grad (float32
// differences would drown in rounding).
func TestConvnetGorgonia(t *testing.T) {
	models := []struct {
		name     string
		build    func(testing.TB, tensor.Dtype, uint64) *gnet
		patterns int     // frozen nodes: ReLU masks and poolings' argmaxes
		seed     uint64  // one whose pattern holds within r of the weights (checked)
		sym      float64 // GGNv's symmetry in float64, relative (see below)
	}{
		{"small", convnet, 3, 1, 1e-12},                               // 2 ReLU masks, 1 argmax
		{"examples/convnet's constructs", convnetExample, 8, 3, 1e-9}, // 4 masks, 3 argmaxes, G.Mean's ones
	}
	for _, model := range models {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(model.name+"/"+dt.String(), func(t *testing.T) {
				n := model.build(t, dt, model.seed)
				twin := model.build(t, tensor.Float64, model.seed) // the float64 model at n's values
				for k, w := range twin.weights {
					if err := G.Let(w, testnet.Tensor(valueData(t, n.weights[k].Value()), w.Shape(), tensor.Float64)); err != nil {
						t.Fatal(err)
					}
				}
				for _, in := range [][2]*G.Node{{n.x, twin.x}, {n.y, twin.y}} {
					if err := G.Let(in[1], testnet.Tensor(valueData(t, in[0].Value()), in[1].Shape(), tensor.Float64)); err != nil {
						t.Fatal(err)
					}
				}
				p, err := hvp.New(n.loss, n.weights...)
				if err != nil {
					t.Fatal(err)
				}
				for l := range p.Blocks() {
					t.Logf("block %s", p.Block(l).Name())
				}
				_, grads, err := p.Gradient()
				if err != nil {
					t.Fatal(err)
				}
				gg := newGorgoniaGrad(t, n)
				w0 := gg.weights(t)
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-4
				}
				if d := flatRelDiff(grads.Flat(), flatten(gg.at(t, w0))); !(d <= tol) {
					t.Errorf("gradient differs from G.Grad's by %.3g", d)
				}
				rng := rand.New(rand.NewPCG(4, 4))
				v := randomLike(rng, p)
				hv, err := p.Hv(v)
				if err != nil {
					t.Fatal(err)
				}
				for k, w := range n.weights {
					if ht := hv.Tensors()[k]; !ht.Shape().Eq(w.Shape()) || ht.Dtype() != dt {
						t.Fatalf("Hv for %s: shape %v dtype %v, want %v %v", w.Name(), ht.Shape(), ht.Dtype(), w.Shape(), dt)
					}
				}
				// The pattern must not change on the segments the differences use.
				pt0, err := p.At(nil)
				if err != nil {
					t.Fatal(err)
				}
				const r = 1e-4
				for _, s := range []float64{r, -r} {
					ws, err := p.Current()
					if err != nil {
						t.Fatal(err)
					}
					ws.AddScaled(s, v)
					pt, err := p.At(ws)
					if err != nil {
						t.Fatal(err)
					}
					if !equalPatterns(pt.Pattern, pt0.Pattern) {
						t.Fatalf("the activation pattern changes within r = %g of the weights: pick another seed", s)
					}
				}
				if len(pt0.Pattern) != model.patterns {
					t.Errorf("pattern of %d nodes: want the frozen nodes, %d ReLU masks and poolings' argmaxes", len(pt0.Pattern), model.patterns)
				}
				hvRef := hv // the float64 Hv the differences check
				if dt == tensor.Float32 {
					p64, err := hvp.New(twin.loss, twin.weights...)
					if err != nil {
						t.Fatal(err)
					}
					if hvRef, err = p64.Hv(v); err != nil {
						t.Fatal(err)
					}
					if d := flatRelDiff(hv.Flat(), hvRef.Flat()); d > 1e-7 {
						t.Errorf("float32 Hv differs from the float64 twin's by %.3g", d)
					}
				}
				ref := newGorgoniaGrad(t, twin)
				rw0 := ref.weights(t)
				fd := func(r float64) float64 { return flatRelDiff(ref.central(t, rw0, v, r), hvRef.Flat()) }
				e1, e2 := fd(r), fd(r/2)
				ref.at(t, rw0)
				t.Logf("‖Hv − FD(G.Grad)‖/‖Hv‖: r = %g: %.3g, r/2: %.3g (ratio %.3f)", r, e1, e2, e2/e1)
				if e1 > 1e-6 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
					t.Errorf("Hv vs central differences of G.Grad: %.3g at r, %.3g at r/2 (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
				}
				u := randomLike(rng, p)
				gv, err := p.GGNv(v)
				if err != nil {
					t.Fatal(err)
				}
				gu, err := p.GGNv(u)
				if err != nil {
					t.Fatal(err)
				}
				a, b := u.Dot(gv), v.Dot(gu)
				// Rounding: 1e-12 relative where the output's Hessian is
				// moderate; examples/convnet's loss −mean(log(p ⊙ y)) has
				// the output Hessian diag(1/p²)/N, whose large entries
				// (small probabilities) amplify the rounding of terms that
				// cancel in ⟨u, Gv⟩: 1e-9 (measured 1.3e-10).
				sym := model.sym
				if dt == tensor.Float32 {
					sym = 1e-6 // each product rounded to float32
				}
				t.Logf("⟨u, Gv⟩ = %.6g, ⟨v, Gu⟩ = %.6g, ⟨v, Gv⟩ = %.6g", a, b, v.Dot(gv))
				if math.Abs(a-b) > sym*(math.Abs(a)+math.Abs(b)) {
					t.Errorf("GGNv not symmetric: ⟨u, Gv⟩ = %g, ⟨v, Gu⟩ = %g", a, b)
				}
				if !(v.Dot(gv) >= 0) || !(u.Dot(gu) >= 0) {
					t.Errorf("GGN not positive semidefinite: ⟨v, Gv⟩ = %g, ⟨u, Gu⟩ = %g", v.Dot(gv), u.Dot(gu))
				}
				t.Log(p.Conditions())
				// A kernel's block has no inverse route yet (the per-sample
				// route needs the weight as the right factor h·W): InvHv says
				// so with a typed error, never a panic or a silent result.
				for l := range 2 { // k1, k2 (small) or w0, w1
					if _, err := p.Block(l).InvHv(v.Block(l), nil); err == nil || errors.Is(err, errs.ErrInternal) || errs.Sentinel(err) == nil {
						t.Errorf("block %s: InvHv gave %v, want a typed refusal", p.Block(l).Name(), err)
					}
				}
			})
		}
	}
}

// The optimizers on the convnet (float64): HF, on exact Gauss–Newton
// products, takes a step that lowers the loss as Gorgonia's TapeMachine
// computes it; K-FAC has KFC's factors for the kernels (hvp.Factors) and
// steps every block by its factors, none by the gradient.
func TestConvnetOptimizers(t *testing.T) {
	n := convnet(t, tensor.Float64, 1)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	kfac, err := solver.NewKFAC(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	krec, err := kfac.Step()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("KFAC: α %g, blocks by the gradient: %v", krec.StepSize, krec.Fallbacks)
	if len(krec.Fallbacks) != 0 || krec.StepSize == 0 {
		t.Fatalf("KFAC record %+v: want every block, the two kernels included, stepped by its factors", krec)
	}
	if err := p.SetWeights(w0); err != nil {
		t.Fatal(err)
	}
	gorgoniaLoss := func() float64 {
		m := G.NewTapeMachine(n.g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return testnet.ScalarOf(n.loss.Value())
	}
	before := gorgoniaLoss()
	hf, err := solver.NewHF(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := hf.Step()
	if err != nil {
		t.Fatal(err)
	}
	after := gorgoniaLoss()
	t.Logf("HF: loss %.6g → %.6g (Gorgonia's TapeMachine: %.6g → %.6g), α %g, detail %+v", rec.LossBefore, rec.LossAfter, before, after, rec.StepSize, rec.Detail)
	if !(after < before) || math.Abs(after-rec.LossAfter) > 1e-12*math.Abs(after) {
		t.Errorf("HF step: Gorgonia's loss %g → %g, HF's record says %g", before, after, rec.LossAfter)
	}
}

// The same convnet written with newtonia's own float64 ops (ops.Conv2d,
// ops.MaxPool, ReLU, ops.Reshape, the fused softmax cross-entropy): its
// graph is not translated, its 4-D weights go through the passes as they
// are, and its gradient, Hv and GGNv equal those of the Gorgonia model at
// the same values (checked above against G.Grad) to 1e-12 — the same
// arithmetic built twice, once by the translation.
func TestConvnetNewtoniaOps(t *testing.T) {
	n := convnet(t, tensor.Float64, 1)
	pg, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	input := func(name string, like *G.Node) *G.Node {
		return G.NewTensor(g, tensor.Float64, like.Dims(), G.WithShape(like.Shape()...), G.WithName(name), G.WithValue(like.Value()))
	}
	x, y := input("images", n.x), input("labels", n.y)
	k1, k2, w := input("k1", n.weights[0]), input("k2", n.weights[1]), input("W", n.weights[2])
	relu := func(z *G.Node) *G.Node { return G.Must(ops.Map(ops.ReLUFunc{}, z)) }
	c1 := relu(G.Must(ops.Conv2d(x, k1, ops.Window{KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1})))
	p1 := G.Must(ops.MaxPool(c1, ops.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2}))
	c2 := relu(G.Must(ops.Conv2d(p1, k2, ops.Window{KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 2, StrideW: 2, DilationH: 1, DilationW: 1})))
	z := G.Must(ops.MatMul(G.Must(ops.Reshape(c2, 4, 12)), w))
	loss := G.Must(ops.Apply(ops.ScaleOp{C: 0.25}, G.Must(ops.Apply(ops.SoftmaxCEOp{}, z, y))))
	po, err := hvp.New(loss, k1, k2, w)
	if err != nil {
		t.Fatal(err)
	}
	lg, gg, err := pg.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	lo, gradO, err := po.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lo-lg) > 1e-12*math.Abs(lg) {
		t.Errorf("loss %v, the Gorgonia model's %v", lo, lg)
	}
	if d := flatRelDiff(gradO.Flat(), gg.Flat()); d > 1e-12 {
		t.Errorf("gradient differs from the Gorgonia model's by %.3g", d)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	v := randomLike(rng, pg)
	for name, f := range map[string]func(p *hvp.Problem) (*params.Vector, error){
		"Hv":   func(p *hvp.Problem) (*params.Vector, error) { return p.Hv(v) },
		"GGNv": func(p *hvp.Problem) (*params.Vector, error) { return p.GGNv(v) },
	} {
		a, err := f(po)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := f(pg)
		if err != nil {
			t.Fatal(err)
		}
		if d := flatRelDiff(a.Flat(), b.Flat()); d > 1e-12 {
			t.Errorf("%s differs from the Gorgonia model's by %.3g", name, d)
		}
	}
}
