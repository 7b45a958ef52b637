package hvp_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// checkAgainstGrad checks the products of net n against Gorgonia itself:
// the loss and gradient against G.Grad run by Gorgonia's TapeMachine
// (1e-12 relative: the same sums in another order), and Hv against
// central differences of G.Grad at r = 1e-3 and r/2 (within 1e-4; the
// difference is the O(r²) truncation, so halving r divides it by ≈ 4: a
// ratio in [0.2, 0.3]). It returns the problem.
func checkAgainstGrad(t *testing.T, n *gnet, seed uint64) *hvp.Problem {
	t.Helper()
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	gg := newGorgoniaGrad(t, n)
	w0 := gg.weights(t)
	want := flatten(gg.at(t, w0))
	wantLoss := testnet.ScalarOf(n.loss.Value())
	loss, grads, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(loss-wantLoss) / math.Abs(wantLoss); d > 1e-12 {
		t.Errorf("loss %v, Gorgonia's %v", loss, wantLoss)
	}
	if d := flatRelDiff(grads.Flat(), want); d > 1e-12 {
		t.Errorf("gradient differs from G.Grad's by %.3g", d)
	}
	v := randomLike(rand.New(rand.NewPCG(seed, 3)), p)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	fd := func(r float64) float64 { return flatRelDiff(gg.central(t, w0, v, r), hv.Flat()) }
	e1, e2 := fd(1e-3), fd(5e-4)
	gg.at(t, w0)
	t.Logf("‖Hv − FD(G.Grad)‖/‖Hv‖: r = 1e-3: %.3g, r = 5e-4: %.3g (ratio %.3f)", e1, e2, e2/e1)
	if e1 > 1e-4 || !(e2/e1 >= 0.2 && e2/e1 <= 0.3) {
		t.Errorf("Hv vs central differences of G.Grad: %.3g, %.3g (ratio %.3f, want ≈ 1/4)", e1, e2, e2/e1)
	}
	return p
}

func named(g *G.ExprGraph, rng *rand.Rand, name string, shape ...int) *G.Node {
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(randDense(rng, shape...)))
}

// Every form of G.Slice (one index, a range, a strided range, on either
// axis, a slice of a slice down to a scalar) and G.Concat (of matrices on
// either axis, of vectors) in one loss, against G.Grad.
func TestSliceConcatAgainstGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 2))
	g := G.NewGraph()
	x := named(g, rng, "x", 4, 6)
	w := named(g, rng, "W", 6, 8)
	b := named(g, rng, "b", 8)
	z := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w)), b, nil, []byte{0}))
	cols := G.Must(G.Slice(z, nil, G.S(0, 4)))                                      // 4×4
	strided := G.Must(G.Slice(z, nil, G.S(4, 8, 2)))                                // 4×2: columns 4, 6
	col := G.Must(G.Slice(z, nil, G.S(5)))                                          // a vector of 4
	rows := G.Must(G.Slice(z, G.S(0, 4, 2)))                                        // rows 0, 2: 2×8
	row := G.Must(G.Slice(z, G.S(2)))                                               // a vector of 8
	elem := G.Must(G.Slice(row, G.S(3)))                                            // a scalar
	part := G.Must(G.Slice(row, G.S(1, 7, 3)))                                      // elements 1, 4
	joined := G.Must(G.Concat(1, G.Must(G.Tanh(cols)), G.Must(G.Sigmoid(strided)))) // 4×6
	stacked := G.Must(G.Concat(0, G.Must(G.Tanh(rows)), G.Must(G.Square(rows))))    // 4×8
	vecs := G.Must(G.Concat(0, G.Must(G.Tanh(col)), G.Must(G.Tanh(part))))          // a vector of 6
	loss := G.Must(G.Sum(G.Must(G.Square(joined))))
	for _, term := range []*G.Node{
		G.Must(G.Sum(G.Must(G.Tanh(stacked)))),
		G.Must(G.Sum(G.Must(G.Square(vecs)))),
		G.Must(G.Square(G.Must(G.Tanh(elem)))),
	} {
		loss = G.Must(G.Add(loss, term))
	}
	checkAgainstGrad(t, &gnet{g: g, x: x, weights: []*G.Node{w, b}, loss: loss}, 1)
}

