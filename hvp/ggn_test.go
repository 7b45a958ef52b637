package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The Gauss–Newton product against an oracle that shares no code with it:
// for ½‖z − y‖², G v = Jᵀ(J v); J v is a central difference of the net's
// output z (r = 1e-5: O(r²) ≈ 1e-10), and Jᵀu is the gradient with the
// targets moved to y = z − u (∇ = Jᵀ(z − y)). 1e-8 relative. On a linear
// model G = H exactly (the loss is quadratic in z, z linear in W), for
// squared error and softmax cross-entropy alike: 1e-12.
func TestGGN(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 4, Layers: []nets.Layer{{Out: 6, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.SigmoidFunc{}, Bias: true}, {Out: 2, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.7, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	if z, err := p.GGNOutput(); err != nil || z == nil {
		t.Fatalf("output: %v %v", z, err)
	}
	ws := m.Params()
	v := randomLike(rng, p)
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	out := func(s float64) []float64 {
		bind := graph.Values{}
		for k, w := range ws {
			d := append([]float64(nil), data(w.Value().(*tensor.Dense))...)
			for i, x := range v.Weight(k) {
				d[i] += s * x
			}
			bind[w] = tensor.New(tensor.WithShape(w.Shape()...), tensor.WithBacking(d))
		}
		vals, err := graph.Compile("out", []*G.Node{m.Out}).Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		return data(vals[m.Out].(*tensor.Dense))
	}
	r := 1e-5
	zp, zm, z0 := out(r), out(-r), out(0)
	y := make([]float64, len(z0))
	for i := range y {
		y[i] = z0[i] - (zp[i]-zm[i])/(2*r) // z − J v
	}
	if err := G.Let(m.Y, tensor.New(tensor.WithShape(m.Y.Shape()...), tensor.WithBacking(y))); err != nil {
		t.Fatal(err)
	}
	_, want, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(gv.Flat(), want.Flat()); d > 1e-8 {
		t.Errorf("G v differs from Jᵀ(J v) by %.3g", d)
	} else {
		t.Logf("G v vs Jᵀ(J v) by finite differences and the gradient: %.2g", d)
	}
	// Symmetric and positive semi-definite on random pairs.
	u := randomLike(rng, p)
	gu, err := p.GGNv(u)
	if err != nil {
		t.Fatal(err)
	}
	a, b := dot(u, gv), dot(v, gu)
	if math.Abs(a-b) > 1e-12*math.Abs(a) || dot(v, gv) < 0 || dot(u, gu) < 0 {
		t.Errorf("⟨u, Gv⟩ = %v, ⟨v, Gu⟩ = %v, ⟨v, Gv⟩ = %v", a, b, dot(v, gv))
	}
	for _, loss := range []string{nets.HalfSquaredError, nets.SoftmaxCrossEntropy} {
		lin, err := nets.Build(nets.Spec{Batch: 5, In: 4, Loss: loss, Layers: []nets.Layer{{Out: 3, Act: ops.IdentityFunc{}, Bias: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lin.Randomize(rng, 1, 0); err != nil {
			t.Fatal(err)
		}
		pl, err := hvp.New(lin.Loss, lin.Params()...)
		if err != nil {
			t.Fatal(err)
		}
		vl := randomLike(rng, pl)
		hv, err := pl.Hv(vl)
		if err != nil {
			t.Fatal(err)
		}
		gvl, err := pl.GGNv(vl)
		if err != nil {
			t.Fatal(err)
		}
		if d := flatRelDiff(gvl.Flat(), hv.Flat()); d > 1e-12 {
			t.Errorf("%s, linear model: G v differs from H v by %.3g", loss, d)
		}
	}
}

func dot(a, b *params.Vector) float64 {
	var s float64
	x, y := a.Flat(), b.Flat()
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

// addBiasNet is a Gorgonia model whose output bias is added with G.Add
// (same shape: the batch × outputs bias of an autoencoder's output, or a
// 1-row batch as in charRNN's bias_d), not G.BroadcastAdd:
//
//	z = tanh(x W1 + 1 b1ᵀ) W2 + b2,   J = mean((z − y)²)
type addBiasNet struct {
	batch                int
	x, y, w1, b1, w2, b2 []float64
	loss, out            *G.Node
	weights              []*G.Node
}

func newAddBiasNet(t *testing.T, batch int, decay bool) *addBiasNet {
	t.Helper()
	const in, hid, out = 3, 4, 2
	rng := rand.New(rand.NewPCG(uint64(batch), 19))
	draw := func(n int) []float64 {
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return d
	}
	n := &addBiasNet{batch: batch, x: draw(batch * in), y: draw(batch * out), w1: draw(in * hid), b1: draw(hid), w2: draw(hid * out), b2: draw(batch * out)}
	g := G.NewGraph()
	node := func(name string, d []float64, s ...int) *G.Node {
		v := tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), d...)))
		if len(s) == 1 {
			return G.NewVector(g, tensor.Float64, G.WithShape(s...), G.WithName(name), G.WithValue(v))
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(s...), G.WithName(name), G.WithValue(v))
	}
	x, y := node("x", n.x, batch, in), node("y", n.y, batch, out)
	w1, b1, w2, b2 := node("W1", n.w1, in, hid), node("b1", n.b1, hid), node("W2", n.w2, hid, out), node("b2", n.b2, batch, out)
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
	n.out = G.Must(G.Add(G.Must(G.Mul(h, w2)), b2))
	n.loss = G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(n.out, y))))))
	n.weights = []*G.Node{w1, b1, w2, b2}
	if decay { // weight decay on W2: W2 reaches the loss also outside the net
		n.loss = G.Must(G.Add(n.loss, G.Must(G.Mul(G.Must(G.Sum(G.Must(G.Square(w2)))), G.NewConstant(0.01, G.WithName("λ"))))))
	}
	return n
}

