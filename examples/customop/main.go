// Command customop shows how to add an invertible op to newtonia from
// outside the library. The op, ScaledLeaky (y = C·leaky_α(x)), is written
// here as a plain gorgonia.Op that also implements the rule interfaces of
// package ops (VJPer, JVPer, Inverter); its derivative mask is a second op
// that declares itself piecewise constant. Nothing is registered anywhere
// else: the rewriter finds the rules by type assertion.
//
// The program checks the op's rules with opcheck, builds a three-layer net
// with it, and compares the exact H_ll⁻¹v of every block with a solve of
// the dense block Hessian (central differences of the gradient).
//
//	go run ./examples/customop
package main

import (
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/ops/opcheck"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScaledLeaky is y = C·x for x > 0 and C·α·x otherwise, elementwise.
//
//	backward:  x̄ = ȳ ⊙ D(x),   D(x) = C·[x > 0] + C·α·[x ≤ 0]
//	JVP:       ẏ = ẋ ⊙ D(x)
//	inverse:   x = ScaledLeaky{1/C, 1/α}(y)   (C > 0, α > 0)
//
// ops.Unary supplies the gorgonia.Op methods every elementwise op shares
// (arity, type, shape, purity); WriteHash and Hashcode are one line each.
type ScaledLeaky struct {
	ops.Unary
	C, Alpha float64
}

func (o ScaledLeaky) String() string        { return fmt.Sprintf("%g·leaky(%g)", o.C, o.Alpha) }
func (o ScaledLeaky) WriteHash(h hash.Hash) { ops.WriteHash(h, o) }
func (o ScaledLeaky) Hashcode() uint32      { return ops.Hashcode(o) }

func (o ScaledLeaky) Do(v ...G.Value) (G.Value, error) {
	return mapDense(v[0], func(x float64) float64 {
		if x > 0 {
			return o.C * x
		}
		return o.C * o.Alpha * x
	})
}

func (o ScaledLeaky) VJP(in []*G.Node, out, adj *G.Node, need []bool) ([]*G.Node, error) {
	d, err := ops.Apply(scaledLeakyMask(o), in[0])
	if err != nil {
		return nil, err
	}
	g, err := ops.Mul(adj, d)
	return []*G.Node{g}, err
}

func (o ScaledLeaky) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	d, err := ops.Apply(scaledLeakyMask(o), in[0])
	if err != nil {
		return nil, err
	}
	return ops.Mul(tan[0], d)
}

func (o ScaledLeaky) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	if !(o.C > 0 && o.Alpha > 0) {
		return nil, &errs.NoInverseError{Op: o.String(), Input: wrt, Reason: "needs C > 0 and α > 0"}
	}
	return ops.Apply(ScaledLeaky{C: 1 / o.C, Alpha: 1 / o.Alpha}, out)
}

func (ScaledLeaky) InverseCondition(int) string { return "C > 0 and α > 0" }

// scaledLeakyMask is D(x), the derivative of ScaledLeaky: piecewise
// constant, so it needs no rules of its own beyond saying so.
type scaledLeakyMask ScaledLeaky

func (o scaledLeakyMask) String() string        { return fmt.Sprintf("%v′", ScaledLeaky(o)) }
func (o scaledLeakyMask) WriteHash(h hash.Hash) { ops.WriteHash(h, o) }
func (o scaledLeakyMask) Hashcode() uint32      { return ops.Hashcode(o) }
func (scaledLeakyMask) PiecewiseConstant() bool { return true }

func (o scaledLeakyMask) Do(v ...G.Value) (G.Value, error) {
	return mapDense(v[0], func(x float64) float64 {
		if x > 0 {
			return o.C
		}
		return o.C * o.Alpha
	})
}

func mapDense(v G.Value, f func(float64) float64) (G.Value, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("want a dense tensor, got %T", v)
	}
	if t.IsView() {
		t = t.Materialize().(*tensor.Dense)
	}
	in := t.Float64s()
	out := make([]float64, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return tensor.New(tensor.WithShape(t.Shape().Clone()...), tensor.WithBacking(out)), nil
}

