package solver_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convNet32 is a float32 conv net in Gorgonia's idiom: Conv2d (3×3, stride
// 2, pad 1, 4 channels) on 2 images 8×8, Rectify, MaxPool2D 2×2, Reshape,
// Mul by Wout (16×3), softmax cross-entropy written as users write it,
// −mean Σ y⊙log(softmax(z)) (Gorgonia makes log∘softmax its LogSoftMax).
// With a batch of 2 the exact Newton step of Wout fits the batch: its
// logits end ~200 apart, which newtonia's float64 passes evaluate finitely
// and Gorgonia's float32 LogSoftMax as NaN.
func convNet32(t *testing.T) (*hvp.Problem, *G.ExprGraph, *G.Node) {
	t.Helper()
	const n, classes = 2, 3
	dt := tensor.Float32
	rng := rand.New(rand.NewPCG(1, 7))
	g := G.NewGraph()
	x := make([]float64, n*64)
	for i := range x {
		x[i] = 0.2 + rng.NormFloat64()
	}
	X := G.NewTensor(g, dt, 4, G.WithShape(n, 1, 8, 8), G.WithName("images"), G.WithValue(gtensor(dt, x, n, 1, 8, 8)))
	y := make([]float64, n*classes)
	for i := range n {
		y[i*classes+i%classes] = 1
	}
	Y := G.NewMatrix(g, dt, G.WithShape(n, classes), G.WithName("labels"), G.WithValue(gtensor(dt, y, n, classes)))
	k := G.NewTensor(g, dt, 4, G.WithShape(4, 1, 3, 3), G.WithName("kernel"), G.WithValue(gval(rng, dt, 1/3.0, 4, 1, 3, 3)))
	w := G.NewMatrix(g, dt, G.WithShape(16, classes), G.WithName("Wout"), G.WithValue(gval(rng, dt, 1.5, 16, classes)))
	h := G.Must(G.Conv2d(X, k, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1}))
	h = G.Must(G.Rectify(h))
	h = G.Must(G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	h = G.Must(G.Reshape(h, tensor.Shape{n, 16}))
	z := G.Must(G.Mul(h, w))
	logp := G.Must(G.Log(G.Must(G.SoftMax(z))))
	cost := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(Y, logp)), 1))))))
	p, err := hvp.New(cost, k, w)
	if err != nil {
		t.Fatal(err)
	}
	return p, g, cost
}

// tapeLoss is the loss as Gorgonia's TapeMachine computes it, in float32,
// at the weights bound: the oracle of what a user sees.
func tapeLoss(t *testing.T, g *G.ExprGraph, cost *G.Node) float64 {
	t.Helper()
	vm := G.NewTapeMachine(g) // anew: a machine made once was seen to ignore a G.Let
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	switch v := cost.Value().(type) {
	case *G.F32:
		return float64(*v)
	case *G.F64:
		return float64(*v)
	}
	t.Fatalf("loss value %T", cost.Value())
	return 0
}

// TestDampedNewtonGuardedByModelDtype: on the float32 conv net, the damped
// Newton step whose newtonia (float64) loss is lowest has a NaN loss by
// Gorgonia's float32 ops; the step taken must be another, with a finite
// TapeMachine loss no larger than before, the refusal recorded in Detail
// and in Step.Fallbacks. Oracle: the TapeMachine itself (exact comparison:
// the guard compares the same float32 values).
func TestDampedNewtonGuardedByModelDtype(t *testing.T) {
	// BlockNewton's first step is capped at the trust radius ‖w‖ (Radius
	// 1), which keeps its logits in float32's range: Radius 100 lets its
	// exact step run as long as DampedNewton's.
	for name, settings := range map[string]any{"newton": nil, "newton-cyclic": &solver.BlockNewtonSettings{Combine: solver.CombineCyclic, Radius: 100}} {
		t.Run(name, func(t *testing.T) {
			p, g, cost := convNet32(t)
			before := tapeLoss(t, g, cost)
			o := newOpt(t, name, p, settings)
			rec, det, err := newtonStep(o)
			if err == nil && name == "newton-cyclic" { // its first step moves the kernel alone, its second Wout
				before = tapeLoss(t, g, cost)
				rec, det, err = newtonStep(o)
			}
			if err != nil {
				t.Fatal(err)
			}
			after := tapeLoss(t, g, cost)
			t.Logf("TapeMachine loss %.8g → %.8g, |Δw| %.3g, took %s; refused: %v", before, after, rec.Norm, det.Combined, det.Refused)
			if math.IsNaN(after) || math.IsInf(after, 0) || after > before {
				t.Fatalf("TapeMachine loss %v → %v: not finite and no larger", before, after)
			}
			if rec.Norm == 0 {
				t.Fatalf("no step taken: %+v", rec.Fallbacks)
			}
			if len(det.Refused) == 0 {
				t.Fatalf("no step refused: this net no longer exercises the guard (newtonia's loss after %v)", rec.LossAfter)
			}
			named := false
			for _, f := range rec.Fallbacks {
				named = named || strings.Contains(f.Reason, "the loss by the model's own float32 ops is NaN")
			}
			if !named {
				t.Fatalf("the refusal is not in Step.Fallbacks: %+v", rec.Fallbacks)
			}
		})
	}
}

// TestSubspaceAverageIsRecorded: on the tanh net without decay the
// cross-block curvature over the block steps is indefinite at the start,
// and newton-subspace takes the average of the block steps; every step
// whose coefficients are that average must say so in Step.Fallbacks, and
// no other step (the oracle: the coefficients themselves).
func TestSubspaceAverageIsRecorded(t *testing.T) {
	p := l2Net(t, tensor.Float64, 0)
	o := newOpt(t, "newton-subspace", p, nil)
	averaged := 0
	for step := range 5 {
		rec, det, err := newtonStep(o)
		if err != nil {
			t.Fatal(err)
		}
		avg := len(det.Coefficients) > 1
		for _, c := range det.Coefficients {
			avg = avg && c == 1/float64(len(det.Coefficients))
		}
		said := false
		for _, f := range rec.Fallbacks {
			said = said || f.Block == -1 && strings.HasPrefix(f.Reason, "subspace coefficients: ") && strings.HasSuffix(f.Reason, "the average of the block steps")
		}
		if avg != said {
			t.Fatalf("step %d: coefficients %v, average %v, recorded %v: %v", step, det.Coefficients, avg, said, rec.Fallbacks)
		}
		if avg {
			averaged++
		}
	}
	if averaged == 0 {
		t.Fatal("no step took the average: this net no longer exercises the record")
	}
}
