package hvp_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linreg builds iris-like linear regression in Gorgonia's idiom: X (rows ×
// 5 features) θ, loss Mean(Square(Xθ − y)), whose Hessian is 2XᵀX/rows.
// dup copies feature 3 into feature 4 (XᵀX singular).
func linreg(t *testing.T, dt tensor.Dtype, rows int, dup bool) (*hvp.Problem, *mat.Dense) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(rows), 30))
	x := make([]float64, rows*5)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	if dup {
		for i := range rows {
			x[i*5+4] = x[i*5+3]
		}
	}
	y, th := make([]float64, rows), make([]float64, 5)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	for i := range th {
		th[i] = rng.NormFloat64()
	}
	g := G.NewGraph()
	xn := G.NewMatrix(g, dt, G.WithShape(rows, 5), G.WithName("X"), G.WithValue(testnet.Tensor(x, []int{rows, 5}, dt)))
	yn := G.NewVector(g, dt, G.WithShape(rows), G.WithName("y"), G.WithValue(testnet.Tensor(y, []int{rows}, dt)))
	theta := G.NewVector(g, dt, G.WithShape(5), G.WithName("theta"), G.WithValue(testnet.Tensor(th, []int{5}, dt)))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(xn, theta)), yn))))))
	p, err := hvp.New(loss, theta)
	if err != nil {
		t.Fatal(err)
	}
	if dt == tensor.Float32 { // the oracle of the values the graph holds
		for i := range x {
			x[i] = float64(float32(x[i]))
		}
	}
	xm := mat.NewDense(rows, 5, x)
	var h mat.Dense
	h.Mul(xm.T(), xm)
	h.Scale(2/float64(rows), &h)
	return p, &h
}

// Issue 21's iris row: 30 rows, 5 features, batch > fan-in. The dense
// route solves H = 2XᵀX/N (closed form, solved by gonum) to 100·ε·cond in
// float64 (a backward-stable solve), and to 10·ε₃₂·cond in float32 (the
// result rounded to float32 moves by ε₃₂ of itself, times cond through
// the solve); damped, (2/N + λ)XᵀX; the report gives the route and its
// size before running.
func TestDenseRouteIris(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		p, h := linreg(t, dt, 30, false)
		c := p.Conditions()[0]
		if s := strings.Join(c.Reasons, "; "); c.Kind != hvp.KindExact || c.Method != hvp.MethodDenseRoute || !strings.Contains(s, "batch 30 > fan-in 5") || !strings.Contains(s, "5×5 from the per-sample curvature") {
			t.Fatalf("%v: %v, %v route, %q", dt, c.Kind, c.Method, s)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		v := params.New(p.Block(0).Layout())
		for i := range v.Flat() {
			v.Flat()[i] = rng.NormFloat64()
		}
		for _, lambda := range []float64{0, 0.5} {
			res, err := p.Block(0).InvHv(v, &hvp.Options{Damping: lambda})
			if err != nil {
				t.Fatalf("%v λ %g: %v", dt, lambda, err)
			}
			a := mat.DenseCopyOf(h)
			a.Scale(1+lambda*30/2, a) // H + λXᵀX = (2/N + λ)XᵀX
			want, _, cond := testnet.PinvSolve(t, a, v, 1e-12)
			tol := 100 * testnet.Eps * cond
			if dt == tensor.Float32 {
				tol = 10 * 0x1p-24 * cond
			}
			e := flatRelDiff(res.U.Flat(), want.Flat())
			if e > tol || !res.Certified || res.Kind != hvp.KindExact || res.Method != hvp.MethodDenseRoute || res.Damping != lambda {
				t.Errorf("%v λ %g: vs the closed form's solve %.2e > %.2e (%s)", dt, lambda, e, tol, res.Label())
			}
			t.Logf("%v λ %g: %s; vs closed form %.2g (cond %.3g)", dt, lambda, res.Label(), e, cond)
		}
	}
}

