package hvp_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// onePosition builds, in Gorgonia's idiom, a convnet whose kernel covers
// the whole image — B = 6 images of 2×3×3, G.Conv2d with 4 kernels of
// 2×3×3 and no padding, one output position per image — then Reshape to
// (6, 4), Tanh, Mul by a 4×3 matrix, SoftMax and the mean cross-entropy;
// with dense, the same net with the images reshaped to (6, 18) rows and
// the kernel as the 18×4 matrix K̂ᵀ (the kernel's values transposed):
// the equivalent dense net, whose loss and gradient are the conv net's.
// With decay > 0 the loss adds decay·Σ (first weight)², the same penalty
// on both.
func onePosition(t *testing.T, dense bool, decay float64) (loss *G.Node, weights []*G.Node) {
	t.Helper()
	const b, c, h, k, o = 6, 2, 3, 4, 3
	n := c * h * h
	rng := rand.New(rand.NewPCG(6, 21))
	val := func(scale float64, shape ...int) []float64 {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return x
	}
	xs, ks, ws, ys := val(1, b, c, h, h), val(0.4, k, c, h, h), val(0.5, k, o), val(1, b, o)
	g := G.NewGraph()
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(b, o), G.WithName("labels"),
		G.WithValue(probabilities(t, testnet.Tensor(ys, tensor.Shape{b, o}, tensor.Float64), tensor.Float64)))
	w2 := G.NewMatrix(g, tensor.Float64, G.WithShape(k, o), G.WithName("W2"), G.WithValue(tensor.New(tensor.WithShape(k, o), tensor.WithBacking(ws))))
	var pre, w1 *G.Node
	if dense {
		kt := make([]float64, n*k) // K̂ᵀ: entry (a, j) is kernel j's value a
		for j := range k {
			for a := range n {
				kt[a*k+j] = ks[j*n+a]
			}
		}
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(b, n), G.WithName("images"), G.WithValue(tensor.New(tensor.WithShape(b, n), tensor.WithBacking(xs))))
		w1 = G.NewMatrix(g, tensor.Float64, G.WithShape(n, k), G.WithName("W1"), G.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(kt))))
		pre = G.Must(G.Mul(x, w1))
	} else {
		x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(b, c, h, h), G.WithName("images"), G.WithValue(tensor.New(tensor.WithShape(b, c, h, h), tensor.WithBacking(xs))))
		w1 = G.NewTensor(g, tensor.Float64, 4, G.WithShape(k, c, h, h), G.WithName("K"), G.WithValue(tensor.New(tensor.WithShape(k, c, h, h), tensor.WithBacking(ks))))
		conv := G.Must(G.Conv2d(x, w1, tensor.Shape{h, h}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
		pre = G.Must(G.Reshape(conv, tensor.Shape{b, k}))
	}
	logp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Mul(G.Must(G.Tanh(pre)), w2))))))
	loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	if decay > 0 {
		loss = G.Must(G.Add(loss, G.Must(G.Mul(G.NewConstant(decay), G.Must(G.Sum(G.Must(G.Square(w1))))))))
	}
	return loss, []*G.Node{w1, w2}
}

func symDiff(a, b *mat.SymDense) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

