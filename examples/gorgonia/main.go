// Command gorgonia trains a small classifier written only with Gorgonia's
// own API — G.Mul, G.BroadcastAdd, G.Tanh, G.SoftMax, G.Log,
// G.HadamardProd, G.Mean, G.Neg, a TapeMachine and Gorgonia's Adam — and
// then, with the six lines marked "newtonia" (plus error checks), takes its exact
// second-order quantities on the very same graph: Hv, the conditions
// report, an exact H⁻¹v (damped: the exact Levenberg–Marquardt damping of
// method.md §9) and a Newton step.
//
//	go run ./examples/gorgonia
//	go run ./examples/gorgonia -dtype float32
//
// Beside each result it prints the check that makes it believable: Hv
// against central differences of Gorgonia's own G.Grad, the residual
// ‖(H + λ h̃ᵀh̃⊗I) u − v‖/‖v‖ of H⁻¹v by an exact Hv, the loss before and
// after the Newton step. The model's graph is never modified: newtonia
// builds its passes in a private translation (package native).
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	dtype := flag.String("dtype", "float64", "the model's dtype: float64 or float32")
	seed := flag.Uint64("seed", 1, "random seed of the data and the initial weights")
	flag.Parse()
	dt := map[string]tensor.Dtype{"float64": tensor.Float64, "float32": tensor.Float32}[*dtype]
	if dt == (tensor.Dtype{}) {
		fmt.Fprintln(os.Stderr, "gorgonia: -dtype float64 or float32")
		os.Exit(2)
	}
	if _, err := run(os.Stdout, dt, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gorgonia:", err)
		os.Exit(1)
	}
}

// classifier is a two-layer net in Gorgonia's idiom.
type classifier struct {
	g              *G.ExprGraph
	x, y           *G.Node // inputs and one-hot targets
	w0, b0, w1, b1 *G.Node
	cost           *G.Node
}

func newClassifier(g *G.ExprGraph, rng *rand.Rand, dt tensor.Dtype, batch, in, hidden, classes int) *classifier {
	m := &classifier{g: g}
	m.x = G.NewMatrix(g, dt, G.WithShape(batch, in), G.WithName("x"))
	m.y = G.NewMatrix(g, dt, G.WithShape(batch, classes), G.WithName("y"))
	m.w0 = G.NewMatrix(g, dt, G.WithShape(in, hidden), G.WithName("w0"), G.WithValue(glorot(rng, dt, in, hidden)))
	m.b0 = G.NewVector(g, dt, G.WithShape(hidden), G.WithName("b0"), G.WithInit(G.Zeroes()))
	m.w1 = G.NewMatrix(g, dt, G.WithShape(hidden, classes), G.WithName("w1"), G.WithValue(glorot(rng, dt, hidden, classes)))
	m.b1 = G.NewVector(g, dt, G.WithShape(classes), G.WithName("b1"), G.WithInit(G.Zeroes()))
	return m
}

// glorot is G.GlorotN(1) from a seeded source, for reproducible runs.
func glorot(rng *rand.Rand, dt tensor.Dtype, in, out int) tensor.Tensor {
	d := make([]float64, in*out)
	for i := range d {
		d[i] = rng.NormFloat64() * math.Sqrt(2/float64(in+out))
	}
	return asDtype(d, dt, in, out)
}

func (m *classifier) learnables() G.Nodes { return G.Nodes{m.w0, m.b0, m.w1, m.b1} }