// A singular block (a feature duplicated: XᵀX has rank 4 of 5): refused by
// the condition limit, naming the block, the factorisation and the rank
// found by an SVD; best effort returns it uncertified, never a solve.
func TestDenseRouteSingular(t *testing.T) {
	p, h := linreg(t, tensor.Float64, 30, true)
	var svd mat.SVD
	if !svd.Factorize(h, mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	sv := svd.Values(nil)
	if sv[4] > 1e-12*sv[0] {
		t.Fatalf("the oracle's block is not singular: σ %v", sv)
	}
	v := params.New(p.Block(0).Layout())
	for i := range v.Flat() {
		v.Flat()[i] = float64(i + 1)
	}
	_, err := p.Block(0).InvHv(v, nil)
	wantCondition(t, err, 0, "theta", "dense", "rank 4", "limit 1e+12")
	res, err := p.Block(0).InvHv(v, &hvp.Options{BestEffort: true})
	if err != nil || res.Certified || res.Kind != hvp.KindRefused {
		t.Errorf("best effort: %v, %v", res, err)
	}
}

// A conv kernel block (Conv2d 3×3, pad 1, 2 channels, tanh, squared
// error): no structured route; the dense route from its 18 exact R-pass
// columns, checked against the dense block of central differences of the
// gradient with a Richardson step (reference.DenseBlockFD, independent of
// the R-pass) solved by gonum, to 1e-6: far above that block's error
// (O(r⁴) + rounding, measured below 1e-9 here), far below a wrong solve's
// O(1).
func TestDenseRouteConvKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	val := func(scale float64, shape ...int) tensor.Tensor {
		x := make([]float64, tensor.Shape(shape).TotalSize())
		for i := range x {
			x[i] = scale * rng.NormFloat64()
		}
		return testnet.Tensor(x, shape, tensor.Float64)
	}
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 1, 5, 5), G.WithName("images"), G.WithValue(val(1, 3, 1, 5, 5)))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 50), G.WithName("targets"), G.WithValue(val(1, 3, 50)))
	k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 3, 3), G.WithName("kernel"), G.WithValue(val(0.3, 2, 1, 3, 3)))
	c := G.Must(G.Tanh(G.Must(G.Conv2d(x, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))))
	flat := G.Must(G.Reshape(c, tensor.Shape{3, 50}))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(flat, y))))))
	p, err := hvp.New(loss, k)
	if err != nil {
		t.Fatal(err)
	}
	bc := p.Conditions()[0]
	if bc.Method != hvp.MethodDenseRoute || bc.Kind != hvp.KindExact || !strings.Contains(strings.Join(bc.Reasons, "; "), "18×18 from 18 R-pass columns") {
		t.Fatalf("conditions: %s", p.Conditions())
	}
	v := params.New(p.Block(0).Layout())
	for i := range v.Flat() {
		v.Flat()[i] = rng.NormFloat64()
	}
	res, err := p.Block(0).InvHv(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	hfd, err := reference.DenseBlockFD(p, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sol mat.VecDense
	if err := sol.SolveVec(hfd, mat.NewVecDense(18, v.Flat())); err != nil {
		t.Fatal(err)
	}
	e := flatRelDiff(res.U.Flat(), sol.RawVector().Data)
	if e > 1e-6 || !res.Certified || res.Kind != hvp.KindExact {
		t.Errorf("conv kernel: vs the FD dense block's solve %.2e (%s)", e, res.Label())
	}
	t.Logf("conv kernel: %s; vs the FD dense block's solve %.2g", res.Label(), e)
	// Damping has no metric without a per-sample route: refused, named.
	if _, err := p.Block(0).InvHv(v, &hvp.Options{Damping: 1}); !errors.Is(err, errs.ErrArgument) || !strings.Contains(err.Error(), "kernel") {
		t.Errorf("damped conv kernel: %v, want an *errs.ArgumentError naming the kernel", err)
	}
}

// Above the caps: a 6400-parameter block with no structured route (a
// transposed output mixes the samples) is refused by the conditions
// report under the default flop cap (⅔·6400³ ≈ 1.7e11 > 1e11) and by
// InvHv before any column is formed, naming the block, the estimate and
// the setting; a byte cap refuses the iris block the same way.
func TestDenseRouteCaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 80), G.WithName("x"), G.WithValue(testnet.Tensor(randn(rng, 320), []int{4, 80}, tensor.Float64)))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(80, 80), G.WithName("W"), G.WithValue(testnet.Tensor(randn(rng, 6400), []int{80, 80}, tensor.Float64)))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(80, 4), G.WithName("y"), G.WithValue(testnet.Tensor(randn(rng, 320), []int{80, 4}, tensor.Float64)))
	h, err := ops.Tanh(G.Must(ops.MatMul(x, w)))
	if err != nil {
		t.Fatal(err)
	}
	ht, err := ops.Apply(ops.TransposeOp{}, h)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ops.HalfSSE(ht, y)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Conditions()[0]
	if s := strings.Join(c.Reasons, "; "); c.Kind != hvp.KindRefused || c.Method != hvp.MethodDenseRoute || !strings.Contains(s, "6400×6400") || !strings.Contains(s, "Options.MaxFlops") {
		t.Errorf("conditions above the default cap: %v, %v, %q", c.Kind, c.Method, s)
	}
	v := params.New(p.Block(0).Layout())
	v.Flat()[0] = 1
	_, err = p.Block(0).InvHv(v, nil)
	var le *errs.LimitError
	if !errors.As(err, &le) || le.Resource != "flops" || !(le.Estimate > 1.7e11) || !strings.Contains(err.Error(), "W") || !strings.Contains(err.Error(), "Options.MaxFlops") {
		t.Errorf("InvHv above the flop cap: %v", err)
	}
	q, _ := linreg(t, tensor.Float64, 30, false)
	vq := params.New(q.Block(0).Layout())
	vq.Flat()[0] = 1
	_, err = q.Block(0).InvHv(vq, &hvp.Options{MaxBytes: 100})
	if !errors.As(err, &le) || le.Resource != "memory" || !strings.Contains(err.Error(), "theta") || !strings.Contains(err.Error(), "Options.MaxBytes") {
		t.Errorf("InvHv above a 100-byte cap: %v", err)
	}
}

func randn(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64() / math.Sqrt(80)
	}
	return x
}