// G.Mul(vector, matrix) — Gorgonia's Aᵀ × b, which the user wrote without
// a transpose — and a weight vector added to it with G.Add (a layer with
// one sample, as a batch-1 autoencoder writes it): accepted, the
// products agree with G.Grad, each layer's weight and bias are one block
// with a per-sample route (its Kronecker factors), and GGNv runs.
func TestVectorMatrixAgainstGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 2))
	g := G.NewGraph()
	v := named(g, rng, "v", 5)
	y := named(g, rng, "y", 3)
	w1, b1 := named(g, rng, "W1", 5, 4), named(g, rng, "b1", 4)
	w2, b2 := named(g, rng, "W2", 4, 3), named(g, rng, "b2", 3)
	h := G.Must(G.Sigmoid(G.Must(G.Add(G.Must(G.Mul(v, w1)), b1))))
	out := G.Must(G.Add(b2, G.Must(G.Mul(h, w2))))
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(out, y))))))
	p := checkAgainstGrad(t, &gnet{g: g, x: v, y: y, weights: []*G.Node{w1, b1, w2, b2}, loss: loss}, 2)
	if p.Blocks() != 2 {
		t.Fatalf("%d blocks, want 2 (W1+b1, W2+b2)", p.Blocks())
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		if kf.Err[l] != nil || kf.Factors[l] == nil {
			t.Errorf("block %s: no Kronecker factors: %v", p.Block(l).Name(), kf.Err[l])
		}
	}
	if _, err := p.GGNv(randomLike(rand.New(rand.NewPCG(1, 1)), p)); err != nil {
		t.Error(err)
	}
}

// lstm is an LSTM-like cell written with Gorgonia's API, run over three
// steps with its weights tied (the same Wx, Wh, b at every step): the
// pre-activation x_t·Wx + h·Wh + b of the four gates at once, each gate a
// G.Slice of its columns, c = f ⊙ c + i ⊙ g and h = o ⊙ tanh(c) by
// G.HadamardProd, the inputs x_t slices of one sequence matrix, and a
// softmax cross-entropy of a dense layer on the last h (Wy, by).
func lstm(t *testing.T, seed uint64) *gnet {
	t.Helper()
	const B, in, H, K, steps = 4, 2, 3, 3, 3
	rng := rand.New(rand.NewPCG(seed, 31))
	g := G.NewGraph()
	seq := named(g, rng, "sequence", B, in*steps)
	yv := randDense(rng, B, K)
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(B, K), G.WithName("y"), G.WithValue(probabilities(t, yv, tensor.Float64)))
	wx, wh, b := named(g, rng, "Wx", in, 4*H), named(g, rng, "Wh", H, 4*H), named(g, rng, "b", 4*H)
	wy, by := named(g, rng, "Wy", H, K), named(g, rng, "by", K)
	h := named(g, rng, "h0", B, H)
	c := named(g, rng, "c0", B, H)
	gate := func(pre *G.Node, k int) *G.Node { return G.Must(G.Slice(pre, nil, G.S(k*H, (k+1)*H))) }
	for s := range steps {
		x := G.Must(G.Slice(seq, nil, G.S(s*in, (s+1)*in)))
		pre := G.Must(G.BroadcastAdd(G.Must(G.Add(G.Must(G.Mul(x, wx)), G.Must(G.Mul(h, wh)))), b, nil, []byte{0}))
		i, f, o := G.Must(G.Sigmoid(gate(pre, 0))), G.Must(G.Sigmoid(gate(pre, 1))), G.Must(G.Sigmoid(gate(pre, 2)))
		cand := G.Must(G.Tanh(gate(pre, 3)))
		c = G.Must(G.Add(G.Must(G.HadamardProd(f, c)), G.Must(G.HadamardProd(i, cand))))
		h = G.Must(G.HadamardProd(o, G.Must(G.Tanh(c))))
	}
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, wy)), by, nil, []byte{0}))
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	return &gnet{g: g, x: seq, y: y, weights: []*G.Node{wx, wh, b, wy, by}, loss: loss}
}

// The LSTM-like cell: Hv against central differences of G.Grad (tied
// weights, gates sliced from one pre-activation); the output layer Wy+by
// is one block with Kronecker factors; the Gauss–Newton product runs; no
// block's refusal says the loss "does not depend on" one of its weights
// (the tied weights Wx, Wh, b are refused for their several uses, by
// name).
func TestLSTMAgainstGrad(t *testing.T) {
	n := lstm(t, 1)
	p := checkAgainstGrad(t, n, 4)
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		name := p.Block(l).Name()
		t.Logf("block %s: factors %v, %v", name, kf.Factors[l] != nil, kf.Err[l])
		if kf.Err[l] != nil && strings.Contains(kf.Err[l].Error(), "does not depend") {
			t.Errorf("block %s: %v", name, kf.Err[l])
		}
		if name == "Wy+by" && kf.Factors[l] == nil {
			t.Errorf("block Wy+by: no Kronecker factors: %v", kf.Err[l])
		}
	}
	gv, err := p.GGNv(randomLike(rand.New(rand.NewPCG(5, 5)), p))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GGNv ‖·‖ = %.4g", gv.Norm())
}