// forward returns h = tanh(x W1 + 1 b1ᵀ) and z = h W2 + b2 in plain Go at
// the parameters θ (W1, b1, W2, b2 flattened in that order).
func (n *addBiasNet) forward(theta []float64) (h, z []float64) {
	const in, hid, out = 3, 4, 2
	w1, b1, w2, b2 := theta[:in*hid], theta[in*hid:in*hid+hid], theta[in*hid+hid:in*hid+hid+hid*out], theta[in*hid+hid+hid*out:]
	h, z = make([]float64, n.batch*hid), make([]float64, n.batch*out)
	for r := range n.batch {
		for j := range hid {
			s := b1[j]
			for i := range in {
				s += n.x[r*in+i] * w1[i*hid+j]
			}
			h[r*hid+j] = math.Tanh(s)
		}
		for j := range out {
			s := b2[r*out+j]
			for i := range hid {
				s += h[r*hid+i] * w2[i*out+j]
			}
			z[r*out+j] = s
		}
	}
	return h, z
}

// With the output bias added by G.Add, the Gauss–Newton output is that sum
// (every weight, b2 included, reaches the loss through it), and GGNv equals
// the dense J_zᵀ H_z J_z built from an oracle that shares nothing with
// it: J_z by central differences of the forward pass in plain Go
// (r = 1e-5: truncation r²‖∂³z‖/6 ≈ 1e-11, rounding ε‖z‖/r ≈ 1e-11, so
// 1e-8 relative), and H_z = 2/(B·n)·I in closed form for the mean of
// squares. Kronecker's layer finding does not share the old flaw: it runs,
// gives W1+b1 and W2 their factors by definition (A = h̃ᵀh̃/B,
// DD = δᵀδ with δ = ∂J/∂z = 2(z − y)/(B·n)) and b2 — no product h·W —
// none when it is a B × 2 matrix, and a lone bias's A = [1], DD = δᵀδ
// (tied.go) at B = 1, when it is a row; never claiming that the loss does
// not depend on it.
func TestGGNOutputBiasAddedWithAdd(t *testing.T) {
	for _, batch := range []int{1, 4} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			n := newAddBiasNet(t, batch, false)
			p, err := hvp.New(n.loss, n.weights...)
			if err != nil {
				t.Fatal(err)
			}
			z, err := p.GGNOutput()
			if err != nil {
				t.Fatal(err)
			}
			if z != n.out {
				t.Errorf("GGN output %v, want the output's sum %v", z, n.out)
			}
			theta := slices.Concat(n.w1, n.b1, n.w2, n.b2)
			_, z0 := n.forward(theta)
			rows, cols := len(z0), len(theta)
			jac := mat.NewDense(rows, cols, nil)
			const r = 1e-5
			for j := range cols {
				tp, tm := slices.Clone(theta), slices.Clone(theta)
				tp[j] += r
				tm[j] -= r
				_, zp := n.forward(tp)
				_, zm := n.forward(tm)
				for i := range rows {
					jac.Set(i, j, (zp[i]-zm[i])/(2*r))
				}
			}
			var gdense mat.Dense
			gdense.Mul(jac.T(), jac)
			gdense.Scale(2/float64(rows), &gdense)
			rng := rand.New(rand.NewPCG(7, uint64(batch)))
			v := randomLike(rng, p)
			gv, err := p.GGNv(v)
			if err != nil {
				t.Fatalf("GGNv: %v", err)
			}
			var want mat.VecDense
			want.MulVec(&gdense, mat.NewVecDense(cols, v.Flat()))
			if d := flatRelDiff(gv.Flat(), want.RawVector().Data); d > 1e-8 {
				t.Errorf("GGNv differs from the dense J_zᵀ H_z J_z by %.3g", d)
			} else {
				t.Logf("GGNv vs dense J_zᵀ H_z J_z (finite-difference J_z): %.2g", d)
			}

			kf, err := p.Kronecker()
			if err != nil {
				t.Fatalf("Kronecker: %v", err)
			}
			fs := kf.Factors
			h, _ := n.forward(theta)
			delta := make([]float64, rows)
			for i := range delta {
				delta[i] = 2 * (z0[i] - n.y[i]) / float64(rows)
			}
			xt := make([]float64, 0, batch*4) // [x, 1]
			for r := range batch {
				xt = append(append(xt, n.x[r*3:r*3+3]...), 1)
			}
			gramOf := func(d []float64, c int, s float64) *mat.Dense {
				m := mat.NewDense(len(d)/c, c, d)
				var g mat.Dense
				g.Mul(m.T(), m)
				g.Scale(s, &g)
				return &g
			}
			for l := range p.Blocks() {
				name := p.Block(l).Name()
				var wantA, wantDD *mat.Dense
				switch name {
				case "W1+b1":
					wantA = gramOf(xt, 4, 1/float64(batch))
				case "W2":
					wantA, wantDD = gramOf(h, 4, 1/float64(batch)), gramOf(delta, 2, 1)
				case "b2":
					if batch > 1 { // b2 a B × 2 matrix, not a bias vector
						if fs[l] != nil {
							t.Errorf("block b2: factors %v, want none (no product h·W, not a vector)", fs[l])
						}
						continue
					}
					// batch 1: b2 a 1 × 2 row added once, a lone bias (tied.go)
					wantA, wantDD = mat.NewDense(1, 1, []float64{1}), gramOf(delta, 2, 1)
				default:
					t.Fatalf("block %s", name)
				}
				if fs[l] == nil {
					t.Fatalf("block %s: no factors", name)
				}
				// The same sums in another order: rounding only.
				if d := testnet.RelDense(mat.DenseCopyOf(fs[l].A), wantA); d > 1e-13 {
					t.Errorf("block %s: A differs from its definition by %.3g", name, d)
				}
				if wantDD != nil {
					if d := testnet.RelDense(mat.DenseCopyOf(fs[l].DD), wantDD); d > 1e-13 {
						t.Errorf("block %s: DD differs from its definition by %.3g", name, d)
					}
				}
			}
		})
	}
}