// With one output position per sample, KFC's factors of the kernel are
// the dense layer's K-FAC factors of the equivalent dense net (the
// oracle, itself checked against its definition in
// TestKroneckerFactors), and three KFAC steps move the kernel as they
// move the dense weight K̂ᵀ (the kernel's orientation, W̃ᵀ, handled in the
// direction); also with weight decay on the kernel and on the dense
// weight (Penalty 2λ on both, however K-FAC uses it).
func TestKFCOnePositionIsDense(t *testing.T) {
	for _, decay := range []float64{0, 0.01} {
		lc, wc := onePosition(t, false, decay)
		ld, wd := onePosition(t, true, decay)
		pc, err := hvp.New(lc, wc...)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := hvp.New(ld, wd...)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := pc.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		kd, err := pd.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		// The same values by sums in another order (im2col's rows, the
		// transposed product): rounding only, 1e-12.
		const tol = 1e-12
		if math.Abs(kc.Loss-kd.Loss) > tol*math.Abs(kd.Loss) {
			t.Fatalf("decay %g: losses %v and %v: the nets are not equivalent", decay, kc.Loss, kd.Loss)
		}
		fc, fd := kc.Factors[0], kd.Factors[0]
		if fc == nil || fd == nil {
			t.Fatalf("decay %g: factors: conv %v (%v), dense %v (%v)", decay, fc, kc.Err[0], fd, kd.Err[0])
		}
		if !fc.Transposed || fc.Positions != 1 || fd.Transposed || fd.Positions != 1 {
			t.Errorf("conv Transposed %v Positions %d, dense Transposed %v Positions %d", fc.Transposed, fc.Positions, fd.Transposed, fd.Positions)
		}
		if e := symDiff(fc.A, fd.A); !(e <= tol) {
			t.Errorf("decay %g: kernel's A differs from the dense layer's by %.2e", decay, e)
		}
		if e := symDiff(fc.DD, fd.DD); !(e <= tol) {
			t.Errorf("decay %g: kernel's DD differs from the dense layer's by %.2e", decay, e)
		}
		if e := symDiff(kc.Factors[1].A, kd.Factors[1].A) + symDiff(kc.Factors[1].DD, kd.Factors[1].DD); !(e <= tol) {
			t.Errorf("decay %g: W2's factors differ by %.2e", decay, e)
		}
		if len(fc.Penalty) != len(fd.Penalty) || decay > 0 && (len(fc.Penalty) != 18 || math.Abs(fc.Penalty[0]-fd.Penalty[0]) > 1e-12) {
			t.Errorf("decay %g: Penalty %v (kernel), %v (dense)", decay, fc.Penalty, fd.Penalty)
		}
		for _, p := range []*hvp.Problem{pc, pd} {
			k, err := solver.NewKFAC(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				rec, err := k.Step()
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.Fallbacks) != 0 || rec.StepSize == 0 {
					t.Fatalf("decay %g: KFAC step %+v: want no fallback", decay, rec)
				}
			}
		}
		w, err := pc.Current()
		if err != nil {
			t.Fatal(err)
		}
		v, err := pd.Current()
		if err != nil {
			t.Fatal(err)
		}
		kern, dense := w.Weight(0), v.Weight(0) // (4, 18) and its transpose (18, 4)
		worst := 0.0
		for j := range 4 {
			for a := range 18 {
				worst = math.Max(worst, math.Abs(kern[j*18+a]-dense[a*4+j]))
			}
		}
		// Cholesky (or eigen) solves and step lengths from GGNv on equal
		// values, three times: rounding, 1e-10 of weights of order 1.
		if !(worst <= 1e-10) || flatRelDiff(w.Weight(1), v.Weight(1)) > 1e-10 {
			t.Errorf("decay %g: after three KFAC steps the kernel differs from the dense K̂ᵀ by %.2e, W2 by %.2e", decay, worst, flatRelDiff(w.Weight(1), v.Weight(1)))
		}
	}
}

// stridedConv builds, in Gorgonia's idiom, B = 3 images of 2×5×5 through
// G.Conv2d (3 kernels of 2×3×3, padding 1, stride 2: 3×3 = 9 positions),
// Rectify, Reshape to (3, 27), Mul by a 27×4 matrix, SoftMax, mean
// cross-entropy. It returns the loss, the conv output, the images and the
// weights (kernel first); conv is the shift input (nil without it).
// With shift, a zero input is added to the conv output (the oracle's
// handle on ∂J/∂conv: Gorgonia differentiates with respect to inputs
// only).
func stridedConv(t *testing.T, shift bool) (loss, conv, x *G.Node, weights []*G.Node) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 21))
	val := func(scale float64, shape ...int) tensor.Tensor {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return testnet.Tensor(x, shape, tensor.Float64)
	}
	g := G.NewGraph()
	x = G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 2, 5, 5), G.WithName("images"), G.WithValue(val(1, 3, 2, 5, 5)))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 4), G.WithName("labels"), G.WithValue(probabilities(t, val(1, 3, 4), tensor.Float64)))
	k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 2, 3, 3), G.WithName("K"), G.WithValue(val(0.5, 3, 2, 3, 3)))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(27, 4), G.WithName("W"), G.WithValue(val(0.3, 27, 4)))
	c := G.Must(G.Conv2d(x, k, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1}))
	if shift {
		conv = G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 3, 3, 3), G.WithName("shift"), G.WithValue(tensor.New(tensor.WithShape(3, 3, 3, 3), tensor.Of(tensor.Float64))))
		c = G.Must(G.Add(c, conv))
	}
	flat := G.Must(G.Reshape(G.Must(G.Rectify(c)), tensor.Shape{3, 27}))
	logp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Mul(flat, w))))))
	return G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1)))))), conv, x, []*G.Node{k, w}
}

