package ops_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/ops/opcheck"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// awayFromZero maps every entry x to sign(x)(1 + |x|): divisors, and
// inputs of leaky ReLU that stay clear of the kink under a step of 1e-6.
func awayFromZero(t *tensor.Dense) *tensor.Dense {
	d := t.Float64s()
	for i, x := range d {
		d[i] = math.Copysign(1+math.Abs(x), x)
	}
	return t
}

func scalar(x float64) *tensor.Dense { return tensor.New(tensor.FromScalar(x)) }

// positive maps every entry x to 1 + |x|.
func positive(t *tensor.Dense) *tensor.Dense {
	d := t.Float64s()
	for i, x := range d {
		d[i] = 1 + math.Abs(x)
	}
	return t
}

// probabilities maps each row to softmax(row): rows of target
// distributions.
func probabilities(t *tensor.Dense) *tensor.Dense {
	r, c := t.Shape()[0], t.Shape()[1]
	d := t.Float64s()
	for i := 0; i < r; i++ {
		var s float64
		for j := range c {
			d[i*c+j] = math.Exp(d[i*c+j])
			s += d[i*c+j]
		}
		for j := range c {
			d[i*c+j] /= s
		}
	}
	return t
}

// TestRules checks every op's JVP and VJP against central differences and
// the adjoint identity, and its inverse by a round trip, with one shared
// checker (opcheck). Tolerances are opcheck's defaults unless the case
// says why not.
func TestRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	m := func(r, c int) *tensor.Dense { return nets.Randn(rng, r, c, 0) }
	wellCond := func(n int) *tensor.Dense { return nets.Randn(rng, n, n, 4) } // diagonal shift: cond ≈ 10
	cases := []struct {
		name      string
		op        G.Op
		in        []*tensor.Dense
		noInverse []int // inputs whose inverse must be refused
		skip      []int
	}{
		{"matmul square", ops.MatMulOp{}, []*tensor.Dense{wellCond(3), wellCond(3)}, nil, nil},
		// A 5×3 has full column rank: B = A⁺C is exact; B 3×4 full row rank: A = CB⁺ exact.
		{"matmul rectangular", ops.MatMulOp{}, []*tensor.Dense{m(5, 3), m(3, 4)}, nil, nil},
		{"transpose", ops.TransposeOp{}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"add", ops.AddOp{}, []*tensor.Dense{m(3, 4), m(3, 4)}, nil, nil},
		{"sub", ops.SubOp{}, []*tensor.Dense{m(3, 4), m(3, 4)}, nil, nil},
		{"mul", ops.MulOp{}, []*tensor.Dense{awayFromZero(m(3, 4)), awayFromZero(m(3, 4))}, nil, nil},
		{"div", ops.DivOp{}, []*tensor.Dense{awayFromZero(m(3, 4)), awayFromZero(m(3, 4))}, nil, nil},
		{"add scalars", ops.AddOp{}, []*tensor.Dense{scalar(0.3), scalar(-1.2)}, nil, nil},
		{"scale", ops.ScaleOp{C: 2.5}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"scale by zero", ops.ScaleOp{C: 0}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"scalar mul", ops.ScalarMulOp{}, []*tensor.Dense{scalar(1.7), m(3, 4)}, []int{0}, nil},
		{"scalar div", ops.ScalarMulOp{Divide: true}, []*tensor.Dense{scalar(-1.3), m(3, 4)}, []int{0}, nil},
		{"inner", ops.InnerOp{}, []*tensor.Dense{m(3, 4), m(3, 4)}, nil, nil},
		{"half sse", ops.HalfSSEOp{}, []*tensor.Dense{m(3, 4), m(3, 4)}, nil, nil},
		{"leaky relu", ops.ElementwiseOp{F: ops.LeakyReLUFunc{Alpha: 0.5}}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"leaky relu derivative", ops.ElementwiseOp{F: ops.LeakyReLUFunc{Alpha: 0.5}, Order: 1}, []*tensor.Dense{awayFromZero(m(3, 4))}, []int{0}, nil},
		{"leaky relu slope 0", ops.ElementwiseOp{F: ops.LeakyReLUFunc{Alpha: 0}}, []*tensor.Dense{awayFromZero(m(3, 4))}, []int{0}, nil},
		{"relu", ops.ElementwiseOp{F: ops.ReLUFunc{}}, []*tensor.Dense{awayFromZero(m(3, 4))}, []int{0}, nil},
		{"identity", ops.ElementwiseOp{F: ops.IdentityFunc{}}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"tanh", ops.ElementwiseOp{F: ops.TanhFunc{}}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"tanh'", ops.ElementwiseOp{F: ops.TanhFunc{}, Order: 1}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"tanh''", ops.ElementwiseOp{F: ops.TanhFunc{}, Order: 2}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"inv", ops.MatInvOp{}, []*tensor.Dense{wellCond(4)}, nil, nil},
		{"solve", ops.SolveOp{}, []*tensor.Dense{wellCond(3), m(3, 3)}, nil, nil},
		{"solve rect", ops.SolveOp{}, []*tensor.Dense{wellCond(3), m(3, 2)}, []int{0}, nil},
		{"solve trans", ops.SolveOp{Trans: true}, []*tensor.Dense{wellCond(3), m(3, 3)}, nil, nil},
		{"solve right", ops.SolveOp{Right: true}, []*tensor.Dense{wellCond(3), m(3, 3)}, nil, nil},
		{"solve right trans", ops.SolveOp{Right: true, Trans: true}, []*tensor.Dense{wellCond(3), m(2, 3)}, []int{0}, nil},
		{"pinv tall", ops.PInvOp{}, []*tensor.Dense{m(5, 3)}, nil, nil},
		{"pinv wide", ops.PInvOp{}, []*tensor.Dense{m(3, 5)}, nil, nil},
		{"pinv square", ops.PInvOp{}, []*tensor.Dense{wellCond(3)}, nil, nil},
		{"sigmoid", ops.ElementwiseOp{F: ops.SigmoidFunc{}}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"sigmoid'", ops.ElementwiseOp{F: ops.SigmoidFunc{}, Order: 1}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"sigmoid''", ops.ElementwiseOp{F: ops.SigmoidFunc{}, Order: 2}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"softplus", ops.ElementwiseOp{F: ops.SoftplusFunc{}}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"softplus'", ops.ElementwiseOp{F: ops.SoftplusFunc{}, Order: 1}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"exp", ops.ElementwiseOp{F: ops.ExpFunc{}}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"log", ops.ElementwiseOp{F: ops.LogFunc{}}, []*tensor.Dense{positive(m(3, 4))}, nil, nil},
		{"log'", ops.ElementwiseOp{F: ops.LogFunc{}, Order: 1}, []*tensor.Dense{positive(m(3, 4))}, []int{0}, nil},
		{"square", ops.ElementwiseOp{F: ops.SquareFunc{}}, []*tensor.Dense{m(3, 4)}, []int{0}, nil},
		{"sqrt", ops.ElementwiseOp{F: ops.SqrtFunc{}}, []*tensor.Dense{positive(m(3, 4))}, nil, nil},
		{"sqrt'", ops.ElementwiseOp{F: ops.SqrtFunc{}, Order: 1}, []*tensor.Dense{positive(m(3, 4))}, []int{0}, nil},
		{"abs", ops.ElementwiseOp{F: ops.AbsFunc{}}, []*tensor.Dense{awayFromZero(m(3, 4))}, []int{0}, nil},
		{"cube", ops.ElementwiseOp{F: ops.PowFunc{P: 3}}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"cube'", ops.ElementwiseOp{F: ops.PowFunc{P: 3}, Order: 1}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"cube''", ops.ElementwiseOp{F: ops.PowFunc{P: 3}, Order: 2}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"pow 4'", ops.ElementwiseOp{F: ops.PowFunc{P: 4}, Order: 1}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"pow 1/x", ops.ElementwiseOp{F: ops.PowFunc{P: -1}}, []*tensor.Dense{awayFromZero(m(3, 4))}, nil, nil},
		{"pow 2.5", ops.ElementwiseOp{F: ops.PowFunc{P: 2.5}, Order: 1}, []*tensor.Dense{positive(m(3, 4))}, nil, nil},
		{"product", ops.ProductOp{}, []*tensor.Dense{awayFromZero(m(3, 1))}, nil, nil},
		{"product of 4", ops.ProductOp{}, []*tensor.Dense{awayFromZero(m(2, 2))}, nil, nil},
		{"product gradient", ops.ProductOp{Order: 1}, []*tensor.Dense{m(3, 1)}, nil, nil},
		{"product Hessian product", ops.ProductOp{Order: 2}, []*tensor.Dense{m(3, 1), m(3, 1)}, nil, []int{0}},
		{"row sum", ops.RowSumOp{}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"softmax", ops.SoftmaxOp{}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"log softmax", ops.SoftmaxOp{Log: true}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"repeat", ops.RepeatOp{N: 3}, []*tensor.Dense{m(1, 4)}, nil, nil},
		{"bias add", ops.BiasAddOp{}, []*tensor.Dense{m(5, 4), m(1, 4)}, nil, nil},
		{"sum", ops.SumOp{Axis: -1}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"mean", ops.SumOp{Axis: -1, Mean: true}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"sum rows", ops.SumOp{Axis: 0}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"mean rows", ops.SumOp{Axis: 0, Mean: true}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"sum columns", ops.SumOp{Axis: 1}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"mean columns", ops.SumOp{Axis: 1, Mean: true}, []*tensor.Dense{m(3, 4)}, nil, nil},
		{"slice rows", ops.SliceOp{Axis: 0, From: 1, To: 3}, []*tensor.Dense{m(4, 3)}, nil, nil},
		{"slice columns", ops.SliceOp{Axis: 1, From: 0, To: 2}, []*tensor.Dense{m(4, 3)}, nil, nil},
		{"slice rows strided", ops.SliceOp{Axis: 0, From: 1, To: 6, Step: 2}, []*tensor.Dense{m(6, 3)}, nil, nil},
		{"slice columns strided", ops.SliceOp{Axis: 1, From: 0, To: 5, Step: 3}, []*tensor.Dense{m(2, 5)}, nil, nil},
		{"spread rows", ops.SpreadOp{Axis: 0, From: 1, Step: 2, N: 6}, []*tensor.Dense{m(3, 2)}, nil, nil},
		{"element", ops.ElementOp{Row: 2, Col: 1}, []*tensor.Dense{m(4, 3)}, nil, nil},
		{"spread columns", ops.SpreadOp{Axis: 1, From: 0, Step: 3, N: 5}, []*tensor.Dense{m(2, 2)}, nil, nil},
		{"concat rows", ops.ConcatOp{Axis: 0, N: 3}, []*tensor.Dense{m(2, 3), m(1, 3), m(3, 3)}, nil, nil},
		{"concat columns", ops.ConcatOp{Axis: 1, N: 2}, []*tensor.Dense{m(3, 2), m(3, 4)}, nil, nil},
		{"pad rows", ops.PadOp{Axis: 0, Before: 1, After: 2}, []*tensor.Dense{m(2, 3)}, nil, nil},
		{"pad columns", ops.PadOp{Axis: 1, Before: 2, After: 1}, []*tensor.Dense{m(2, 3)}, nil, nil},
		{"fill", ops.FillOp{C: 2}, []*tensor.Dense{m(2, 3)}, nil, nil},
		// The targets are data: their derivatives are not provided (skip 1).
		{"softmax CE", ops.SoftmaxCEOp{}, []*tensor.Dense{m(4, 3), probabilities(m(4, 3))}, nil, []int{1}},
		{"softmax CE gradient", ops.SoftmaxCEOp{Order: 1}, []*tensor.Dense{m(4, 3), probabilities(m(4, 3))}, nil, []int{1}},
		{"softmax CE Hessian product", ops.SoftmaxCEOp{Order: 2}, []*tensor.Dense{m(4, 3), m(4, 3), probabilities(m(4, 3))}, nil, []int{0, 2}},
		{"sigmoid BCE", ops.SigmoidBCEOp{}, []*tensor.Dense{m(4, 3), probabilities(m(4, 3))}, nil, nil},
		// Derivatives with respect to λ and the Jacobian columns are not
		// provided (skip 0, 2, 3, 4).
		{"row solve", ops.RowSolveOp{N: 3}, []*tensor.Dense{scalar(0.5), m(4, 3), m(4, 3), m(4, 3), m(4, 3)}, nil, []int{0, 2, 3, 4}},
		// The third-order rules (issue 23): the Hessian products'
		// derivatives in x and z, and the third derivatives themselves
		// (their fourth-order derivatives are not provided: skip 0; the
		// targets are data: skip the last).
		{"product Hessian product in x", ops.ProductOp{Order: 2}, []*tensor.Dense{m(3, 1), m(3, 1)}, nil, nil},
		{"product of 4 Hessian product in x", ops.ProductOp{Order: 2}, []*tensor.Dense{m(2, 2), m(2, 2)}, nil, nil},
		{"product third derivative", ops.ProductOp{Order: 3}, []*tensor.Dense{m(3, 1), m(3, 1), m(3, 1)}, nil, []int{0}},
		{"product of 5 third derivative", ops.ProductOp{Order: 3}, []*tensor.Dense{m(5, 1), m(5, 1), m(5, 1)}, nil, []int{0}},
		{"softmax CE Hessian product in z", ops.SoftmaxCEOp{Order: 2}, []*tensor.Dense{m(4, 3), m(4, 3), probabilities(m(4, 3))}, nil, []int{2}},
		{"softmax CE third derivative", ops.SoftmaxCEOp{Order: 3}, []*tensor.Dense{m(4, 3), m(4, 3), m(4, 3), probabilities(m(4, 3))}, nil, []int{0, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := opcheck.Check(c.op, c.in, opcheck.Tolerances{}, rng, c.skip...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("JVP %.2e  VJP adjoint %.2e  VJP-FD %.2e  inverse %v  gradient inverse %v, J_inv·J %v", rep.JVP, rep.VJP, rep.VJPFD, rep.Inverse, rep.GradientInverse, rep.GradientJacobian)
			t.Logf("inverse kinds %v  row-wise (marked, claim, leak) %v", rep.Kind, rep.RowWise)
			refused := map[int]bool{}
			for _, i := range c.noInverse {
				refused[i] = true
				if _, ok := rep.NoInverse[i]; !ok {
					if _, inv := c.op.(ops.Inverter); inv {
						t.Errorf("input %d: inverse was not refused (error %v)", i, rep.Inverse[i])
					}
				}
			}
			if inv, ok := c.op.(ops.Inverter); ok {
				for i := range c.in {
					if _, got := rep.Inverse[i]; !got && !refused[i] {
						t.Errorf("input %d: no inverse (%v); condition %q", i, rep.NoInverse[i], inv.InverseCondition(i))
					}
				}
			}
		})
	}
}

