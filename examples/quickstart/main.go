// Command quickstart trains a classifier written with Gorgonia's own API (G.Grad, a TapeMachine,
// Adam), then, in the lines marked "newtonia", takes exact second-order quantities on the same graph
// beside the checks that make them believable: Hv against central differences of G.Grad, the
// conditions report, a damped H⁻¹v and its residual, a Newton step and Gorgonia's cost after it.
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
	hvFD, before, after, machineAfter float64 // ‖Hv − FD(G.Grad)‖/‖FD‖; the cost around the Newton step, Gorgonia's after it
	inv                               *hvp.Result
	nodes, nodesThen                  int // the model's graph's nodes before and after newtonia
}

func run(w io.Writer, dt tensor.Dtype, seed uint64) (*summary, error) {
	const batch, in, hidden, classes = 9, 8, 8, 3 // batch = fan-in + 1: exact inverses (more: the conditions report says why not)
	const lambda = 1e-3                           // damping: H⁻¹v is (H + λ h̃ᵀh̃⊗I)⁻¹v, exactly (method.md §9)
	rng := rand.New(rand.NewPCG(seed, 1))
	tensorOf := func(f func(i int) float64, shape ...int) tensor.Tensor { // f(0), f(1), … in the model's dtype
		t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
		for i, data := 0, reflect.ValueOf(t.Data()); i < data.Len(); i++ {
			data.Index(i).SetFloat(f(i)) // a []float64 or []float32
		}
		return t
	}
	normal := func(sd float64) func(int) float64 { return func(int) float64 { return sd * rng.NormFloat64() } } // for G.GlorotN(1), seeded
	// The model in Gorgonia's idiom: softmax(tanh(x W0 + b0) W1 + b1), mean cross-entropy.
	g := G.NewGraph()
	w0 := G.NewMatrix(g, dt, G.WithShape(in, hidden), G.WithName("w0"), G.WithValue(tensorOf(normal(math.Sqrt(2.0/(in+hidden))), in, hidden)))
	b0 := G.NewVector(g, dt, G.WithShape(hidden), G.WithName("b0"), G.WithInit(G.Zeroes()))
	w1 := G.NewMatrix(g, dt, G.WithShape(hidden, classes), G.WithName("w1"), G.WithValue(tensorOf(normal(math.Sqrt(2.0/(hidden+classes))), hidden, classes)))
	b1 := G.NewVector(g, dt, G.WithShape(classes), G.WithName("b1"), G.WithInit(G.Zeroes()))
	learnables := G.Nodes{w0, b0, w1, b1}
	features := func(i int) float64 { // data: three classes in the plane, lifted to in features
		return math.Cos(2*math.Pi*float64(i/in%classes)/classes+float64(i%in)) + 0.6*rng.NormFloat64()
	}
	oneHot := func(i int) float64 { return map[bool]float64{true: 1}[i%classes == i/classes%classes] } // sample s is of class s mod classes
	x := G.NewMatrix(g, dt, G.WithShape(batch, in), G.WithName("x"), G.WithValue(tensorOf(features, batch, in)))
	y := G.NewMatrix(g, dt, G.WithShape(batch, classes), G.WithName("y"), G.WithValue(tensorOf(oneHot, batch, classes)))
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0}))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w1)), b1, nil, []byte{0}))
	cost := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, G.Must(G.Log(G.Must(G.SoftMax(logits)))))), 1))))))
	grads, err := G.Grad(cost, learnables...) // training as Gorgonia's documentation does it: G.Grad, a TapeMachine, Adam
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
	if s.hvFD = params.RelDiff(hv, fd); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "model: %v, %d samples, %d-%d-%d, tanh, softmax cross-entropy, 20 Adam steps\n\nHv (exact, R-pass): ‖Hv‖ = %.6g; against central differences of G.Grad (r = 1e-3): %.2g relative\n\nconditions report:\n%v\n",
		dt, batch, in, hidden, classes, hv.Norm(), s.hvFD, p.Conditions()) // newtonia: the conditions report
	if s.inv, err = p.Block(0).InvHv(v.Block(0), &hvp.Options{Damping: lambda}); err != nil { // newtonia
		return nil, err
	}
	fmt.Fprintf(w, "H⁻¹v for block %s, λ = %g: %v by the %s route, certified %v, residual of the %v result %.2g\n", p.Block(0).Name(), lambda,
		s.inv.Kind, s.inv.Method, s.inv.Certified, dt, max(s.inv.Residual, s.inv.RoundedResidual)) // RoundedResidual: float32's, after rounding (0 in float64)
	opt, err := solver.New("newton", p, &solver.DampedNewtonSettings{LMDamping: lambda}) // newtonia: any of solver.Names()
	if err != nil {
		return nil, err
	}
	rec, err := opt.Step()                               // newtonia: one step, written into the model's weights
	if err = errors.Join(err, vm.RunAll()); err != nil { // Gorgonia's own machine sees the new weights
		return nil, err
	}
	s.before, s.after, s.machineAfter, s.nodesThen = rec.LossBefore, rec.LossAfter, reflect.ValueOf(cost.Value().Data()).Float(), len(g.AllNodes())
	fmt.Fprintf(w, "\nNewton step (damped exact block steps from λ = %g, %s taken): cost %.6g → %.6g; by Gorgonia's TapeMachine %.6g\nthe model's graph: %d nodes before newtonia, %d after\n",
		lambda, rec.Detail.(*solver.NewtonDetail).Combined, s.before, s.after, s.machineAfter, s.nodes, s.nodesThen)
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
		err := errors.Join(p.SetWeights(w), vm.RunAll())
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
