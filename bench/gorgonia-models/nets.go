package main

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The models, each written as a Gorgonia user writes one. G.Must is not
// used: every constructor's error is returned, so a construct Gorgonia
// itself rejects shows as the row's error.

// iris: y ≈ X θ on 30 rows of 4 features and a column of ones;
// H = 2XᵀX/N is invertible.
func iris(b *builder) (*model, error) {
	const n, k = 30, 5
	x := b.normal(n*k, 0, 1)
	for i := range n {
		x[i*k+k-1] = 1
	}
	y := b.normal(n, 0.3, 1)
	X, Y := b.input("data", x, n, k), b.input("target", y, n)
	theta := b.weight("theta", k)
	pred, err := G.Mul(X, theta)
	if err != nil {
		return nil, err
	}
	return squaredError(b, pred, Y)
}

// mlp: 20-16-4 ReLU, softmax cross-entropy, 12 rows.
func mlp(b *builder) (*model, error) {
	const n, in, hid, out = 12, 20, 16, 4
	x, y := b.classData(n, in, out)
	X, Y := b.input("data", x, n, in), b.input("labels", y, n, out)
	w0, b0 := b.weight("W0", in, hid), b.bias("b0", hid)
	w1, b1 := b.weight("W1", hid, out), b.bias("b1", out)
	h, err := dense(X, w0, b0, G.Rectify)
	if err != nil {
		return nil, err
	}
	z, err := dense(h, w1, b1, nil)
	if err != nil {
		return nil, err
	}
	b.m.cost, err = crossEntropy(z, Y)
	return b.m, err
}

// logreg: sigmoid(X w + b) with b a G.NewScalar, binary cross-entropy
// + λ·Σw² (w used by the data term and the penalty).
func logreg(b *builder) (*model, error) {
	const n, k, lambda = 20, 5, 1e-2
	x := b.normal(n*k, 0, 1)
	y, ny := make([]float64, n), make([]float64, n)
	for i := range n {
		if x[i*k]+0.5*x[i*k+1]+0.3*b.rng.NormFloat64() > 0 {
			y[i] = 1
		}
		ny[i] = 1 - y[i]
	}
	X, Y, NY := b.input("data", x, n, k), b.input("target", y, n), b.input("notTarget", ny, n)
	w := b.weight("weights", k)
	var bv interface{} = 0.1
	if b.dt == f32 {
		bv = float32(0.1)
	}
	bias := G.NewScalar(b.g, b.dt, G.WithName("bias"), G.WithValue(bv))
	b.m.weights = append(b.m.weights, bias)
	xw, err := G.Mul(X, w)
	if err != nil {
		return nil, err
	}
	z, err := G.Add(xw, bias)
	if err != nil {
		return nil, err
	}
	p, err := G.Sigmoid(z)
	if err != nil {
		return nil, err
	}
	q, err := G.Sub(b.scalar(1), p)
	if err != nil {
		return nil, err
	}
	lp, err := G.Log(p)
	if err != nil {
		return nil, err
	}
	lq, err := G.Log(q)
	if err != nil {
		return nil, err
	}
	t1, err := G.HadamardProd(Y, lp)
	if err != nil {
		return nil, err
	}
	t2, err := G.HadamardProd(NY, lq)
	if err != nil {
		return nil, err
	}
	ll, err := G.Add(t1, t2)
	if err != nil {
		return nil, err
	}
	m, err := G.Mean(ll)
	if err != nil {
		return nil, err
	}
	nll, err := G.Neg(m)
	if err != nil {
		return nil, err
	}
	pen, err := l2(w)
	if err != nil {
		return nil, err
	}
	pen, err = G.Mul(b.scalar(lambda), pen)
	if err != nil {
		return nil, err
	}
	b.m.cost, err = G.Add(nll, pen)
	return b.m, err
}

// convnet: 2 images 1×8×8, Conv2d 4 kernels 3×3 stride 2 pad 1 → 4×4×4,
// Rectify, MaxPool2D 2×2 → 4×2×2, Dropout 0.2, Reshape to 16, Mul, softmax CE.
func convnet(b *builder) (*model, error) {
	const n, classes = 2, 3
	X := b.input("images", b.normal(n*64, 0.2, 1), n, 1, 8, 8)
	Y := b.input("labels", oneHot(n, classes, func(i int) int { return i % classes }), n, classes)
	k1 := b.weight("kernel", 4, 1, 3, 3)
	w := b.weight("Wout", 16, classes)
	h, err := G.Conv2d(X, k1, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	if h, err = G.Rectify(h); err != nil {
		return nil, err
	}
	if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
		return nil, err
	}
	if h, err = b.dropout("dropMask", h, 0.2); err != nil {
		return nil, err
	}
	if h, err = G.Reshape(h, tensor.Shape{n, 16}); err != nil {
		return nil, err
	}
	z, err := G.Mul(h, w)
	if err != nil {
		return nil, err
	}
	b.m.cost, err = crossEntropy(z, Y)
	return b.m, err
}

