package solver_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
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

// decayNet is a Gorgonia net x(B×in) → tanh layers of the given widths
// (the last one linear, with biases) → output, its loss red(Σ_j (o − y)²)
// (red: G.Sum or G.Mean over the batch) plus λ·Σ W² over every weight
// matrix and, if decayBias, over every bias too.
func decayNet(t *testing.T, seed uint64, B, in int, widths []int, sum bool, lambda float64, decayBias bool) (*hvp.Problem, *G.Node, *G.Node) { // the problem, x, y
	t.Helper()
	return penaltyNet(t, seed, B, in, widths, sum, lambda, decayBias, func(int, *G.Node) *G.Node { return nil })
}

// penaltyNet is decayNet, layer i's weights penalised by λ·Σ pen(i, W)
// instead of λ·Σ W² where pen returns a node (nil: W²).
func penaltyNet(t *testing.T, seed uint64, B, in int, widths []int, sum bool, lambda float64, decayBias bool,
	pen func(i int, w *G.Node) *G.Node) (*hvp.Problem, *G.Node, *G.Node) {
	t.Helper()
	dt := tensor.Float64
	rng := rand.New(rand.NewPCG(seed, 7))
	g := G.NewGraph()
	out := widths[len(widths)-1]
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B, out)))
	h, prev := x, in
	var ws []*G.Node
	var total *G.Node
	addPen := func(i int, n *G.Node) {
		e := pen(i, n)
		if e == nil {
			e = G.Must(G.Square(n))
		}
		s := G.Must(G.Sum(e))
		if total == nil {
			total = s
		} else {
			total = G.Must(G.Add(total, s))
		}
	}
	for i, w := range widths {
		W := G.NewMatrix(g, dt, G.WithShape(prev, w), G.WithName("W"+string(rune('1'+i))), G.WithValue(gval(rng, dt, 0.6, prev, w)))
		b := G.NewVector(g, dt, G.WithShape(w), G.WithName("b"+string(rune('1'+i))), G.WithValue(gval(rng, dt, 0.1, w)))
		ws = append(ws, W, b)
		addPen(i, W)
		if decayBias {
			addPen(i, b)
		}
		h = G.Must(G.BroadcastAdd(G.Must(G.Mul(h, W)), b, nil, []byte{0}))
		if i < len(widths)-1 {
			h = G.Must(G.Tanh(h))
		}
		prev = w
	}
	diff := G.Must(G.Square(G.Must(G.Sub(h, y))))
	var cost *G.Node
	if sum {
		cost = G.Must(G.Sum(diff))
	} else {
		cost = G.Must(G.Mean(diff))
	}
	if lambda > 0 {
		cost = G.Must(G.Add(cost, G.Must(G.Mul(gconst(dt, lambda, "lambda"), total))))
	}
	p, err := hvp.New(cost, ws...)
	if err != nil {
		t.Fatal(err)
	}
	return p, x, y
}

// denseGGN is the Gauss–Newton matrix (with the penalties' Hessian) at the
// bound values, column i from hvp.GGNv(e_i).
func denseGGN(t *testing.T, p *hvp.Problem) *mat.Dense {
	t.Helper()
	n := p.Layout().Len()
	out := mat.NewDense(n, n, nil)
	for i := range n {
		e := params.New(p.Layout())
		e.Flat()[i] = 1
		ge, err := p.GGNv(e)
		if err != nil {
			t.Fatal(err)
		}
		out.SetCol(i, ge.Flat())
	}
	return out
}

