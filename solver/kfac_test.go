package solver_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kfacNet is a tanh net with biases and softmax cross-entropy averaged over
// the batch, one-hot targets.
func kfacNet(t *testing.T, seed uint64) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	return kfacNetLoss(t, seed, nets.SoftmaxCrossEntropy)
}

// kfacNetLoss is kfacNet with another loss.
func kfacNetLoss(t *testing.T, seed uint64, loss string) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	m, err := nets.Build(nets.Spec{Batch: 12, In: 5, Loss: loss, Reduction: nets.ReductionMean,
		Layers: []nets.Layer{{Out: 6, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	if err := m.Randomize(rng, 0.8, 1); err != nil {
		t.Fatal(err)
	}
	y := make([]float64, 12*3) // one-hot targets: the infimum of the loss is 0
	for r := range 12 {
		y[r*3+rng.IntN(3)] = 1
	}
	if err := G.Let(m.Y, tensor.New(tensor.WithShape(12, 3), tensor.WithBacking(y))); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// One KFAC step is, per block, −α(Ã ⊗ D̃)⁻¹vec(∇W̃) with the damped
// factors, solved here densely (the Kronecker product built and LU-solved),
// and α = −⟨g, d⟩/⟨d, G d⟩ with G d from an independent GGNv call.
func TestKFACStepMatchesDenseKronecker(t *testing.T) {
	_, p := kfacNet(t, 1)
	const lambda = 0.1
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	want, alpha := denseKFACStep(t, p, lambda)
	rec, det, err := kfacStep(p, &solver.KFACSettings{FactorDamping: lambda})
	if err != nil {
		t.Fatal(err)
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	step := w1.Flat()
	floats.Sub(step, w0.Flat())
	// Cholesky and Kronecker solves of matrices of condition ≲ 1e3: 1e-10.
	if diff := flatRelDiff(step, want); !(diff < 1e-10) || math.Abs(rec.StepSize-alpha) > 1e-10*alpha {
		t.Errorf("step differs from the dense Kronecker solve by %.3g (α %g, want %g)", diff, rec.StepSize, alpha)
	}
	if !(det.Model < 0) || len(rec.Fallbacks) != 0 {
		t.Errorf("record %+v, %+v", rec, det)
	}
}

// denseKFACStep returns KFAC's first step at the bound values, α·d with,
// per block, d = −(Ã ⊗ D̃)⁻¹vec(∇W̃) for the factors damped by λ (0:
// undamped) and solved densely (the Kronecker product built and
// LU-solved), and α = −⟨g, d⟩/⟨d, G d⟩ with G d from a GGNv call; and α.
func denseKFACStep(t *testing.T, p *hvp.Problem, lambda float64) ([]float64, float64) {
	t.Helper()
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	g, fs := kf.Grad, kf.Factors
	d := params.New(p.Layout())
	for l := range p.Blocks() {
		damped := func(m *mat.SymDense) *mat.Dense {
			n := m.SymmetricDim()
			out := mat.DenseCopyOf(m)
			for i := range n {
				out.Set(i, i, out.At(i, i)+math.Sqrt(lambda)*mat.Trace(m)/float64(n))
			}
			return out
		}
		var k mat.Dense
		k.Kronecker(damped(fs[l].A), damped(fs[l].DD))
		rhs := append([]float64(nil), g.Block(l).Flat()...)
		var u mat.VecDense
		if err := u.SolveVec(&k, mat.NewVecDense(len(rhs), rhs)); err != nil {
			t.Fatal(err)
		}
		db := params.FromFlat(p.Layout().Block(l), u.RawVector().Data)
		db.Scale(-1)
		d.Block(l).CopyFrom(db)
	}
	gd, err := p.GGNv(d)
	if err != nil {
		t.Fatal(err)
	}
	alpha := -floats.Dot(g.Flat(), d.Flat()) / floats.Dot(d.Flat(), gd.Flat())
	want := append([]float64(nil), d.Flat()...)
	floats.Scale(alpha, want)
	return want, alpha
}

// Full batch, KFAC lowers the loss (one-hot targets: its infimum is 0):
// after 30 steps below a fifth of the start, the exact GGN model never
// predicting an increase.
func TestKFACConverges(t *testing.T) {
	_, p := kfacNet(t, 2)
	first, _, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	k, err := solver.NewKFAC(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for range 30 {
		rec, det, err := kfacNext(k)
		if err != nil {
			t.Fatal(err)
		}
		if det.Model > 0 {
			t.Fatalf("step %d: model change %g > 0", rec.Iter, det.Model)
		}
		last = rec.LossBefore
	}
	if !(last < first/5) {
		t.Errorf("loss %.4g → %.4g after 30 steps", first, last)
	}
}