// TestMoreClaims checks, with the same checker, cases whose claims
// TestRules does not reach: minimum-norm inverses (a wide factor of a
// product), products and quotients of scalars (sums over samples: a
// product of two is not one), and a bias solved from a single row
// (bijective). A generator of its own leaves TestRules' draws alone.
func TestMoreClaims(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	m := func(r, c int) *tensor.Dense { return nets.Randn(rng, r, c, 0) }
	cases := []struct {
		name string
		op   G.Op
		in   []*tensor.Dense
		kind map[int]ops.InverseKind
	}{
		{"matmul wide", ops.MatMulOp{}, []*tensor.Dense{m(3, 5), m(5, 4)}, map[int]ops.InverseKind{0: ops.MinNorm, 1: ops.MinNorm}},
		{"mul scalars", ops.MulOp{}, []*tensor.Dense{scalar(1.5), scalar(-2.5)}, map[int]ops.InverseKind{0: ops.Bijective, 1: ops.Bijective}},
		{"div scalars", ops.DivOp{}, []*tensor.Dense{scalar(1.5), scalar(-2.5)}, map[int]ops.InverseKind{0: ops.Bijective, 1: ops.Bijective}},
		{"bias add one row", ops.BiasAddOp{}, []*tensor.Dense{m(1, 4), m(1, 4)}, map[int]ops.InverseKind{0: ops.Bijective, 1: ops.Bijective}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := opcheck.Check(c.op, c.in, opcheck.Tolerances{}, rng)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("inverse %v  kinds %v  row-wise %v", rep.Inverse, rep.Kind, rep.RowWise)
			for i, k := range c.kind {
				if got, ok := rep.Kind[i]; !ok || got != k {
					t.Errorf("input %d: kind %v checked, want %v", i, got, k)
				}
			}
		})
	}
}

