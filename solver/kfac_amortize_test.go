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
)

// damped returns m + √λ·(tr m/n)·I, KFAC's relative damping, as a dense
// matrix.
func damped(m mat.Symmetric, lambda float64) *mat.Dense {
	n := m.SymmetricDim()
	out := mat.DenseCopyOf(m)
	shift := math.Sqrt(lambda) * mat.Trace(out) / float64(n)
	for i := range n {
		out.Set(i, i, out.At(i, i)+shift)
	}
	return out
}

// lu returns m⁻¹ by LU (mat.Dense.Inverse), independent of KFAC's
// Cholesky.
func lu(t *testing.T, m *mat.Dense) *mat.Dense {
	t.Helper()
	var inv mat.Dense
	if err := inv.Inverse(m); err != nil {
		t.Fatal(err)
	}
	return &inv
}

// kroneckerDirection returns, per block, −(Ã ⊗ D̃)⁻¹ vec(g) for the given
// damped factors, the Kronecker product built and LU-solved.
func kroneckerDirection(t *testing.T, p *hvp.Problem, g *params.Vector, as, ds []*mat.Dense) []float64 {
	t.Helper()
	d := params.New(p.Layout())
	for l := range p.Blocks() {
		var k mat.Dense
		k.Kronecker(as[l], ds[l])
		rhs := append([]float64(nil), g.Block(l).Flat()...)
		var u mat.VecDense
		if err := u.SolveVec(&k, mat.NewVecDense(len(rhs), rhs)); err != nil {
			t.Fatal(err)
		}
		db := params.FromFlat(p.Layout().Block(l), u.RawVector().Data)
		db.Scale(-1)
		d.Block(l).CopyFrom(db)
	}
	return d.Flat()
}

// stepDirection takes one step of k and returns its direction, the weights'
// change over the step length (the guard sets the length, not the
// direction).
func stepDirection(t *testing.T, p *hvp.Problem, k *solver.KFAC) []float64 {
	t.Helper()
	w0, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kfacNext(k)
	if err != nil {
		t.Fatal(err)
	}
	if !(rec.StepSize > 0) {
		t.Fatalf("step %d: no step (%+v)", rec.Iter, rec)
	}
	w1, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	d := w1.Flat()
	floats.Sub(d, w0.Flat())
	floats.Scale(1/rec.StepSize, d)
	return d
}

// With Refresh = StatsEvery = 1 and no memory (Decay ≈ 0), every step's
// direction is −(Ã ⊗ D̃)⁻¹ vec(g) of that step's own damped factors,
// solved densely here (hvp.Kronecker's factors at the step's weights, the
// Kronecker product LU-solved): the inverses-as-products of
// kfac_amortize.go equal the direct solve to rounding.
func TestKFACAmortisedEveryStepIsDirectSolve(t *testing.T) {
	_, p := kfacNet(t, 3)
	const lambda = 0.1
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1, StatsEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 4 {
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		var as, ds []*mat.Dense
		for _, f := range kf.Factors {
			as, ds = append(as, damped(f.A, lambda)), append(ds, damped(f.DD, lambda))
		}
		want := kroneckerDirection(t, p, kf.Grad, as, ds)
		got := stepDirection(t, p, k)
		// Explicit inverses and an LU solve of factors of condition ≲ 1e3
		// (damped by 0.3 of their mean eigenvalue): 1e-10; a refresh missed
		// would be off by the factors' change over a step, ≳ 1e-3.
		if diff := flatRelDiff(got, want); !(diff < 1e-10) {
			t.Errorf("step %d: direction differs from the direct solve by %.3g", step, diff)
		}
	}
}