// fwd builds the cost: the mean cross-entropy of softmax(tanh(x w0 + b0) w1 + b1).
func (m *classifier) fwd() error {
	h0, err := G.Mul(m.x, m.w0)
	if err != nil {
		return err
	}
	if h0, err = G.BroadcastAdd(h0, m.b0, nil, []byte{0}); err != nil {
		return err
	}
	if h0, err = G.Tanh(h0); err != nil {
		return err
	}
	logits, err := G.Mul(h0, m.w1)
	if err != nil {
		return err
	}
	if logits, err = G.BroadcastAdd(logits, m.b1, nil, []byte{0}); err != nil {
		return err
	}
	prob, err := G.SoftMax(logits)
	if err != nil {
		return err
	}
	logp, err := G.Log(prob)
	if err != nil {
		return err
	}
	ce, err := G.Sum(G.Must(G.HadamardProd(m.y, logp)), 1)
	if err != nil {
		return err
	}
	if m.cost, err = G.Mean(ce); err != nil {
		return err
	}
	m.cost, err = G.Neg(m.cost)
	return err
}

// data returns n points of 3 classes in the plane, lifted to in features.
func data(rng *rand.Rand, dt tensor.Dtype, n, in, classes int) (x, y tensor.Tensor) {
	xs, ys := make([]float64, n*in), make([]float64, n*classes)
	for i := range n {
		c := i % classes
		a := 2 * math.Pi * float64(c) / float64(classes)
		for j := range in {
			xs[i*in+j] = math.Cos(a+float64(j)) + 0.6*rng.NormFloat64()
		}
		ys[i*classes+c] = 1
	}
	return asDtype(xs, dt, n, in), asDtype(ys, dt, n, classes)
}