// No op returns a non-finite value: overflow is an error wrapping
// ErrNotFinite, for every op kind (elementwise, products, scalars).
func TestOverflowIsAnError(t *testing.T) {
	big := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1e308, 1e308, 1e308, 1e308}))
	cases := []struct {
		op G.Op
		in []*tensor.Dense
	}{
		{ops.AddOp{}, []*tensor.Dense{big, big}},
		{ops.MulOp{}, []*tensor.Dense{big, big}},
		{ops.SubOp{}, []*tensor.Dense{big, big.Clone().(*tensor.Dense)}},
		{ops.MatMulOp{}, []*tensor.Dense{big, big}},
		{ops.ScaleOp{C: 10}, []*tensor.Dense{big}},
		{ops.InnerOp{}, []*tensor.Dense{big, big}},
		{ops.HalfSSEOp{}, []*tensor.Dense{big, scalarLike(big, -1e308)}},
		{ops.DivOp{}, []*tensor.Dense{big, scalarLike(big, 1e-308)}},
	}
	for _, c := range cases {
		vals := make([]G.Value, len(c.in))
		for i, x := range c.in {
			vals[i] = x
		}
		_, err := c.op.Do(vals...)
		if c.op.String() == (ops.SubOp{}).String() {
			if err != nil { // 1e308 − 1e308 = 0: no overflow
				t.Errorf("%v: %v", c.op, err)
			}
			continue
		}
		if !errors.Is(err, errs.ErrNotFinite) {
			t.Errorf("%v: error %v, want ErrNotFinite", c.op, err)
		}
	}
}