// With Refresh = 3 the inverses of steps 1 and 2 are those computed at
// step 0's refresh, of the damped averages then (checked against an LU
// inverse of a copy taken at step 0), although the averages move; step
// 3 refreshes them; and steps 1, 2 take the direction of those inverses
// (the Kronecker product of their damped factors LU-solved).
func TestKFACAmortisedInverseIsTheRefreshOne(t *testing.T) {
	_, p := kfacNet(t, 4)
	const lambda = 0.1
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 0.5, Refresh: 3})
	if err != nil {
		t.Fatal(err)
	}
	n := p.Blocks()
	as, ds := make([]*mat.Dense, n), make([]*mat.Dense, n)
	for step := range 4 {
		var want []float64
		if step == 1 || step == 2 {
			_, g, err := p.Gradient()
			if err != nil {
				t.Fatal(err)
			}
			want = kroneckerDirection(t, p, g, as, ds)
		}
		got := stepDirection(t, p, k)
		if want != nil {
			// As above: 1e-10.
			if diff := flatRelDiff(got, want); !(diff < 1e-10) {
				t.Errorf("step %d: direction differs from the refresh's inverses by %.3g", step, diff)
			}
		}
		for l := range n {
			a, dd, ia, id := k.Amortised(l)
			if step == 0 || step == 3 {
				as[l], ds[l] = damped(a, lambda), damped(dd, lambda)
			}
			// LU and Cholesky inverses of condition ≲ 1e3: 1e-10.
			if e := flatRelDiff(ia.RawMatrix().Data, lu(t, as[l]).RawMatrix().Data); !(e < 1e-10) {
				t.Errorf("step %d, block %d: input inverse differs from the refresh's by %.3g", step, l, e)
			}
			if e := flatRelDiff(id.RawMatrix().Data, lu(t, ds[l]).RawMatrix().Data); !(e < 1e-10) {
				t.Errorf("step %d, block %d: adjoint inverse differs from the refresh's by %.3g", step, l, e)
			}
			if step == 2 { // the adjoint averages did move (A of block 0 is the data's): the check above could fail
				if e := flatRelDiff(damped(dd, lambda).RawMatrix().Data, ds[l].RawMatrix().Data); !(e > 1e-6) {
					t.Errorf("block %d: the adjoint average did not move from step 0 to 2 (%.3g): the test cannot tell", l, e)
				}
			}
		}
	}
}

// With StatsEvery = 2 the averages are folded on steps 0 and 2 only:
// after step 1 they are step 0's, after step 2 Decay·(step 0's) +
// (1 − Decay)·(hvp.Kronecker's factors at step 2's weights), computed
// here directly.
func TestKFACStatsEvery(t *testing.T) {
	_, p := kfacNet(t, 5)
	const decay = 0.6
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: 0.1, Decay: decay, Refresh: 1, StatsEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := p.Blocks()
	prev := make([]*mat.Dense, n)
	for step := range 3 {
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		stepDirection(t, p, k)
		for l := range n {
			a, _, _, _ := k.Amortised(l)
			var want mat.Dense
			switch step {
			case 0:
				want.CloneFrom(kf.Factors[l].A)
			case 1:
				want.CloneFrom(prev[l])
			case 2:
				var now mat.Dense
				now.Scale(1-decay, kf.Factors[l].A)
				want.Scale(decay, prev[l])
				want.Add(&want, &now)
			}
			// Sums of a few products: 1e-12.
			if e := flatRelDiff(mat.DenseCopyOf(a).RawMatrix().Data, want.RawMatrix().Data); !(e < 1e-12) {
				t.Errorf("step %d, block %d: input average off by %.3g", step, l, e)
			}
			prev[l] = mat.DenseCopyOf(a)
		}
	}
}