// A recurrent net in the idiom of Gorgonia's charRNN example (batch 1,
// column vectors): the input of each step a row of an embedding
// (G.Slice(emb, S(i)), a vector), h = tanh(W·x + U·h + b) with G.Mul of a
// matrix and a vector and vector biases added with G.Add, a loss at every
// step picked out of a log-softmax by G.Slice(logp, S(target)). Hv agrees
// with central differences of G.Grad; the blocks, every weight tied over
// the steps, are refused by name for their uses, never because the loss
// "does not depend on" a bias. The loss is a sum over the steps' outputs
// z_t, so the Gauss–Newton matrix is Σ_t J_tᵀ H_t J_t (no single output
// separates the weights from the loss): ⟨u, G v⟩ against
// Σ_t (J_t u)ᵀ H_t (J_t v) with J_t u by central differences of z_t run by
// Gorgonia's own ops (r = 1e-4: truncation O(r²) ≈ 1e-8 relative; 1e-6)
// and H_t = diag(p_t) − p_t p_tᵀ, p_t = softmax(z_t), the closed form of
// −log softmax(z)_k.
func TestCharRNNStyleAgainstGrad(t *testing.T) {
	const in, H, K, steps = 4, 3, 4, 3
	rng := rand.New(rand.NewPCG(3, 31))
	g := G.NewGraph()
	emb := named(g, rng, "embedding", K, in)
	wx, wh, bi := named(g, rng, "wix", H, in), named(g, rng, "wih", H, H), named(g, rng, "bias_i", H)
	wd, bd := named(g, rng, "whd", K, H), named(g, rng, "bias_d", K)
	h := G.NewVector(g, tensor.Float64, G.WithShape(H), G.WithName("h0"), G.WithValue(randDense(rng, H)))
	var cost *G.Node
	var outs []*G.Node
	for s := range steps {
		x := G.Must(G.Slice(emb, G.S(s)))
		h = G.Must(G.Tanh(G.Must(G.Add(G.Must(G.Add(G.Must(G.Mul(wx, x)), G.Must(G.Mul(wh, h)))), bi))))
		out := G.Must(G.Add(G.Must(G.Mul(wd, h)), bd))
		outs = append(outs, out)
		logp := G.Must(G.Neg(G.Must(G.Log(G.Must(G.SoftMax(out))))))
		l := G.Must(G.Slice(logp, G.S((s+1)%K)))
		if cost == nil {
			cost = l
		} else {
			cost = G.Must(G.Add(cost, l))
		}
	}
	n := &gnet{g: g, weights: []*G.Node{wx, wh, bi, wd, bd}, loss: cost}
	p := checkAgainstGrad(t, n, 4)
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		t.Logf("block %s: factors %v, %v", p.Block(l).Name(), kf.Factors[l] != nil, kf.Err[l])
		if kf.Err[l] != nil && strings.Contains(kf.Err[l].Error(), "does not depend") {
			t.Errorf("block %s: %v", p.Block(l).Name(), kf.Err[l])
		}
	}
	u := randomLike(rand.New(rand.NewPCG(5, 5)), p)
	v := randomLike(rand.New(rand.NewPCG(5, 6)), p)
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	w0 := make([][]float64, len(n.weights)) // (a second G.Grad through a softmax panics)
	for k, w := range n.weights {
		w0[k] = valueData(t, w.Value())
	}
	zAt := func(dir *params.Vector, r float64) [][]float64 { // z_t at w0 + r·dir, by Gorgonia's ops
		bind := graph.Values{}
		for k, w := range n.weights {
			x := append([]float64(nil), w0[k]...)
			for i := range x {
				x[i] += r * dir.Weight(k)[i]
			}
			bind[w] = gvalue(x, w)
		}
		vals, err := graph.Compile("outputs", outs).Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		z := make([][]float64, len(outs))
		for i, o := range outs {
			z[i] = valueData(t, vals[o])
		}
		return z
	}
	jac := func(dir *params.Vector) [][]float64 {
		const r = 1e-4
		zp, zm := zAt(dir, r), zAt(dir, -r)
		for i := range zp {
			for j := range zp[i] {
				zp[i][j] = (zp[i][j] - zm[i][j]) / (2 * r)
			}
		}
		return zp
	}
	z0, ju, jv := zAt(v, 0), jac(u), jac(v)
	var want float64
	for s := range steps {
		var zmax, sum float64 = math.Inf(-1), 0
		for _, x := range z0[s] {
			zmax = math.Max(zmax, x)
		}
		pr := make([]float64, K)
		for i, x := range z0[s] {
			pr[i] = math.Exp(x - zmax)
			sum += pr[i]
		}
		var pu, pv float64
		for i := range pr {
			pr[i] /= sum
			pu += pr[i] * ju[s][i]
			pv += pr[i] * jv[s][i]
		}
		for i := range pr {
			want += pr[i] * ju[s][i] * jv[s][i]
		}
		want -= pu * pv
	}
	got := floats.Dot(u.Flat(), gv.Flat())
	t.Logf("⟨u, G v⟩ = %.12g, Σ_t (J_t u)ᵀ H_t (J_t v) = %.12g", got, want)
	if d := math.Abs(got-want) / math.Abs(want); !(d <= 1e-6) {
		t.Errorf("⟨u, G v⟩ differs from the sum over the steps by %.3g", d)
	}
}