// KFC's factors on a convolution of 9 positions (padding 1, stride 2)
// against their definitions computed here: A = Σ_{i,t} a_it a_itᵀ / (B·T)
// with the patches a_it cut from the images by explicit loops (zero
// padding, channel-major (c, kh, kw) order, as the kernel's values), and
// DD = Σ_{i,t} δ_it δ_itᵀ with δ_it[j] = ∂J/∂conv[i, j, t] from G.Grad run
// by Gorgonia's TapeMachine.
func TestKFCFactorsDefinition(t *testing.T) {
	loss, _, _, weights := stridedConv(t, false)
	p, err := hvp.New(loss, weights...)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	f := kf.Factors[0]
	if f == nil || !f.Transposed || f.Positions != 9 {
		t.Fatalf("kernel factors %+v (%v): want Transposed, 9 positions", f, kf.Err[0])
	}
	// The oracle, on a graph of its own (G.Grad adds nodes).
	loss2, conv2, x2, _ := stridedConv(t, true)
	grads, err := G.Grad(loss2, conv2)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(loss2.Graph())
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	dconv := grads[0].Value().Data().([]float64) // (3, 3, 3, 3): sample, kernel, oh, ow
	xs := x2.Value().Data().([]float64)          // (3, 2, 5, 5)
	const b, c, hw, k, n, pos = 3, 2, 5, 3, 18, 9
	a := mat.NewSymDense(n, nil)
	dd := mat.NewSymDense(k, nil)
	for i := range b {
		for oh := range 3 {
			for ow := range 3 {
				patch := make([]float64, n)
				for ch := range c {
					for r := range 3 {
						for s := range 3 {
							y, z := 2*oh-1+r, 2*ow-1+s
							if y >= 0 && y < hw && z >= 0 && z < hw {
								patch[ch*9+r*3+s] = xs[((i*c+ch)*hw+y)*hw+z]
							}
						}
					}
				}
				a.SymRankOne(a, 1.0/(b*pos), mat.NewVecDense(n, patch))
				d := make([]float64, k)
				for j := range k {
					d[j] = dconv[((i*k+j)*3+oh)*3+ow]
				}
				dd.SymRankOne(dd, 1, mat.NewVecDense(k, d))
			}
		}
	}
	// Sums of the same products in another order (and Gorgonia's backward
	// pass against newtonia's): rounding, 1e-12.
	if e := symDiff(f.A, a); !(e <= 1e-12) {
		t.Errorf("A differs from its definition by %.2e", e)
	}
	if e := symDiff(f.DD, dd); !(e <= 1e-12) {
		t.Errorf("DD differs from its definition by %.2e", e)
	}
}

// KFAC on the convnet of convnet_test.go (two kernels and a dense matrix):
// every block, kernels included, has Kronecker factors (no fallback in
// any step), and ten steps lower the loss as Gorgonia's TapeMachine
// computes it.
func TestKFACConvnetSteps(t *testing.T) {
	n := convnet(t, tensor.Float64, 3)
	p, err := hvp.New(n.loss, n.weights...)
	if err != nil {
		t.Fatal(err)
	}
	gorgoniaLoss := func() float64 {
		m := G.NewTapeMachine(n.g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return testnet.ScalarOf(n.loss.Value())
	}
	before := gorgoniaLoss()
	k, err := solver.NewKFAC(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		rec, err := k.Step()
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Fallbacks) != 0 || rec.StepSize == 0 {
			t.Fatalf("step %d: fallbacks %v, α %g: want every block by its factors", i, rec.Fallbacks, rec.StepSize)
		}
	}
	after := gorgoniaLoss()
	t.Logf("KFAC, 10 steps: loss %.6g → %.6g", before, after)
	if !(after < 0.9*before) {
		t.Errorf("KFAC: loss %g → %g after 10 steps, want below 0.9× the start", before, after)
	}
}