func asDtype(d []float64, dt tensor.Dtype, shape ...int) tensor.Tensor {
	if dt == tensor.Float32 {
		f := make([]float32, len(d))
		for i, x := range d {
			f[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// summary is what run measured, for the test.
type summary struct {
	hvFD             float64 // ‖Hv − FD(G.Grad)‖/‖Hv‖
	inv              *hvp.Result
	before, after    float64 // the cost around the Newton step
	machineAfter     float64 // Gorgonia's own cost after it
	nodes, nodesThen int     // the user's graph's nodes before and after newtonia
}

func run(w io.Writer, dt tensor.Dtype, seed uint64) (*summary, error) {
	sum := &summary{}
	// A minibatch of fan-in + 1 samples: the size at which each block's
	// gradient map is invertible (method.md §9; with more samples the
	// conditions report refuses the exact inverse, and says why).
	const batch, in, hidden, classes = 9, 8, 8, 3
	rng := rand.New(rand.NewPCG(seed, 1))
	g := G.NewGraph()
	m := newClassifier(g, rng, dt, batch, in, hidden, classes)
	if err := m.fwd(); err != nil {
		return nil, err
	}
	x, y := data(rng, dt, batch, in, classes)
	if err := G.Let(m.x, x); err != nil {
		return nil, err
	}
	if err := G.Let(m.y, y); err != nil {
		return nil, err
	}

	// Training as Gorgonia's documentation does it: G.Grad, a TapeMachine
	// with dual values, a solver.
	grads, err := G.Grad(m.cost, m.learnables()...)
	if err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(m.learnables()...))
	defer vm.Close()
	adam := G.NewAdamSolver(G.WithLearnRate(0.05))
	for range 20 {
		if err := vm.RunAll(); err != nil {
			return nil, err
		}
		if err := adam.Step(G.NodesToValueGrads(m.learnables())); err != nil {
			return nil, err
		}
		vm.Reset()
	}
	if err := vm.RunAll(); err != nil {
		return nil, err
	}
	vm.Reset()
	fmt.Fprintf(w, "model: %v, %d samples, %d-%d-%d, tanh, softmax cross-entropy; cost after 20 Adam steps %.6g\n\n",
		dt, batch, in, hidden, classes, scalar(m.cost.Value()))

	sum.nodes = len(g.AllNodes())
	p, err := hvp.New(m.cost, m.learnables()...) // newtonia
	if err != nil {
		return nil, err
	}
	v := directions(rng, p)
	hv, err := p.Hv(v) // newtonia: exact Hv
	if err != nil {
		return nil, err
	}
	fd, err := gradFD(p, g, grads, v, 1e-3)
	if err != nil {
		return nil, err
	}
	sum.hvFD = params.RelDiff(hv, fd)
	fmt.Fprintf(w, "Hv (exact, R-pass): ‖Hv‖ = %.6g, in %v; against central differences of G.Grad (r = 1e-3): %.2g relative\n\n",
		hv.Norm(), hv.Tensors()[0].Dtype(), sum.hvFD)

	fmt.Fprintf(w, "conditions report:\n%v\n", p.Conditions()) // newtonia

	const lambda = 1e-3
	res, err := p.Block(0).InvHv(v.Block(0), &hvp.Options{Damping: lambda}) // newtonia: exact (H + λ h̃ᵀh̃⊗I)⁻¹v
	if err != nil {
		return nil, err
	}
	sum.inv = res
	fmt.Fprintf(w, "H⁻¹v for block %s, damping λ = %g: %v by the %s route, certified %v, residual %.2g",
		p.Block(0).Name(), lambda, res.Kind, res.Method, res.Certified, res.Residual)
	if dt == tensor.Float32 {
		fmt.Fprintf(w, " (of the result rounded to float32: %.2g)", res.RoundedResidual)
	}
	fmt.Fprintln(w)

	newton, err := solver.New("newton", p, &solver.DampedNewtonSettings{LMDamping: lambda}) // newtonia
	if err != nil {
		return nil, err
	}
	rec, err := newton.Step() // newtonia: one Newton step, written into the weights
	if err != nil {
		return nil, err
	}
	sum.before, sum.after, sum.nodesThen = rec.LossBefore, rec.LossAfter, len(g.AllNodes())
	fmt.Fprintf(w, "\nNewton step (solver.DampedNewton: exactly damped block steps from λ = %g, the best measured, %s taken): cost %.6g → %.6g, %d fallbacks\n",
		lambda, rec.Detail.(*solver.NewtonDetail).Combined, rec.LossBefore, rec.LossAfter, len(rec.Fallbacks))
	if err := vm.RunAll(); err != nil { // Gorgonia's own machine sees the new weights
		return nil, err
	}
	sum.machineAfter = scalar(m.cost.Value())
	fmt.Fprintf(w, "Gorgonia's TapeMachine, after the step: cost %.6g (its graph: %d nodes before newtonia, %d after)\n",
		sum.machineAfter, sum.nodes, sum.nodesThen)
	return sum, nil
}

// directions returns a random direction over p's weights.
func directions(rng *rand.Rand, p *hvp.Problem) *params.Vector {
	v := params.New(p.Layout())
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	return v
}

// gradFD returns (∇J(w + r v) − ∇J(w − r v)) / 2r with Gorgonia's own
// gradient (the nodes G.Grad returned, run by a TapeMachine of their own),
// leaving the weights as found.
func gradFD(p *hvp.Problem, g *G.ExprGraph, grads G.Nodes, v *params.Vector, r float64) (*params.Vector, error) {
	vm := G.NewTapeMachine(g) // not closed: Close unbinds the graph's values
	w0, err := p.Current()
	if err != nil {
		return nil, err
	}
	at := func(t float64) (*params.Vector, error) {
		w := w0.Clone()
		w.AddScaled(t, v)
		if err := p.SetWeights(w); err != nil {
			return nil, err
		}
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			return nil, err
		}
		gs := make([]*tensor.Dense, len(grads))
		for k, n := range grads {
			gs[k] = n.Value().(*tensor.Dense)
		}
		return params.FromTensors(p.Layout(), gs, "G.Grad's gradient")
	}
	plus, err := at(r)
	if err != nil {
		return nil, err
	}
	minus, err := at(-r)
	if err != nil {
		return nil, err
	}
	if _, err := at(0); err != nil {
		return nil, err
	}
	plus.AddScaled(-1, minus)
	plus.Divide(2 * r)
	return plus, nil
}

func scalar(v G.Value) float64 {
	switch v := v.(type) {
	case *G.F64:
		return float64(*v)
	case *G.F32:
		return float64(*v)
	}
	return math.NaN()
}