// An amortised KFAC (Refresh 5, StatsEvery 2) lowers the loss on the
// small net: after 30 steps below a fifth of the start (one-hot targets,
// infimum 0), as TestKFACConverges asks of every-step K-FAC.
func TestKFACAmortisedDescends(t *testing.T) {
	_, p := kfacNet(t, 2)
	first, _, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	k, err := solver.NewKFAC(p, &solver.KFACSettings{Refresh: 5, StatsEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for range 30 {
		rec, _, err := kfacNext(k)
		if err != nil {
			t.Fatal(err)
		}
		last = rec.LossAfter
	}
	if !(last < first/5) {
		t.Errorf("loss %.4g → %.4g after 30 steps", first, last)
	}
}

// With StatsSamples = m (Refresh 1, no memory) a step's direction is the
// Kronecker-factored one of hvp.KroneckerSample(m)'s factors (that
// function checked against a net of the first m samples in hvp), with the
// whole batch's gradient, and not the one of the whole batch's factors.
func TestKFACStatsSamples(t *testing.T) {
	_, p := kfacNet(t, 5)
	const lambda, m = 0.1, 5
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1, StatsSamples: m})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 2 {
		direction := func(kf *hvp.KroneckerFactors) []float64 {
			var as, ds []*mat.Dense
			for _, f := range kf.Factors {
				as, ds = append(as, damped(f.A, lambda)), append(ds, damped(f.DD, lambda))
			}
			return kroneckerDirection(t, p, kf.Grad, as, ds)
		}
		sub, err := p.KroneckerSample(m)
		if err != nil {
			t.Fatal(err)
		}
		all, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		want, whole := direction(sub), direction(all)
		got := stepDirection(t, p, k)
		// As TestKFACAmortisedEveryStepIsDirectSolve: 1e-10; the whole
		// batch's factors give another direction (checked: > 1e-3).
		if diff := flatRelDiff(got, want); !(diff < 1e-10) {
			t.Errorf("step %d: direction differs from the %d-sample factors' by %.3g", step, m, diff)
		}
		if diff := flatRelDiff(whole, want); !(diff > 1e-3) {
			t.Errorf("step %d: the %d-sample direction equals the batch's (%.3g): the test cannot tell", step, m, diff)
		}
	}
}

// With LearnRate η (Refresh 1, no memory) a step is η·d, d the
// Kronecker-factored direction of the step's own factors (LU-solved
// here), with no Gauss–Newton product and no guard: its cost is the
// gradient pass's B rows alone, its loss after not measured (NaN).
func TestKFACLearnRate(t *testing.T) {
	_, p := kfacNet(t, 6)
	const lambda, eta, B = 0.1, 0.05, 12
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1, LearnRate: eta})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 2 {
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		var as, ds []*mat.Dense
		for _, f := range kf.Factors {
			as, ds = append(as, damped(f.A, lambda)), append(ds, damped(f.DD, lambda))
		}
		want := kroneckerDirection(t, p, kf.Grad, as, ds)
		floats.Scale(eta, want)
		w0, _ := p.Current()
		rec, _, err := kfacNext(k)
		if err != nil {
			t.Fatal(err)
		}
		w1, _ := p.Current()
		got := w1.Flat()
		floats.Sub(got, w0.Flat())
		// As TestKFACAmortisedEveryStepIsDirectSolve: 1e-10.
		if diff := flatRelDiff(got, want); !(diff < 1e-10) || rec.StepSize != eta {
			t.Errorf("step %d: the update differs from η·d by %.3g (step size %g)", step, diff, rec.StepSize)
		}
		// The record's ‖Δw‖ (finishAt, from the vector it bound) against
		// the weights read back: the same values, two norm routines, so
		// rounding alone: 1e-14.
		if n := floats.Norm(got, 2); !(math.Abs(rec.Norm-n) <= 1e-14*n) {
			t.Errorf("step %d: recorded ‖Δw‖ %.17g, the weights moved %.17g", step, rec.Norm, n)
		}
		if rec.Cost != B || !math.IsNaN(rec.LossAfter) {
			t.Errorf("step %d: cost %d rows (want %d), loss after %g (want NaN: not measured)", step, rec.Cost, B, rec.LossAfter)
		}
	}
}