func scalarLike(t *tensor.Dense, v float64) *tensor.Dense {
	d := make([]float64, t.Shape().TotalSize())
	for i := range d {
		d[i] = v
	}
	return tensor.New(tensor.WithShape(t.Shape()...), tensor.WithBacking(d))
}

// Ops without the rules opcheck.Check needs are checked for fresh results
// on their own (Check does it for the others): graph.Program recycles the
// memory of values made and read only by this package's ops.
func TestResultsAreFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := nets.Randn(rng, 3, 4, 0)
	for _, op := range []G.Op{ops.StopOp{}, ops.TransposeOp{}, ops.SumOp{Axis: 1}} {
		if err := opcheck.FreshResult(op, []*tensor.Dense{x}); err != nil {
			t.Error(err)
		}
	}
}

// A non-finite quotient is an error naming its element: "division by zero"
// when its divisor is 0, the generic non-finite result otherwise.
func TestDivNonFinite(t *testing.T) {
	vec := func(xs ...float64) *tensor.Dense {
		return tensor.New(tensor.WithShape(1, len(xs)), tensor.WithBacking(xs))
	}
	for _, c := range []struct {
		y     *tensor.Dense
		index int
		what  string
	}{
		{vec(1, 0, 1), 1, "A⊘B: division by zero"},
		{vec(1, 1, 1e-320), 2, "result of A⊘B"},
	} {
		_, err := ops.DivOp{}.Do(vec(1, 2, 1e10), c.y)
		var nf *errs.NotFiniteError
		if !errors.As(err, &nf) || nf.Index != c.index || nf.What != c.what {
			t.Errorf("divisor %v: %v, want %q at %d", c.y.Float64s(), err, c.what, c.index)
		}
	}
	if out, err := (ops.DivOp{}).Do(vec(1, 2), vec(2, 4)); err != nil || out.(*tensor.Dense).Float64s()[1] != 0.5 {
		t.Errorf("finite quotient: %v, %v", out, err)
	}
}

// Logarithms of subnormal values (issue found by FuzzInverseRoundTrip: σ
// of −725.66 is 7.05e-316, and Go's math.Log on amd64 returned −709.09
// for its logarithm, so logit ∘ σ was off by 16.6). Oracle: the
// logarithm from the binary exponent, log m + e·log 2 (Frexp), exact to
// rounding; 1e-15 relative.
func TestLogOfSubnormal(t *testing.T) {
	for _, y := range []float64{7.05261353e-316, 5e-324, 0x1p-1030, 0x1p-1022} {
		m, e := math.Frexp(y)
		want := math.Log(m) + float64(e)*math.Ln2
		lg, _ := ops.LogFunc{}.Deriv(0, y)
		lt, _ := ops.LogitFunc{}.Deriv(0, y)
		if math.Abs(lg-want) > 1e-15*math.Abs(want) || math.Abs(lt-want) > 1e-15*math.Abs(want) {
			t.Errorf("y = %g: log %v, logit %v, want %v", y, lg, lt, want)
		}
	}
}