// A penalty on a weight added to the loss (weight decay 0.01·Σ W2²) is
// a term of its own (method.md §11): the Gauss–Newton output is still the
// net's output, and GGNv adds the penalty's exact Hessian, 0.02·I on W2's
// entries (closed form), to J_zᵀ H_z J_z (the dense oracle of
// TestGGNOutputBiasAddedWithAdd: finite-difference J_z, closed-form H_z,
// 1e-8 for the same reasons).
func TestGGNWithPenalty(t *testing.T) {
	const batch = 3
	n := newAddBiasNet(t, batch, true)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	if z, err := p.GGNOutput(); err != nil || z != n.out {
		t.Fatalf("GGN output %v (%v), want the net's output %v", z, err, n.out)
	}
	theta := slices.Concat(n.w1, n.b1, n.w2, n.b2)
	_, z0 := n.forward(theta)
	rows, cols := len(z0), len(theta)
	jac := mat.NewDense(rows, cols, nil)
	const r = 1e-5
	for j := range cols {
		tp, tm := slices.Clone(theta), slices.Clone(theta)
		tp[j] += r
		tm[j] -= r
		_, zp := n.forward(tp)
		_, zm := n.forward(tm)
		for i := range rows {
			jac.Set(i, j, (zp[i]-zm[i])/(2*r))
		}
	}
	var gdense mat.Dense
	gdense.Mul(jac.T(), jac)
	gdense.Scale(2/float64(rows), &gdense)
	off := len(n.w1) + len(n.b1)
	for k := range n.w2 {
		gdense.Set(off+k, off+k, gdense.At(off+k, off+k)+2*0.01)
	}
	v := randomLike(rand.New(rand.NewPCG(3, 5)), p)
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatalf("GGNv with weight decay: %v", err)
	}
	var want mat.VecDense
	want.MulVec(&gdense, mat.NewVecDense(cols, v.Flat()))
	if d := flatRelDiff(gv.Flat(), want.RawVector().Data); d > 1e-8 {
		t.Errorf("GGNv differs from J_zᵀ H_z J_z + 0.02·I_W2 by %.3g", d)
	} else {
		t.Logf("GGNv vs dense J_zᵀ H_z J_z + 0.02·I_W2: %.2g", d)
	}
}

