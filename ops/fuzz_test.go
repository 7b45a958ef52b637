package ops_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// fuzzCase is an op and the shapes of its inputs for an r×c draw.
type fuzzCase struct {
	op     func(param float64) G.Op
	shapes func(r, c int) [][2]int // a shape (0, 0) is a scalar
}

var fuzzOps = []fuzzCase{
	{func(float64) G.Op { return ops.MatMulOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {c, r}} }},
	{func(float64) G.Op { return ops.MatMulOp{} }, func(r, c int) [][2]int { return [][2]int{{r, r}, {r, c}} }},
	{func(float64) G.Op { return ops.TransposeOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.AddOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {r, c}} }},
	{func(float64) G.Op { return ops.SubOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {r, c}} }},
	{func(float64) G.Op { return ops.MulOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {r, c}} }},
	{func(float64) G.Op { return ops.DivOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {r, c}} }},
	{func(p float64) G.Op { return ops.ScaleOp{C: p} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ScalarMulOp{} }, func(r, c int) [][2]int { return [][2]int{{0, 0}, {r, c}} }},
	{func(float64) G.Op { return ops.ScalarMulOp{Divide: true} }, func(r, c int) [][2]int { return [][2]int{{0, 0}, {r, c}} }},
	{func(p float64) G.Op { return ops.ElementwiseOp{F: ops.LeakyReLUFunc{Alpha: p}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.ReLUFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.IdentityFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.TanhFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.MatInvOp{} }, func(r, c int) [][2]int { return [][2]int{{r, r}} }},
	{func(float64) G.Op { return ops.SolveOp{} }, func(r, c int) [][2]int { return [][2]int{{r, r}, {r, c}} }},
	{func(float64) G.Op { return ops.SolveOp{Trans: true} }, func(r, c int) [][2]int { return [][2]int{{r, r}, {r, r}} }},
	{func(float64) G.Op { return ops.SolveOp{Right: true} }, func(r, c int) [][2]int { return [][2]int{{r, r}, {c, r}} }},
	{func(float64) G.Op { return ops.SolveOp{Right: true, Trans: true} }, func(r, c int) [][2]int { return [][2]int{{r, r}, {r, r}} }},
	{func(float64) G.Op { return ops.PInvOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.SigmoidFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.SoftplusFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.ExpFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.LogFunc{}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.BiasAddOp{} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {1, c}} }},
	{func(float64) G.Op { return ops.PadOp{Axis: 1, Before: 1, After: 2} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ConcatOp{Axis: 0, N: 2} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {c, c}} }},
	{func(float64) G.Op { return ops.ConcatOp{Axis: 1, N: 3} }, func(r, c int) [][2]int { return [][2]int{{r, c}, {r, 1}, {r, r}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.PowFunc{P: 3}, Order: 1} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(float64) G.Op { return ops.ElementwiseOp{F: ops.PowFunc{P: 3}} }, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
	{func(p float64) G.Op {
		return ops.ElementwiseOp{F: ops.PowFunc{P: math.Max(-6, math.Min(6, math.Round(4*p)))}, Order: 1}
	}, func(r, c int) [][2]int { return [][2]int{{r, c}} }},
}

// typed reports whether err is one of the errors the ops document: a
// sentinel of package errs other than ErrInternal (a recovered panic).
func typed(err error) bool {
	s := errs.Sentinel(err)
	return s != nil && s != errs.ErrInternal
}

// FuzzInverseRoundTrip draws an op, shapes, values (with a scale from
// 1e-8 to 1e8 and a shift of the diagonal) and an input to invert for. The
// property: the op and its inverse either fail with a documented typed
// error, or the inverse reproduces the output, ‖op(x̂) − y‖ / ‖y‖ within
// 1e3·ε·κ + 1e-14, κ the condition number the inverse works at (for a
// least-squares inverse the output is in the range, so the bound holds for
// every kind). Never a panic, never a silent non-finite value.
func FuzzInverseRoundTrip(f *testing.F) {
	for i := range fuzzOps {
		f.Add(uint8(i), uint8(3), uint8(2), uint64(i), int8(0), 0.5, uint8(0))
	}
	f.Add(uint8(1), uint8(3), uint8(3), uint64(9), int8(0), 0.0, uint8(1)) // singular
	f.Add(uint8(6), uint8(2), uint8(2), uint64(1), int8(-8), 0.0, uint8(1))
	f.Add(uint8(10), uint8(2), uint8(2), uint64(1), int8(0), 0.0, uint8(0)) // slope 0
	f.Fuzz(func(t *testing.T, which, rb, cb uint8, seed uint64, logScale int8, param float64, wrtb uint8) {
		c := fuzzOps[int(which)%len(fuzzOps)]
		r, cc := 1+int(rb)%6, 1+int(cb)%6
		if math.IsNaN(param) || math.IsInf(param, 0) {
			param = 0.5
		}
		op := c.op(param)
		scale := math.Pow(10, float64(max(-8, min(8, int(logScale)))))
		rng := rand.New(rand.NewPCG(seed, 1))
		g := G.NewGraph()
		var in []*G.Node
		for k, s := range c.shapes(r, cc) {
			name := fmt.Sprintf("x%d", k)
			if s[0] == 0 {
				n := G.NewScalar(g, tensor.Float64, G.WithName(name))
				if err := G.Let(n, G.NewF64(scale*rng.NormFloat64())); err != nil {
					t.Fatal(err)
				}
				in = append(in, n)
				continue
			}
			data := make([]float64, s[0]*s[1])
			for i := range data {
				data[i] = scale * rng.NormFloat64()
			}
			if wrtb%2 == 1 && s[0] > 1 { // make it rank-deficient: row 1 = row 0
				copy(data[s[1]:2*s[1]], data[:s[1]])
			}
			n := G.NewMatrix(g, tensor.Float64, G.WithShape(s[0], s[1]), G.WithName(name))
			if err := G.Let(n, tensor.New(tensor.WithShape(s[0], s[1]), tensor.WithBacking(data))); err != nil {
				t.Fatal(err)
			}
			in = append(in, n)
		}
		y, err := ops.Apply(op, in...)
		if err != nil {
			return // a shape refused at build time
		}
		inv, ok := op.(ops.Inverter)
		if !ok {
			return
		}
		wrt := int(wrtb/2) % len(in)
		known := append([]*G.Node(nil), in...)
		known[wrt] = nil
		var x *G.Node
		if pi, ok := op.(ops.PatternInverter); ok && wrtb%4 >= 2 {
			x, err = pi.InverseAt(wrt, known, y, in[wrt])
		} else {
			x, err = inv.Inverse(wrt, known, y)
		}
		if err != nil {
			if !errors.Is(err, errs.ErrNoInverse) {
				t.Fatalf("%v: inverse for input %d: untyped error %v", op, wrt, err)
			}
			return
		}
		again := append([]*G.Node(nil), in...)
		again[wrt] = x
		y2, err := ops.Apply(op, again...)
		if err != nil {
			t.Fatalf("%v: re-applying to the inverse: %v", op, err)
		}
		vals, err := graph.Compile("round trip", []*G.Node{y2, y}, g.AllNodes()...).Run(nil)
		if err != nil {
			if !typed(err) {
				t.Fatalf("%v: untyped run error %v", op, err)
			}
			return
		}
		got, want := values(t, vals[y2]), values(t, vals[y])
		kappa := conditionOf(op, in, wrt, x, vals)
		d, n := floats.Distance(got, want, 2), floats.Norm(want, 2) // scaled: no overflow of the squares
		res := d / math.Max(n, math.SmallestNonzeroFloat64)
		if n == 0 {
			res = d
		}
		if tol := 1e3*0x1p-52*kappa + 1e-14; !(res <= tol) {
			t.Fatalf("%v (shapes %v, wrt %d, scale %g): round-trip residual %.3g > %.3g (κ %.3g)", op, c.shapes(r, cc), wrt, scale, res, tol, kappa)
		}
	})
}

func values(t *testing.T, val G.Value) []float64 {
	switch v := val.(type) {
	case *G.F64:
		return []float64{float64(*v)}
	case *tensor.Dense:
		return v.Float64s()
	}
	t.Fatalf("value %T", val)
	return nil
}

// conditionOf is the condition number governing the round trip: that of
// each matrix the inverse factorises (product), or of the known factor of
// an elementwise product (max/min ratio of its magnitudes).
func conditionOf(op G.Op, in []*G.Node, wrt int, x *G.Node, vals graph.Values) float64 {
	kappa := 1.0
	var walk func(n *G.Node, depth int)
	walk = func(n *G.Node, depth int) {
		if depth > 4 || n.Op() == nil {
			return
		}
		ch := graph.Children(n)
		if c, ok := n.Op().(ops.Conditioner); ok {
			vs := make([]G.Value, len(ch))
			for i, k := range ch {
				if vs[i] = vals[k]; vs[i] == nil {
					vs[i] = k.Value()
				}
			}
			if mc, err := c.Condition(vs); err == nil {
				kappa *= mc.Cond
			}
		}
		for _, k := range ch {
			walk(k, depth+1)
		}
	}
	walk(x, 0)
	if _, ok := op.(ops.MatMulOp); ok {
		kappa *= kappa // C = AB re-multiplied: the factor's condition enters twice
	}
	return kappa
}