// autoencVec: one sample x (12), corrupted by a binomial mask; h =
// σ(x̃ W + bh) by G.Mul(vector, matrix), r = σ(W h + bv): W tied.
func autoencVec(b *builder) (*model, error) {
	const in, hid = 12, 6
	x := b.normal(in, 0.5, 0.3)
	X := b.input("sample", x, in)
	corrupt := b.mask("corruption", 0.8, in)
	w, bh, bv := b.weight("Wtied", in, hid), b.bias("bh", hid), b.bias("bv", in)
	xc, err := G.HadamardProd(X, corrupt)
	if err != nil {
		return nil, err
	}
	h, err := G.Mul(xc, w)
	if err != nil {
		return nil, err
	}
	if h, err = G.Add(h, bh); err != nil {
		return nil, err
	}
	if h, err = G.Sigmoid(h); err != nil {
		return nil, err
	}
	r, err := G.Mul(w, h)
	if err != nil {
		return nil, err
	}
	if r, err = G.Add(r, bv); err != nil {
		return nil, err
	}
	if r, err = G.Sigmoid(r); err != nil {
		return nil, err
	}
	return squaredError(b, r, X)
}

// squaredError sets the model's cost to the mean of (r − x)².
func squaredError(b *builder, r, x *G.Node) (*model, error) {
	d, err := G.Sub(r, x)
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(d)
	if err != nil {
		return nil, err
	}
	b.m.cost, err = G.Mean(sq)
	return b.m, err
}

// autoencTied: 8 samples, H = σ(X̃ W + bh), R = σ(H Wᵀ + bv) with G.Transpose.
func autoencTied(b *builder) (*model, error) {
	const n, in, hid = 8, 12, 6
	X := b.input("samples", b.normal(n*in, 0.5, 0.3), n, in)
	corrupt := b.mask("corruption", 0.8, n, in)
	w, bh, bv := b.weight("Wtied", in, hid), b.bias("bh", hid), b.bias("bv", in)
	xc, err := G.HadamardProd(X, corrupt)
	if err != nil {
		return nil, err
	}
	h, err := dense(xc, w, bh, G.Sigmoid)
	if err != nil {
		return nil, err
	}
	wt, err := G.Transpose(w)
	if err != nil {
		return nil, err
	}
	r, err := dense(h, wt, bv, G.Sigmoid)
	if err != nil {
		return nil, err
	}
	return squaredError(b, r, X)
}

// dropoutMLP: 8-8-3 tanh with G.Dropout 0.3 after the hidden layer.
func dropoutMLP(b *builder) (*model, error) {
	const n, in, hid, out = 10, 8, 8, 3
	x, y := b.classData(n, in, out)
	X, Y := b.input("data", x, n, in), b.input("labels", y, n, out)
	w0, b0 := b.weight("W0", in, hid), b.bias("b0", hid)
	w1, b1 := b.weight("W1", hid, out), b.bias("b1", out)
	h, err := dense(X, w0, b0, G.Tanh)
	if err != nil {
		return nil, err
	}
	if h, err = b.dropout("dropMask", h, 0.3); err != nil {
		return nil, err
	}
	z, err := dense(h, w1, b1, nil)
	if err != nil {
		return nil, err
	}
	b.m.cost, err = crossEntropy(z, Y)
	return b.m, err
}

// practitioner: 10-12-3 ReLU, BroadcastAdd biases, CE + λ·(ΣW0² + ΣW1²).
func practitioner(b *builder) (*model, error) {
	const n, in, hid, out, lambda = 10, 10, 12, 3, 1e-3
	x, y := b.classData(n, in, out)
	X, Y := b.input("data", x, n, in), b.input("labels", y, n, out)
	w0, b0 := b.weight("W0", in, hid), b.bias("b0", hid)
	w1, b1 := b.weight("W1", hid, out), b.bias("b1", out)
	h, err := dense(X, w0, b0, G.Rectify)
	if err != nil {
		return nil, err
	}
	z, err := dense(h, w1, b1, nil)
	if err != nil {
		return nil, err
	}
	ce, err := crossEntropy(z, Y)
	if err != nil {
		return nil, err
	}
	pen, err := l2(w0, w1)
	if err != nil {
		return nil, err
	}
	if pen, err = G.Mul(b.scalar(lambda), pen); err != nil {
		return nil, err
	}
	b.m.cost, err = G.Add(ce, pen)
	return b.m, err
}