// A second output with a loss of its own reads the net's data: it is no
// penalty, and no single node separates every weight from the loss; the
// two outputs together do (issue 21: an RNN's loss at every step), so
// the Gauss–Newton matrix is that of both, G = J_1ᵀ H_1 J_1 + J_2ᵀ H_2 J_2
// (the losses are separate: no cross term). Oracle: the first net's GGNv
// (checked against a dense J_zᵀ H_z J_z above) beside the second head's
// Hv — a head linear in W3 with a squared loss has G = H — to 1e-12 (the
// same sums in another order). A weight that reaches the loss through no
// layer's linear map (an elementwise weight on the data, W4 below) leaves
// no output set: GGNv refuses, naming it.
func TestGGNTwoOutputs(t *testing.T) {
	n := newAddBiasNet(t, 3, false)
	g := n.loss.Graph()
	w3 := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("W3"),
		G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, -2, 0.5, 0.3, -1, 2}))))
	x := g.ByName("x")[0]
	head := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Mul(x, w3))))))
	loss := G.Must(G.Add(n.loss, head))
	ws := append(slices.Clone(n.weights), w3)
	p, err := hvp.New(loss, ws...)
	if err != nil {
		t.Fatal(err)
	}
	v := randomLike(rand.New(rand.NewPCG(1, 1)), p)
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatalf("GGNv with two outputs: %v", err)
	}
	main, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	vm := params.New(main.Layout())
	copy(vm.Flat(), v.Flat())
	gm, err := main.GGNv(vm)
	if err != nil {
		t.Fatal(err)
	}
	hp, err := hvp.New(head, w3)
	if err != nil {
		t.Fatal(err)
	}
	vh := params.New(hp.Layout())
	copy(vh.Flat(), v.Flat()[len(vm.Flat()):])
	hh, err := hp.Hv(vh)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(gv.Flat(), append(slices.Clone(gm.Flat()), hh.Flat()...)); d > 1e-12 {
		t.Errorf("GGNv of two outputs differs from the sum of the outputs' by %.3g", d)
	}
	if _, err := p.GGNOutput(); err != nil {
		t.Errorf("GGNOutput with two outputs: %v", err)
	}

	w4 := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("W4"),
		G.WithValue(tensor.New(tensor.WithShape(3, 3), tensor.WithBacking([]float64{1, -2, 0.5, 0.3, -1, 2, 0.1, 0.2, 0.3}))))
	around := G.Must(G.Add(n.loss, G.Must(G.Mean(G.Must(G.Tanh(G.Must(G.HadamardProd(x, w4))))))))
	q, err := hvp.New(around, append(slices.Clone(n.weights), w4)...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.GGNv(randomLike(rand.New(rand.NewPCG(1, 1)), q))
	if !errors.Is(err, errs.ErrNoRule) || !strings.Contains(err.Error(), "W4") {
		t.Errorf("GGNv with W4 around every output: %v, want ErrNoRule naming W4", err)
	}
	if _, err := q.GGNOutput(); err == nil {
		t.Error("GGNOutput with W4 around every output: no error")
	}
}