// Weight decay on a kernel: λ·Σ k1² adds 2λ·I to the block's Hessian, so
// KFC's factors carry Penalty = 2λ on every row of W̃ = K̂ᵀ (the closed
// form, to rounding: 1e-12), and the factors themselves are the data
// term's, equal to those without the penalty; λ·Σ k1⁴, whose Hessian
// 12λ·diag(k1²) is not a multiple of I, gets PenaltyErr naming the term
// and no Penalty. K-FAC steps with no fallback in both.
func TestKFCKernelPenalty(t *testing.T) {
	const lambda = 0.01
	plain := convnet(t, tensor.Float64, 3)
	p0, err := hvp.New(plain.loss, plain.weights...)
	if err != nil {
		t.Fatal(err)
	}
	k0, err := p0.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	for _, quartic := range []bool{false, true} {
		n := convnet(t, tensor.Float64, 3)
		k1 := n.weights[0]
		sq := G.Must(G.Square(k1))
		if quartic {
			sq = G.Must(G.Square(sq))
		}
		loss := G.Must(G.Add(n.loss, G.Must(G.Mul(G.NewConstant(lambda), G.Must(G.Sum(sq))))))
		p, err := hvp.New(loss, n.weights...)
		if err != nil {
			t.Fatal(err)
		}
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		f := kf.Factors[0]
		if f == nil {
			t.Fatalf("quartic %v: no factors for k1: %v", quartic, kf.Err[0])
		}
		if e := symDiff(f.A, k0.Factors[0].A) + symDiff(f.DD, k0.Factors[0].DD); !(e <= 1e-12) {
			t.Errorf("quartic %v: the factors differ from the data term's by %.2e", quartic, e)
		}
		switch {
		case quartic && (f.Penalty != nil || f.PenaltyErr == nil || !strings.Contains(f.PenaltyErr.Error(), "k1")):
			t.Errorf("Σ k1⁴: Penalty %v, PenaltyErr %v; want none and an error naming k1", f.Penalty, f.PenaltyErr)
		case !quartic && (f.PenaltyErr != nil || len(f.Penalty) != f.A.SymmetricDim()):
			t.Errorf("λ·Σ k1²: Penalty %v (want %d values), PenaltyErr %v", f.Penalty, f.A.SymmetricDim(), f.PenaltyErr)
		case !quartic:
			for a, c := range f.Penalty {
				if math.Abs(c-2*lambda) > 1e-12 {
					t.Errorf("Penalty[%d] = %g, want 2λ = %g", a, c, 2*lambda)
				}
			}
		}
		if kf.Factors[1].Penalty != nil || kf.Factors[1].PenaltyErr != nil {
			t.Errorf("quartic %v: k2, not decayed, has a penalty %v / %v", quartic, kf.Factors[1].Penalty, kf.Factors[1].PenaltyErr)
		}
		k, err := solver.NewKFAC(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := k.Step()
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Fallbacks) != 0 || rec.StepSize == 0 {
			t.Errorf("quartic %v: KFAC step %+v: want no fallback", quartic, rec)
		}
	}
}

// A kernel KFC cannot factor is refused by name, not misread: one kernel
// used by two convolutions (tied: G_ll sums both uses and their cross
// terms) gets no factors and an error naming it and its two uses; KFAC
// names the block in its record (a gradient step for it) and factors the
// dense weight.
func TestKFCTiedKernelRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 21))
	val := func(scale float64, shape ...int) tensor.Tensor {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return testnet.Tensor(x, shape, tensor.Float64)
	}
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 2, 4, 4), G.WithName("images"), G.WithValue(val(1, 3, 2, 4, 4)))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 4), G.WithName("labels"), G.WithValue(probabilities(t, val(1, 3, 4), tensor.Float64)))
	k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 2, 3, 3), G.WithName("Ktied"), G.WithValue(val(0.5, 2, 2, 3, 3)))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(32, 4), G.WithName("W"), G.WithValue(val(0.3, 32, 4)))
	conv := func(in *G.Node) *G.Node {
		return G.Must(G.Tanh(G.Must(G.Conv2d(in, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))))
	}
	h := conv(conv(x)) // 2 channels in, 2 out: the same kernel twice
	logp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Mul(G.Must(G.Reshape(h, tensor.Shape{3, 32})), w))))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	p, err := hvp.New(loss, k, w)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	if kf.Factors[0] != nil || kf.Err[0] == nil || !strings.Contains(kf.Err[0].Error(), "Ktied") || !strings.Contains(kf.Err[0].Error(), "used by 2 nodes: the kernel is tied") {
		t.Errorf("tied kernel: factors %v, error %v; want none and an error naming Ktied and its 2 uses", kf.Factors[0], kf.Err[0])
	}
	if kf.Factors[1] == nil {
		t.Errorf("W: no factors (%v)", kf.Err[1])
	}
	ko, err := solver.NewKFAC(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ko.Step()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Fallbacks) != 1 || rec.Fallbacks[0].Block != 0 || rec.Fallbacks[0].Weight != p.Block(0).Name() {
		t.Errorf("KFAC fallbacks %+v: want block 0 (Ktied) named", rec.Fallbacks)
	}
}