// logregOf is a logistic regression in the idiom of Gorgonia's example: a
// weight vector w, a scalar bias (G.NewScalar) added with G.Add to G.Mul(x,
// w), the mean binary cross-entropy of the sigmoid, and, for l2 > 0, the
// penalty l2·Σw².
func logregOf(t testing.TB, l2 float64, n, feats int) *gnet {
	rng := rand.New(rand.NewPCG(8, 17))
	g := G.NewGraph()
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = float64(i % 2)
	}
	x := named(g, rng, "x", n, feats)
	y := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(ys))))
	w := named(g, rng, "w", feats)
	b := G.NewScalar(g, tensor.Float64, G.WithName("bias"), G.WithValue(-0.2))
	one := G.NewConstant(1.0, G.WithName("one"))
	prob := G.Must(G.Sigmoid(G.Must(G.Add(G.Must(G.Mul(x, w)), b))))
	ce := G.Must(G.Neg(G.Must(G.Add(G.Must(G.HadamardProd(y, G.Must(G.Log(prob)))),
		G.Must(G.HadamardProd(G.Must(G.Sub(one, y)), G.Must(G.Log(G.Must(G.Sub(one, prob))))))))))
	loss := G.Must(G.Mean(ce))
	if l2 > 0 {
		loss = G.Must(G.Add(loss, G.Must(G.Mul(G.NewConstant(l2, G.WithName("l2")), G.Must(G.Sum(G.Must(G.Square(w))))))))
	}
	return &gnet{g: g, x: x, y: y, weights: []*G.Node{w, b}, loss: loss}
}