// One layer, one sample, one output, a summed squared error whose residual
// r has r² = ½: then δδᵀ = 4r² = 2 = ℓ” and A ⊗ DD is the data term's
// Gauss–Newton matrix itself (K = 1), so undamped K-FAC's folded direction
// −(A ⊗ DD + diag(c) ⊗ I)⁻¹g is the Gauss–Newton step −(G_data + diag(c))⁻¹g
// and α = 1: the step equals the dense solve of the GGN built column by
// column from GGNv (the penalty's 2λ included), and K is measured as 1.
// With a decayed bias c is uniform (the elementwise eigenbasis solve);
// undecayed, its row has c = 0 (the Sherman–Morrison correction).
func TestKFACFoldIsGaussNewtonWhereFactorsAreExact(t *testing.T) {
	for _, decayBias := range []bool{true, false} {
		const lambda = 0.3
		p, x, y := decayNet(t, 3, 1, 4, []int{1}, true, lambda, decayBias)
		// The residual r = o − y set to 1/√2: y = o − 1/√2 at the bound
		// weights, o = x·W + b computed here.
		xs := x.Value().Data().([]float64)
		w, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		wf := w.Flat() // W (4×1), then b
		oy := floats.Dot(xs, wf[:4]) + wf[4]
		if err := G.Let(y, tensor.New(tensor.WithShape(1, 1), tensor.WithBacking([]float64{oy - 1/math.Sqrt2}))); err != nil {
			t.Fatal(err)
		}
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		gn := denseGGN(t, p)
		var want mat.VecDense
		if err := want.SolveVec(gn, mat.NewVecDense(g.Len(), append([]float64(nil), g.Flat()...))); err != nil {
			t.Fatal(err)
		}
		want.ScaleVec(-1, &want)
		w0, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		rec, det, err := kfacStep(p, &solver.KFACSettings{FactorDamping: solver.NoDamping})
		if err != nil {
			t.Fatal(err)
		}
		w1, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		step := w1.Flat()
		floats.Sub(step, w0.Flat())
		// A 5×5 system of condition ≲ 1e2, eigen- and LU-solved: 1e-10.
		if diff := flatRelDiff(step, want.RawVector().Data); !(diff < 1e-10) || math.Abs(rec.StepSize-1) > 1e-10 {
			t.Errorf("decayed bias %v: step differs from the dense Gauss–Newton step by %.3g (α = %g, want 1)", decayBias, diff, rec.StepSize)
		}
		if len(det.Folds) != 1 || math.Abs(det.Folds[0].K-1) > 1e-10 || math.Abs(det.KMeasured-1) > 1e-10 || len(rec.Fallbacks) != 0 {
			t.Errorf("decayed bias %v: record %+v, detail %+v", decayBias, rec, det)
		}
		wantC := []float64{2 * lambda, 2 * lambda, 2 * lambda, 2 * lambda, 0}
		if decayBias {
			wantC[4] = 2 * lambda
		}
		// c is hvp's probe of the penalty's Hessian: rounding, 1e-12.
		if len(det.Folds) == 1 && !floats.EqualApprox(det.Folds[0].Penalty, wantC, 1e-12) {
			t.Errorf("decayed bias %v: folded c %v, want %v", decayBias, det.Folds[0].Penalty, wantC)
		}
	}
}