func main() {
	if _, err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "customop:", err)
		os.Exit(1)
	}
}

// run checks the op and a net using it; it returns the worst relative error
// of InvHv against the dense block solve, scaled by ε·cond.
func run(w io.Writer) (float64, error) {
	rng := rand.New(rand.NewPCG(42, 1))
	op := ScaledLeaky{C: 1.5, Alpha: 0.3}

	// 1. The op's rules, by the library's shared checker.
	x := randn(rng, 4, 5)
	for i, v := range x.Float64s() { // keep clear of the kink at 0
		x.Float64s()[i] = math.Copysign(0.5+math.Abs(v), v)
	}
	rep, err := opcheck.Check(op, []*tensor.Dense{x}, opcheck.Tolerances{}, rng)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "opcheck %v: JVP vs FD %.2e, VJP adjoint %.2e, VJP vs FD %.2e, inverse round trip %.2e\n",
		op, rep.JVP, rep.VJP, rep.VJPFD, rep.Inverse[0])

	// 2. A net built from it: 6-6-6-6, batch 6, half squared error.
	const n = 6
	g := G.NewGraph()
	in := G.NewMatrix(g, tensor.Float64, G.WithShape(n, n), G.WithName("x"))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(n, n), G.WithName("y"))
	h := in
	var ws []*G.Node
	for k := 1; k <= 3; k++ {
		wk := G.NewMatrix(g, tensor.Float64, G.WithShape(n, n), G.WithName(fmt.Sprintf("W%d", k)))
		ws = append(ws, wk)
		if h, err = ops.MatMul(h, wk); err != nil {
			return 0, err
		}
		if h, err = ops.Apply(op, h); err != nil {
			return 0, err
		}
	}
	loss, err := ops.HalfSSE(h, y)
	if err != nil {
		return 0, err
	}
	// Diagonally shifted draws keep the blocks well conditioned, so that
	// the finite-difference reference is accurate enough to compare with.
	shifted := func(s float64) *tensor.Dense {
		t := randn(rng, n, n)
		for i := range n {
			t.Float64s()[i*n+i] += s
		}
		return t
	}
	lets := map[*G.Node]*tensor.Dense{in: shifted(3), y: randn(rng, n, n)}
	for _, wk := range ws {
		lets[wk] = shifted(3)
	}
	for node, v := range lets {
		if err := G.Let(node, v); err != nil {
			return 0, err
		}
	}
	p, err := hvp.New(loss, ws...)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "\n%-4s %10s %12s %12s\n", "block", "cond(H_ll)", "rel. error", "residual")
	worst := 0.0
	for l := range ws {
		v := randn(rng, n, n)
		u, err := p.Block(l).InvHv(params.FromFlat(p.Layout().Block(l), v.Float64s()), nil)
		if err != nil {
			return 0, err
		}
		// The dense block by central differences: with the activation
		// pattern fixed the block gradient is affine, so r = 1e-2 only
		// lowers rounding error (the pattern is checked and r halved).
		hb, err := reference.DenseBlockFD(p, l, 1e-2, nil)
		if err != nil {
			return 0, err
		}
		var ref mat.VecDense
		if err := ref.SolveVec(hb, mat.NewVecDense(n*n, v.Float64s())); err != nil {
			return 0, err
		}
		cond := mat.Cond(hb, 2)
		e := params.RelDiff(u.U, params.FromFlat(u.U.Layout(), ref.RawVector().Data))
		worst = math.Max(worst, e/(0x1p-52*cond))
		fmt.Fprintf(w, "%-5s %10.3g %12.3g %12.3g\n", ws[l].Name(), cond, e, u.Residual)
	}
	return worst, nil
}

func randn(rng *rand.Rand, r, c int) *tensor.Dense {
	d := make([]float64, r*c)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))
}
