package solver_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// scalarNet is l2Net's data through x·W·s + b, s a scalar weight (a
// *gorgonia.F64 or F32 value): mean squared error.
func scalarNet(t *testing.T, dt tensor.Dtype) *hvp.Problem {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	g := G.NewGraph()
	B, in, out := 16, 5, 3
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B, out)))
	w := G.NewMatrix(g, dt, G.WithShape(in, out), G.WithName("W"), G.WithValue(gval(rng, dt, 0.5, in, out)))
	var sv G.Value = G.NewF64(0.7)
	if dt == tensor.Float32 {
		sv = G.NewF32(0.7)
	}
	s := G.NewScalar(g, dt, G.WithName("s"), G.WithValue(sv))
	o := G.Must(G.Mul(G.Must(G.Mul(x, w)), s))
	cost := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(o, y))))))
	p, err := hvp.New(cost, w, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sgd and adam are Gorgonia's VanillaSolver and AdamSolver, fused: the
// oracle is Gorgonia's own solver, stepped on ValueGrads from the same
// weights on the same batch, and the weights after every one of six steps
// must be bit for bit its (the same operations in the same order and
// dtype; a scalar weight's updated value read from the solver's tensor and
// bound back, as ValueGrads hands Gorgonia a copy of it). Norm is the
// step's length measured from the weights (the same differences, summed
// in another order: 1e-12 relative).
func TestGorgoniaSolversBitForBit(t *testing.T) {
	const steps = 6
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, net := range []string{"l2", "scalar"} {
			for _, name := range []string{"sgd", "adam"} {
				for _, batch := range []float64{0, 4} {
					t.Run(fmt.Sprintf("%v/%s/%s/batch%g", dt, net, name, batch), func(t *testing.T) {
						p := l2Net(t, dt, 0.01)
						if net == "scalar" {
							p = scalarNet(t, dt)
						}
						set := solver.GorgoniaSettings{LearnRate: 0.05, BatchSize: batch}
						w0, err := p.Current()
						if err != nil {
							t.Fatal(err)
						}
						o := newOpt(t, name, p, &set)
						var ours []*params.Vector
						for i := range steps {
							before, _ := p.Current()
							rec, err := o.Step()
							if err != nil {
								t.Fatal(err)
							}
							w, _ := p.Current()
							ours = append(ours, w)
							d := w.Clone()
							d.AddScaled(-1, before)
							if moved := d.Norm(); !(moved > 0) || math.Abs(rec.Norm-moved) > 1e-12*moved || rec.Iter != i {
								t.Errorf("step %d: Iter %d, Norm %.17g, measured %.17g", i, rec.Iter, rec.Norm, moved)
							}
						}
						if err := p.SetWeights(w0); err != nil {
							t.Fatal(err)
						}
						opts := []G.SolverOpt{G.WithLearnRate(set.LearnRate), G.WithBatchSize(max(batch, 1))}
						var oracle G.Solver = G.NewVanillaSolver(opts...)
						if name == "adam" {
							oracle = G.NewAdamSolver(opts...)
						}
						for i := range steps {
							_, g, err := p.Gradient()
							if err != nil {
								t.Fatal(err)
							}
							model, err := solver.ValueGrads(p, g)
							if err != nil {
								t.Fatal(err)
							}
							// A scalar's copy as a 1-vector (Gorgonia's Adam panics on
							// a tensor of shape (): it caches it as a scalar).
							scalars := map[int]*tensor.Dense{}
							for k, w := range p.Weights() {
								if _, ok := w.Value().(*tensor.Dense); !ok {
									v, _ := model[k].Value().(*tensor.Dense)
									gv, _ := model[k].Grad()
									scalars[k] = vec1(v)
									model[k] = pair{scalars[k], vec1(gv.(*tensor.Dense))}
								}
							}
							if err := oracle.Step(model); err != nil {
								t.Fatal(err)
							}
							for k, v := range scalars { // bound back
								var x G.Value
								if dt == tensor.Float32 {
									x = G.NewF32(v.Float32s()[0])
								} else {
									x = G.NewF64(v.Float64s()[0])
								}
								if err := G.Let(p.Weights()[k], x); err != nil {
									t.Fatal(err)
								}
							}
							want, _ := p.Current()
							if !slices.Equal(ours[i].Flat(), want.Flat()) {
								t.Fatalf("step %d: weights differ from Gorgonia's by %.3g (relative)", i, params.RelDiff(ours[i], want))
							}
						}
					})
				}
			}
		}
	}
}

// pair is a gorgonia.ValueGrad.
type pair struct{ v, g *tensor.Dense }

func (p pair) Value() G.Value         { return p.v }
func (p pair) Grad() (G.Value, error) { return p.g, nil }

// vec1 is a tensor of shape () as a new 1-vector.
func vec1(t *tensor.Dense) *tensor.Dense {
	if t.Dtype() == tensor.Float32 {
		return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{t.Data().(float32)}))
	}
	return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{t.Data().(float64)}))
}