// denseFold returns, at the bound values, the folded K-FAC step with the
// factors damped by λ as hvp.Kronecker gives them (no moving average), per
// block d = −(K·Ã ⊗ D̃ + diag(c) ⊗ I)⁻¹vec(∇W̃) built as a dense matrix and
// LU-solved, α = −⟨g, d⟩/⟨d, G d⟩ from GGNv: α·d, α, and the Rayleigh
// quotient ⟨d, G_data d⟩/Σ⟨d_l, (A ⊗ DD) d_l⟩ along d (G_data d = G d −
// c⊙d) — what the next step must fold with. K 0: K measured along g first,
// the same quotient, and returned as the fourth value.
func denseFold(t *testing.T, p *hvp.Problem, lambda, K float64) (step []float64, alpha, kNext, kUsed float64) {
	t.Helper()
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	g, fs := kf.Grad, kf.Factors
	kron := func(l int, damp float64) *mat.Dense {
		damped := func(m *mat.SymDense) *mat.Dense {
			n := m.SymmetricDim()
			out := mat.DenseCopyOf(m)
			for i := range n {
				out.Set(i, i, out.At(i, i)+damp*mat.Trace(m)/float64(n))
			}
			return out
		}
		var k mat.Dense
		k.Kronecker(damped(fs[l].A), damped(fs[l].DD))
		return &k
	}
	// penC is diag(c) ⊗ I's diagonal for block l (c_a on row a's n entries).
	penC := func(l int) []float64 {
		n := fs[l].DD.SymmetricDim()
		out := make([]float64, 0, len(fs[l].Penalty)*n)
		for _, c := range fs[l].Penalty {
			for range n {
				out = append(out, c)
			}
		}
		return out
	}
	rayleigh := func(v *params.Vector) float64 {
		gv, err := p.GGNv(v)
		if err != nil {
			t.Fatal(err)
		}
		num, den := 0.0, 0.0
		for l := range p.Blocks() {
			vb := v.Block(l).Flat()
			num += floats.Dot(vb, gv.Block(l).Flat())
			for i, c := range penC(l) {
				num -= c * vb[i] * vb[i]
			}
			x := mat.NewVecDense(len(vb), vb)
			den += mat.Inner(x, kron(l, 0), x)
		}
		return num / den
	}
	if K == 0 {
		K = rayleigh(g)
	}
	d := params.New(p.Layout())
	for l := range p.Blocks() {
		m := kron(l, math.Sqrt(lambda))
		m.Scale(K, m)
		for i, c := range penC(l) {
			m.Set(i, i, m.At(i, i)+c)
		}
		rhs := append([]float64(nil), g.Block(l).Flat()...)
		var u mat.VecDense
		if err := u.SolveVec(m, mat.NewVecDense(len(rhs), rhs)); err != nil {
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
	alpha = -floats.Dot(g.Flat(), d.Flat()) / floats.Dot(d.Flat(), gd.Flat())
	kNext = rayleigh(d)
	step = append([]float64(nil), d.Flat()...)
	floats.Scale(alpha, step)
	return step, alpha, kNext, K
}

// On a two-layer tanh net with a mean reduction (K near B, unknown) and
// weight decay, damped: two K-FAC steps (Decay ≈ 0, Refresh 1: each step's
// own factors) each equal the dense solve of (K·Ã ⊗ D̃ + diag(c) ⊗ I),
// the first with K the Rayleigh quotient along the gradient, the second
// with the one measured along the first step's direction, both computed
// here from dense Kronecker products and GGNv. Undecayed biases (c = 0 on
// their rows) and decayed ones.
func TestKFACFoldMatchesDenseSolve(t *testing.T) {
	for _, decayBias := range []bool{false, true} {
		p, _, _ := decayNet(t, 5, 16, 5, []int{6, 3}, false, 1e-2, decayBias)
		const lambda = 0.1
		k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1})
		if err != nil {
			t.Fatal(err)
		}
		K := 0.0
		for it := range 2 {
			w0, err := p.Current()
			if err != nil {
				t.Fatal(err)
			}
			want, alpha, kNext, kUsed := denseFold(t, p, lambda, K)
			rec, det, err := kfacNext(k)
			if err != nil {
				t.Fatal(err)
			}
			w1, err := p.Current()
			if err != nil {
				t.Fatal(err)
			}
			step := w1.Flat()
			floats.Sub(step, w0.Flat())
			// Eigenbasis and dense LU solves of systems of condition ≲ 1e4: 1e-9.
			if diff := flatRelDiff(step, want); !(diff < 1e-9) || math.Abs(rec.StepSize-alpha) > 1e-9*alpha {
				t.Errorf("decayed biases %v, step %d: differs from the dense solve by %.3g (α %g, want %g)", decayBias, it, diff, rec.StepSize, alpha)
			}
			if len(det.Folds) != 2 || len(rec.Fallbacks) != 0 || det.Note != "" {
				t.Fatalf("decayed biases %v, step %d: record %+v, detail %+v", decayBias, it, rec, det)
			}
			for _, f := range det.Folds {
				if math.Abs(f.K-kUsed) > 1e-9*kUsed {
					t.Errorf("decayed biases %v, step %d, block %d: K %g, want %g", decayBias, it, f.Block, f.K, kUsed)
				}
			}
			if math.Abs(det.KMeasured-kNext) > 1e-9*kNext {
				t.Errorf("decayed biases %v, step %d: K measured %g, want %g", decayBias, it, det.KMeasured, kNext)
			}
			t.Logf("decayed biases %v, step %d: K %.4g, measured %.4g (B = 16)", decayBias, it, kUsed, kNext)
			K = kNext
		}
	}
}

