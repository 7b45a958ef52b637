package main

import (
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A model is one graph in Gorgonia's idiom: its loss and its weights.
type model struct {
	g       *G.ExprGraph
	cost    *G.Node
	weights G.Nodes
	// random names the random nodes of a live graph (G.Dropout,
	// G.BinomialRandomNode); a twin has none.
	random []string
}

// A spec is one model of the check, built in a dtype. Random models are
// built twice: live (Gorgonia's random nodes, which its TapeMachine redraws
// on every run from a time-seeded generator) and as a twin holding one draw
// as a named input, on which the checks that need the TapeMachine run.
type spec struct {
	name   string
	what   string // the constructs it covers
	dtypes []tensor.Dtype
	random bool
	// exact names weights whose block's InvHv must be exact (its H_ll is
	// invertible and the conditions of method.md §4/§9 hold), whatever
	// weights the block pairs them with.
	exact []string
	build func(b *builder) (*model, error)
}

var f64, f32 = tensor.Float64, tensor.Float32

// specs is every row of the check, in the order of issue 21's table.
var specs = []spec{
	{name: "iris", what: "linear regression, 30 rows, G.Mul(matrix, vector), Mean(Square)", dtypes: []tensor.Dtype{f64, f32},
		exact: []string{"theta"}, build: iris},
	{name: "mlp", what: "20-16-4 ReLU MLP (Rectify, BroadcastAdd, SoftMax CE)", dtypes: []tensor.Dtype{f64, f32}, build: mlp},
	{name: "logreg", what: "logistic regression, G.NewScalar bias, λ·Σw²", dtypes: []tensor.Dtype{f64, f32},
		exact: []string{"bias"}, build: logreg},
	{name: "convnet", what: "Conv2d stride 2 pad 1, Rectify, MaxPool2D, Dropout, Reshape, Mul, SoftMax CE", dtypes: []tensor.Dtype{f64, f32},
		random: true, build: convnet},
	{name: "autoenc-vec", what: "batch-1 autoencoder, tied W: G.Mul(vector, W) and G.Mul(W, vector), BinomialRandomNode corruption",
		dtypes: []tensor.Dtype{f64}, random: true, build: autoencVec},
	{name: "autoenc-tied", what: "batch autoencoder, tied W and G.Transpose(W), BinomialRandomNode corruption",
		dtypes: []tensor.Dtype{f64, f32}, random: true, build: autoencTied},
	{name: "lstm", what: "LSTM over 5 steps: embedding G.Slice, gates G.Slice of one pre-activation, HadamardProd, Sigmoid, Tanh",
		dtypes: []tensor.Dtype{f64, f32}, build: lstm},
	{name: "dropout-mlp", what: "tanh MLP with G.Dropout", dtypes: []tensor.Dtype{f64}, random: true, build: dropoutMLP},
	{name: "practitioner", what: "ReLU MLP, BroadcastAdd biases, CE + λ·Σ‖W‖²", dtypes: []tensor.Dtype{f32, f64}, build: practitioner},
}

// builder makes a model's nodes: seeded values, and random nodes live or
// frozen.
type builder struct {
	g    *G.ExprGraph
	dt   tensor.Dtype
	rng  *rand.Rand
	live bool // random nodes as Gorgonia's; else one draw as an input
	m    *model
}

func newBuilder(dt tensor.Dtype, seed uint64, live bool) *builder {
	g := G.NewGraph()
	return &builder{g: g, dt: dt, rng: rand.New(rand.NewPCG(seed, 7)), live: live, m: &model{g: g}}
}

func (b *builder) value(d []float64, shape ...int) tensor.Tensor {
	if b.dt == f32 {
		f := make([]float32, len(d))
		for i, x := range d {
			f[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

func size(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// normal returns n values of N(mean, sd²).
func (b *builder) normal(n int, mean, sd float64) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = mean + sd*b.rng.NormFloat64()
	}
	return d
}

// input is a named data node holding d.
func (b *builder) input(name string, d []float64, shape ...int) *G.Node {
	return G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(b.value(d, shape...)))
}

// weight is a named weight node, Glorot-scaled normal values.
func (b *builder) weight(name string, shape ...int) *G.Node {
	fan := 0
	for _, s := range shape {
		fan += s
	}
	n := b.input(name, b.normal(size(shape), 0, math.Sqrt(2/float64(fan))), shape...)
	b.m.weights = append(b.m.weights, n)
	return n
}

// bias is a named weight vector with small values.
func (b *builder) bias(name string, n int) *G.Node {
	w := b.input(name, b.normal(n, 0, 0.1), n)
	b.m.weights = append(b.m.weights, w)
	return w
}

func (b *builder) scalar(x float64) *G.Node {
	if b.dt == f32 {
		return G.NewConstant(float32(x))
	}
	return G.NewConstant(x)
}

// oneHot returns rows one-hot rows of classes, row i of class cls(i).
func oneHot(rows, classes int, cls func(int) int) []float64 {
	d := make([]float64, rows*classes)
	for i := range rows {
		d[i*classes+cls(i)] = 1
	}
	return d
}

// mask is a 0/1 node, each entry 1 with probability keep: live, Gorgonia's
// BinomialRandomNode; frozen, one draw as an input named name.
func (b *builder) mask(name string, keep float64, shape ...int) *G.Node {
	if b.live {
		b.m.random = append(b.m.random, name)
		return G.BinomialRandomNode(b.g, b.dt, 1, keep, shape...)
	}
	d := make([]float64, size(shape))
	for i := range d {
		if b.rng.Float64() < keep {
			d[i] = 1
		}
	}
	return b.input(name, d, shape...)
}

// dropout is G.Dropout(x, p) live; frozen, x ⊙ m with m one draw of
// Gorgonia's dropout (1/(1−p) kept, 0 dropped) as an input named name.
func (b *builder) dropout(name string, x *G.Node, p float64) (*G.Node, error) {
	if b.live {
		b.m.random = append(b.m.random, name+" (G.Dropout)")
		return G.Dropout(x, p)
	}
	d := make([]float64, x.Shape().TotalSize())
	for i := range d {
		if b.rng.Float64() < 1-p {
			d[i] = 1 / (1 - p)
		}
	}
	return G.HadamardProd(x, b.input(name, d, x.Shape()...))
}

// crossEntropy is −mean_i Σ_j y_ij log softmax(z)_ij, as Gorgonia users write it.
func crossEntropy(z, y *G.Node) (*G.Node, error) {
	p, err := G.SoftMax(z)
	if err != nil {
		return nil, err
	}
	logp, err := G.Log(p)
	if err != nil {
		return nil, err
	}
	yl, err := G.HadamardProd(y, logp)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(yl, 1)
	if err != nil {
		return nil, err
	}
	m, err := G.Mean(s)
	if err != nil {
		return nil, err
	}
	return G.Neg(m)
}

// dense is act(x W + b) with b broadcast over the rows (act nil: none).
func dense(x, w, bias *G.Node, act func(*G.Node) (*G.Node, error)) (*G.Node, error) {
	h, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	if bias != nil {
		if h, err = G.BroadcastAdd(h, bias, nil, []byte{0}); err != nil {
			return nil, err
		}
	}
	if act == nil {
		return h, nil
	}
	return act(h)
}

// l2 is Σ_k Σ W_k².
func l2(ws ...*G.Node) (*G.Node, error) {
	var s *G.Node
	for _, w := range ws {
		sq, err := G.Square(w)
		if err != nil {
			return nil, err
		}
		t, err := G.Sum(sq)
		if err != nil {
			return nil, err
		}
		if s == nil {
			s = t
		} else if s, err = G.Add(s, t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// classData returns rows × in features whose mean depends on the class
// (i mod classes), and their one-hot targets.
func (b *builder) classData(rows, in, classes int) (x, y []float64) {
	x = b.normal(rows*in, 0, 1)
	for i := range rows {
		c := i % classes
		for j := range in {
			x[i*in+j] += math.Cos(2*math.Pi*float64(c)/float64(classes) + float64(j))
		}
	}
	return x, oneHot(rows, classes, func(i int) int { return i % classes })
}