// A logistic regression with a G.NewScalar bias: every product works.
// Its weight and scalar bias are one block (the bias added to x·w is the
// layer's bias); the net is linear in (w, b), so the Gauss–Newton matrix
// is the Hessian: GGNv = Hv to 1e-12 (the same sums, another order); its
// Kronecker factor A is h̃ᵀh̃/B with h̃ = [x, 1] (1e-12, sums of 4 terms);
// at batch 4 = fan-in 3 + 1 its InvHv is exact and certified, and H·u
// returns v to 1e-8 (the certificate's tolerance); InvHvAll agrees. With
// an L2 penalty on w, GGNv (which adds the penalty's exact Hessian) is
// still Hv, and Kronecker runs. (The binary cross-entropy is a sum of two
// weight-dependent terms: the Gauss–Newton output must not be taken
// there, where the loss is linear and G would be 0.)
func TestLogisticRegressionEveryProduct(t *testing.T) {
	n := logregOf(t, 0, 4, 3)
	p := checkAgainstGrad(t, n, 9)
	if p.Blocks() != 1 || p.Block(0).Name() != "w+bias" {
		t.Fatalf("%d blocks (%s), want one block w+bias", p.Blocks(), p.Block(0).Name())
	}
	v := randomLike(rand.New(rand.NewPCG(5, 5)), p)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(gv.Flat(), hv.Flat()); d > 1e-12 {
		t.Errorf("GGNv differs from Hv by %.3g; a net linear in its weights has G = H", d)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	if kf.Factors[0] == nil {
		t.Fatalf("no Kronecker factors: %v", kf.Err[0])
	}
	xs := n.x.Value().(*tensor.Dense).Float64s()
	for i := range 4 {
		for j := range 4 {
			var want float64
			for r := range 4 {
				hi, hj := 1.0, 1.0
				if i < 3 {
					hi = xs[3*r+i]
				}
				if j < 3 {
					hj = xs[3*r+j]
				}
				want += hi * hj / 4
			}
			if got := kf.Factors[0].A.At(i, j); math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
				t.Errorf("A[%d,%d] = %v, want (h̃ᵀh̃/B) %v", i, j, got, want)
			}
		}
	}
	res, err := p.Block(0).InvHv(v.Block(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Certified {
		t.Fatalf("InvHv not certified: %+v", res)
	}
	back, err := p.Block(0).Hv(res.U)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(back.Flat(), v.Block(0).Flat()); d > 1e-8 {
		t.Errorf("H·InvHv(v) differs from v by %.3g", d)
	}
	all, err := p.InvHvAll(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(all[0].U.Flat(), res.U.Flat()); len(all) != 1 || d > 1e-12 {
		t.Errorf("InvHvAll differs from the block's InvHv by %.3g", d)
	}

	pen := logregOf(t, 0.05, 4, 3)
	pp := checkAgainstGrad(t, pen, 10)
	pv := randomLike(rand.New(rand.NewPCG(5, 6)), pp)
	pgv, err := pp.GGNv(pv)
	if err != nil {
		t.Fatalf("GGNv with an L2 penalty: %v", err)
	}
	phv, err := pp.Hv(pv)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(pgv.Flat(), phv.Flat()); d > 1e-12 {
		t.Errorf("with an L2 penalty GGNv differs from Hv by %.3g; linear net plus the penalty's exact Hessian: G = H", d)
	}
	if _, err := pp.Kronecker(); err != nil {
		t.Errorf("Kronecker with an L2 penalty: %v", err)
	}
}

// pickNet is a softmax classifier whose loss picks each sample's
// −log-probability out of its row, G.Slice(logp, S(i), S(class_i)),
// summed with G.ReduceAdd (the idiom of Gorgonia's stacked autoencoder
// fine-tuning); fused, the same loss written as −Σ y ⊙ log softmax with
// one-hot rows y.
func pickNet(t *testing.T, fused bool) *gnet {
	t.Helper()
	const B, in, K = 4, 3, 3
	rng := rand.New(rand.NewPCG(50, 1))
	g := G.NewGraph()
	x := named(g, rng, "x", B, in)
	w, b := named(g, rng, "W", in, K), named(g, rng, "b", K)
	z := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w)), b, nil, []byte{0}))
	class := func(i int) int { return (2 * i) % K }
	var loss *G.Node
	if fused {
		y := make([]float64, B*K)
		for i := range B {
			y[i*K+class(i)] = 1
		}
		yn := G.NewMatrix(g, tensor.Float64, G.WithShape(B, K), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(B, K), tensor.WithBacking(y))))
		loss = G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(yn, G.Must(G.Log(G.Must(G.SoftMax(z))))))))))
	} else {
		logp := G.Must(G.Neg(G.Must(G.Log(G.Must(G.SoftMax(z))))))
		var picks G.Nodes
		for i := range B {
			picks = append(picks, G.Must(G.Slice(logp, G.S(i), G.S(class(i)))))
		}
		loss = G.Must(G.ReduceAdd(picks))
	}
	return &gnet{g: g, x: x, weights: []*G.Node{w, b}, loss: loss}
}

// Per-sample losses picked out of the rows: Hv against G.Grad; the layer
// keeps its per-sample route (each pick a term of one sample's row, so
// KFAC has the block's factors); GGNv and the Kronecker factors equal
// those of the same loss written as a fused cross-entropy, to 1e-12 (the
// same sums in another order).
func TestPickedLossesAgainstGrad(t *testing.T) {
	p := checkAgainstGrad(t, pickNet(t, false), 6)
	f := pickNet(t, true)
	q, err := hvp.New(f.loss, f.weights...)
	if err != nil {
		t.Fatal(err)
	}
	v := randomLike(rand.New(rand.NewPCG(2, 9)), p)
	gp, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	gq, err := q.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	if d := flatRelDiff(gp.Flat(), gq.Flat()); d > 1e-12 {
		t.Errorf("GGNv of the picked losses differs from the fused cross-entropy's by %.3g", d)
	}
	kp, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	kq, err := q.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	if kp.Factors[0] == nil || kq.Factors[0] == nil {
		t.Fatalf("no Kronecker factors: picked %v, fused %v", kp.Err[0], kq.Err[0])
	}
	a1, a2 := mat.DenseCopyOf(kp.Factors[0].DD), mat.DenseCopyOf(kq.Factors[0].DD)
	if d := flatRelDiff(a1.RawMatrix().Data, a2.RawMatrix().Data); d > 1e-12 {
		t.Errorf("the factor δᵀδ of the picked losses differs from the fused cross-entropy's by %.3g", d)
	}
}