// On a decayed MLP (mean reduction, biases undecayed) K-FAC with its
// penalty folded lowers the loss every few steps and overall, with no
// fallback; the losses with and without the fold (solver.KFACWithoutFold:
// the direction from the data term's factors alone) are measured and
// logged, not compared.
func TestKFACFoldDescends(t *testing.T) {
	for _, damping := range []float64{0, 1e-2} {
		for _, fold := range []bool{true, false} {
			p, _, _ := decayNet(t, 11, 32, 6, []int{8, 8, 3}, false, 3e-2, false)
			k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: damping})
			if err != nil {
				t.Fatal(err)
			}
			if !fold {
				solver.KFACWithoutFold(k)
			}
			var first, last float64
			var ks []float64
			for it := range 30 {
				rec, det, err := kfacNext(k)
				if err != nil {
					t.Fatal(err)
				}
				if it == 0 {
					first = rec.LossBefore
				}
				last = rec.LossBefore
				if len(rec.Fallbacks) != 0 || det.Model > 0 || fold && len(det.Folds) != 3 || !fold && len(det.Folds) != 0 {
					t.Fatalf("damping %g, fold %v, step %d: record %+v, detail %+v", damping, fold, it, rec, det)
				}
				if fold && it%5 == 0 {
					ks = append(ks, det.Folds[0].K)
				}
			}
			if !(last < first) {
				t.Errorf("damping %g, fold %v: loss %.5g → %.5g after 30 steps", damping, fold, first, last)
			}
			t.Logf("damping %g, fold %v: loss %.5g → %.5g after 30 steps; K every 5 steps %.3g", damping, fold, first, last, ks)
		}
	}
}

// A penalty that is not L2 (λ·Σ|W1| on the first layer, weight decay on
// the second) is not folded, and not silently: the record's Note names
// the first block and says its penalty is not folded, Folds holds the
// second block alone, no block falls back, and the steps lower the loss.
func TestKFACNonL2PenaltyNotFolded(t *testing.T) {
	p, _, _ := penaltyNet(t, 13, 16, 5, []int{6, 3}, false, 1e-2, false, func(i int, w *G.Node) *G.Node {
		if i == 0 {
			return G.Must(G.Abs(w))
		}
		return nil
	})
	k, err := solver.NewKFAC(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	for it := range 10 {
		rec, det, err := kfacNext(k)
		if err != nil {
			t.Fatal(err)
		}
		if it == 0 {
			first = rec.LossBefore
		}
		last = rec.LossBefore
		name := p.Block(0).Name()
		if !strings.Contains(det.Note, "block 0 ("+name+")") || !strings.Contains(det.Note, "not folded") ||
			len(det.Folds) != 1 || det.Folds[0].Block != 1 || len(rec.Fallbacks) != 0 {
			t.Fatalf("step %d: record %+v, detail %+v", it, rec, det)
		}
	}
	if !(last < first) {
		t.Errorf("loss %.5g → %.5g after 10 steps", first, last)
	}
}

// Undamped, one sample, two outputs: DD = δδᵀ is singular, so on its null
// column K·Ã ⊗ D̃ + diag(c) ⊗ I is diag(c), and an undecayed bias (c = 0
// on its row) leaves it singular: the step is an *errs.ConditionError
// naming the block and the remedy, the weights unchanged; decayed biases
// keep it positive definite and the step is taken.
func TestKFACFoldUndampedSingular(t *testing.T) {
	for _, decayBias := range []bool{false, true} {
		p, _, _ := decayNet(t, 17, 1, 3, []int{2}, true, 0.1, decayBias)
		w0, err := p.Current()
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := kfacStep(p, &solver.KFACSettings{FactorDamping: solver.NoDamping})
		w1, werr := p.Current()
		if werr != nil {
			t.Fatal(werr)
		}
		var ce *errs.ConditionError
		switch {
		case decayBias && err != nil:
			t.Errorf("decayed bias: %v", err)
		case decayBias && !(rec.StepSize > 0):
			t.Errorf("decayed bias: no step, %+v", rec)
		case !decayBias && (!errors.As(err, &ce) || ce.Weight != p.Block(0).Name() || !strings.Contains(err.Error(), "set a damping")):
			t.Errorf("undecayed bias: error %v, want a ConditionError naming %s", err, p.Block(0).Name())
		case !decayBias && !floats.Equal(w0.Flat(), w1.Flat()):
			t.Errorf("undecayed bias: the weights moved on error")
		}
	}
}
