// Command quickstart trains a small classifier written with Gorgonia's own
// API (G.Grad, a TapeMachine, Gorgonia's Adam), then, in the lines marked
// "newtonia", takes exact second-order quantities on the very same graph,
// each beside the check that makes it believable: Hv against central
// differences of G.Grad, the conditions report, a damped H⁻¹v with its
// residual, a Newton step with the cost as Gorgonia's machine computes it.
//
//	go run ./examples/quickstart [-float32]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"reflect"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	f32 := flag.Bool("float32", false, "build the model in float32 (default float64)")
	flag.Parse()
	dt := map[bool]tensor.Dtype{false: tensor.Float64, true: tensor.Float32}[*f32]
	if _, err := run(os.Stdout, dt, 1); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// summary is what run measured, for the test.
type summary struct {
	hvFD                        float64 // ‖Hv − FD(G.Grad)‖/‖FD‖
	inv                         *hvp.Result
	before, after, machineAfter float64 // the cost around the Newton step; Gorgonia's after it
	nodes, nodesThen            int     // the model's graph's nodes before and after newtonia
}

func run(w io.Writer, dt tensor.Dtype, seed uint64) (*summary, error) {
	const batch, in, hidden, classes = 9, 8, 8, 3 // batch = fan-in + 1: exact inverses (more: the conditions report says why not)
	rng := rand.New(rand.NewPCG(seed, 1))
	// tensorOf returns a tensor of the model's dtype holding f(0), f(1), … in row-major order.
	tensorOf := func(f func(i int) float64, shape ...int) tensor.Tensor {
		t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
		for i := range t.Size() {
			if dt == tensor.Float32 {
				t.Float32s()[i] = float32(f(i))
			} else {
				t.Float64s()[i] = f(i)
			}
		}
		return t
	}
	glorot := func(fanIn, fanOut int) tensor.Tensor {
		return tensorOf(func(int) float64 { return math.Sqrt(2/float64(fanIn+fanOut)) * rng.NormFloat64() }, fanIn, fanOut)
	}

	// The model in Gorgonia's idiom: softmax(tanh(x W0 + b0) W1 + b1), mean cross-entropy.
	g := G.NewGraph()
	learnables := G.Nodes{
		G.NewMatrix(g, dt, G.WithShape(in, hidden), G.WithName("w0"), G.WithValue(glorot(in, hidden))),
		G.NewVector(g, dt, G.WithShape(hidden), G.WithName("b0"), G.WithInit(G.Zeroes())),
		G.NewMatrix(g, dt, G.WithShape(hidden, classes), G.WithName("w1"), G.WithValue(glorot(hidden, classes))),
		G.NewVector(g, dt, G.WithShape(classes), G.WithName("b1"), G.WithInit(G.Zeroes())),
	}
	// Data: three classes in the plane, lifted to in features; one-hot targets.
	x := G.NewMatrix(g, dt, G.WithShape(batch, in), G.WithName("x"), G.WithValue(tensorOf(func(i int) float64 {
		return math.Cos(2*math.Pi*float64(i/in%classes)/classes+float64(i%in)) + 0.6*rng.NormFloat64()
	}, batch, in)))
	y := G.NewMatrix(g, dt, G.WithShape(batch, classes), G.WithName("y"), G.WithValue(tensorOf(func(i int) float64 {
		return map[bool]float64{true: 1}[i%classes == i/classes%classes]
	}, batch, classes)))
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, learnables[0])), learnables[1], nil, []byte{0}))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, learnables[2])), learnables[3], nil, []byte{0}))
	cost := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, G.Must(G.Log(G.Must(G.SoftMax(logits)))))), 1))))))

	// Training as Gorgonia's documentation does it: G.Grad, a TapeMachine, Adam.
	grads, err := G.Grad(cost, learnables...)
	if err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learnables...))
	defer vm.Close()
	adam := G.NewAdamSolver(G.WithLearnRate(0.05))
	for range 20 {
		if err = vm.RunAll(); err == nil {
			err = adam.Step(G.NodesToValueGrads(learnables))
		}
		if vm.Reset(); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "model: %v, %d samples, %d-%d-%d, tanh, softmax cross-entropy, 20 Adam steps\n\n", dt, batch, in, hidden, classes)

	s := &summary{nodes: len(g.AllNodes())}
	p, err := hvp.New(cost, learnables...) // newtonia: the products of this model
	if err != nil {
		return nil, err
	}
	v := params.New(p.Layout()) // a random direction
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	hv, err := p.Hv(v) // newtonia: exact Hv
	if err != nil {
		return nil, err
	}
	fd, err := gradFD(p, vm, grads, v, 1e-3)
	if err != nil {
		return nil, err
	}
	s.hvFD = params.RelDiff(hv, fd)
	fmt.Fprintf(w, "Hv (exact, R-pass): ‖Hv‖ = %.6g; against central differences of G.Grad (r = 1e-3): %.2g relative\n\n", hv.Norm(), s.hvFD)
	fmt.Fprintf(w, "conditions report:\n%v\n", p.Conditions()) // newtonia

	const lambda = 1e-3                                                                       // damping: H⁻¹v is (H + λ h̃ᵀh̃⊗I)⁻¹v, exactly (method.md §9)
	if s.inv, err = p.Block(0).InvHv(v.Block(0), &hvp.Options{Damping: lambda}); err != nil { // newtonia
		return nil, err
	}
	fmt.Fprintf(w, "H⁻¹v for block %s, λ = %g: %v by the %s route, certified %v, residual %.2g (of the result rounded to %v: %.2g)\n",
		p.Block(0).Name(), lambda, s.inv.Kind, s.inv.Method, s.inv.Certified, s.inv.Residual, dt, s.inv.RoundedResidual)

	rec, err := solver.NewNewton(p, &solver.NewtonSettings{Damping: lambda}).Iterate() // newtonia: one Newton step, into the weights
	if err == nil {
		err = vm.RunAll() // Gorgonia's own machine sees the new weights
	}
	if err != nil {
		return nil, err
	}
	s.before, s.after, s.nodesThen = rec.Loss, rec.NewLoss, len(g.AllNodes())
	s.machineAfter = reflect.ValueOf(cost.Value().Data()).Float() // a float64 or float32 scalar
	fmt.Fprintf(w, "\nNewton step (damped exact block steps from λ = %g, %s taken): cost %.6g → %.6g; by Gorgonia's TapeMachine %.6g\n",
		lambda, rec.Combined, s.before, s.after, s.machineAfter)
	fmt.Fprintf(w, "the model's graph: %d nodes before newtonia, %d after\n", s.nodes, s.nodesThen)
	return s, nil
}

// gradFD returns (∇J(w + r v) − ∇J(w − r v)) / 2r by Gorgonia's own
// gradient (the nodes G.Grad returned, run by vm), leaving the weights as found.
func gradFD(p *hvp.Problem, vm G.VM, grads G.Nodes, v *params.Vector, r float64) (*params.Vector, error) {
	w0, err := p.Current()
	if err != nil {
		return nil, err
	}
	defer p.SetWeights(w0) // the weights Current read: cannot fail
	fd := params.New(p.Layout())
	for _, sign := range []float64{1, -1} {
		w := w0.Clone()
		w.AddScaled(sign*r, v)
		if err := p.SetWeights(w); err != nil {
			return nil, err
		}
		err := vm.RunAll()
		vm.Reset()
		gs := make([]*tensor.Dense, len(grads))
		for k, n := range grads {
			gs[k], _ = n.Value().(*tensor.Dense)
		}
		g, errG := params.FromTensors(p.Layout(), gs, "G.Grad's gradient")
		if err = errors.Join(err, errG); err != nil {
			return nil, err
		}
		fd.AddScaled(sign/(2*r), g)
	}
	return fd, nil
}