// Where B is small beside the layer's width the direction is
// (Ã⁻¹h̃ᵀ)(δD̃⁻¹) from the batch's rows (here the first layer: B = 4,
// 61 inputs with the bias; the second, 7 × 3, keeps Ã⁻¹∇W̃D̃⁻¹): against
// the Kronecker product LU-solved on the gradient, on a statistics step
// every step (Refresh 1, no memory, the fixed step η·d), and with
// StatsEvery 2, whose steps between use the gradient (no rows of their
// own) with the last factors.
func TestKFACDirectionFromRows(t *testing.T) {
	for _, every := range []int{1, 2} {
		m, err := nets.Build(nets.Spec{Batch: 4, In: 60, Loss: nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean,
			Layers: []nets.Layer{{Out: 6, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Randomize(rand.New(rand.NewPCG(3, 9)), 0.3, 0); err != nil {
			t.Fatal(err)
		}
		p, err := hvp.New(m.Loss, m.Params()...)
		if err != nil {
			t.Fatal(err)
		}
		const lambda, eta = 0.1, 0.05
		k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1, StatsEvery: every, LearnRate: eta})
		if err != nil {
			t.Fatal(err)
		}
		var as, ds []*mat.Dense
		for step := range 3 {
			stats := step%every == 0
			kf, err := p.Kronecker()
			if err != nil {
				t.Fatal(err)
			}
			if stats {
				as, ds = nil, nil
				for _, f := range kf.Factors {
					as, ds = append(as, damped(f.A, lambda)), append(ds, damped(f.DD, lambda))
				}
			}
			want := kroneckerDirection(t, p, kf.Grad, as, ds)
			floats.Scale(eta, want)
			w0, _ := p.Current()
			if _, _, err := kfacNext(k); err != nil {
				t.Fatal(err)
			}
			if k.UsesRows(0) != stats || k.UsesRows(1) {
				t.Errorf("every %d, step %d: rows used on blocks 0, 1: %v, %v (want %v, false)", every, step, k.UsesRows(0), k.UsesRows(1), stats)
			}
			w1, _ := p.Current()
			got := w1.Flat()
			floats.Sub(got, w0.Flat())
			// As TestKFACLearnRate: 1e-10 (h̃ᵀδ is the gradient up to rounding).
			if diff := flatRelDiff(got, want); !(diff < 1e-10) {
				t.Errorf("every %d, step %d: the update differs from η·d by %.3g", every, step, diff)
			}
		}
	}
}

// The moving averages folded from the rows (hvp.Problem.KroneckerRows,
// one Dgemm with β = Decay) against the EMA computed here of
// hvp.KroneckerSample's factors (hvp's own grams), both A and DD, with
// statistics on 5 of the 12 samples (DD's scale B/m) over three steps.
func TestKFACAveragesFromRows(t *testing.T) {
	_, p := kfacNet(t, 7)
	const decay, m = 0.6, 5
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: 0.1, Decay: decay, Refresh: 1, StatsSamples: m})
	if err != nil {
		t.Fatal(err)
	}
	n := p.Blocks()
	wantA, wantD := make([]*mat.Dense, n), make([]*mat.Dense, n)
	for step := range 3 {
		kf, err := p.KroneckerSample(m)
		if err != nil {
			t.Fatal(err)
		}
		stepDirection(t, p, k)
		for l := range n {
			fa, fd := mat.DenseCopyOf(kf.Factors[l].A), mat.DenseCopyOf(kf.Factors[l].DD)
			if step == 0 {
				wantA[l], wantD[l] = fa, fd
			} else {
				fa.Scale(1-decay, fa)
				fd.Scale(1-decay, fd)
				wantA[l].Scale(decay, wantA[l])
				wantA[l].Add(wantA[l], fa)
				wantD[l].Scale(decay, wantD[l])
				wantD[l].Add(wantD[l], fd)
			}
			a, dd, _, _ := k.Amortised(l)
			// Sums of a few products in another order: 1e-12.
			if e := flatRelDiff(mat.DenseCopyOf(a).RawMatrix().Data, wantA[l].RawMatrix().Data); !(e < 1e-12) {
				t.Errorf("step %d, block %d: input average off by %.3g", step, l, e)
			}
			if e := flatRelDiff(mat.DenseCopyOf(dd).RawMatrix().Data, wantD[l].RawMatrix().Data); !(e < 1e-12) {
				t.Errorf("step %d, block %d: adjoint average off by %.3g", step, l, e)
			}
		}
	}
}
