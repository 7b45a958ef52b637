// Command customop adds two ops to newtonia from outside the library and
// gets exact inverse-Hessian products through them: an invertible activation
// written as an ops.ScalarFunc, and a layer written as a gorgonia.Op with a
// VJP, a JVP and an inverse. Nothing is registered anywhere; main_test.go
// checks both ops with opcheck, and InvHv against the dense block Hessian.
//
//	go run ./examples/customop
package main

import (
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScaledLeaky is f(x) = C·leaky_α(x): piecewise linear, its derivatives C
// times the leaky ReLU's, and for C, α > 0 inverted by ScaledLeaky{1/C, 1/α}.
type ScaledLeaky struct{ C, Alpha float64 } // ops.ElementwiseOp{F: f} is its op
var _ ops.InvertibleFunc = ScaledLeaky{}
var _ ops.PiecewiseLinearFunc = ScaledLeaky{}

func (f ScaledLeaky) String() string         { return fmt.Sprintf("%g·leaky(%g)", f.C, f.Alpha) }
func (ScaledLeaky) PiecewiseLinear() bool    { return true }
func (ScaledLeaky) InverseCondition() string { return "C > 0 and α > 0" }

func (f ScaledLeaky) Deriv(order int, x float64) (float64, bool) {
	d, ok := ops.LeakyReLUFunc{Alpha: f.Alpha}.Deriv(order, x)
	return f.C * d, ok
}

func (f ScaledLeaky) Inverse() (ops.ScalarFunc, error) {
	if !(f.C > 0 && f.Alpha > 0) {
		return nil, fmt.Errorf("%v is injective only for C > 0 and α > 0", f)
	}
	return ScaledLeaky{1 / f.C, 1 / f.Alpha}, nil
}

// Linear is Y = X·Wᵀ (X: B×n, W: m×n), a layer whose weights are stored out×in;
// one ops.Bilinear gives its JVP Ẏ = Ẋ Wᵀ + X Ẇᵀ and VJP X̄ = Ȳ W, W̄ = Ȳᵀ X.
// Inverse: X = Y W⁻ᵀ (W square), W = (X⁻¹ Y)ᵀ (X square).
type Linear struct{ ops.Binary } // arity 2, type a → a → a, purity
var _ ops.VJPer = Linear{}
var _ ops.JVPer = Linear{}
var _ ops.Inverter = Linear{}

var linearRule = ops.Bilinear{
	F:    func(b *ops.Builder, x, w *G.Node) *G.Node { return b.Apply(Linear{}, x, w) },
	AdjA: func(b *ops.Builder, adj, w *G.Node) *G.Node { return b.MatMul(adj, w) },
	AdjC: func(b *ops.Builder, x, adj *G.Node) *G.Node { return b.MatMul(b.T(adj), x) },
}

func (Linear) String() string                     { return "X·Wᵀ" }
func (o Linear) WriteHash(h hash.Hash)            { ops.WriteHash(h, o) }
func (o Linear) Hashcode() uint32                 { return ops.Hashcode(o) }
func (o Linear) Do(v ...G.Value) (G.Value, error) { return ops.Checked(o, o.do, v) }
func (Linear) InverseCondition(int) string        { return "the known factor square and nonsingular" }

func (o Linear) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := ops.MatrixShapes(o, 2, in)
	if err == nil && s[0][1] != s[1][1] {
		err = &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("X is %v, W is %v", s[0], s[1])}
	}
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0][0], s[1][0]}, nil
}

func (Linear) do(v ...G.Value) (G.Value, error) {
	x, errX := ops.Matrix(v[0])
	w, errW := ops.Matrix(v[1])
	if err := errors.Join(errX, errW); err != nil {
		return nil, err
	}
	var y mat.Dense
	y.Mul(x, w.T())
	return ops.FromMatrix(&y), nil
}

func (Linear) VJP(in []*G.Node, out, adj *G.Node, need []bool) ([]*G.Node, error) {
	return linearRule.VJP(in, out, adj, need)
}

func (Linear) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return linearRule.JVP(in, out, tan)
}

func (o Linear) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	if s := in[1-wrt].Shape(); s[0] != s[1] {
		return nil, &errs.NoInverseError{Op: o.String(), Input: wrt, Reason: fmt.Sprintf("the known factor is %v, not square", s)}
	}
	var b ops.Builder
	if wrt == 0 {
		return b.Apply(ops.SolveOp{Right: true, Trans: true}, in[1], out), b.Err // Y W⁻ᵀ
	}
	return b.T(b.Apply(ops.SolveOp{}, in[0], out)), b.Err // (X⁻¹ Y)ᵀ
}

func main() {
	rng := rand.New(rand.NewPCG(42, 1))
	p, err := newNet(rng)
	fmt.Printf("%-6s %-7s %s\n", "block", "method", "residual ‖H_ll u − v‖/‖v‖")
	for l := 0; err == nil && l < p.Blocks(); l++ {
		b := p.Block(l)
		var res *hvp.Result
		if res, err = b.InvHv(params.FromFlat(b.Layout(), nets.Randn(rng, 6, 6, 0).Float64s()), nil); err == nil {
			fmt.Printf("%-6s %-7v %.2g\n", b.Name(), res.Method, res.Residual)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "customop:", err)
		os.Exit(1)
	}
}

// newNet builds a 6-6-6-6 net of Linear layers and ScaledLeaky activations,
// batch 6, half squared error (shifted draws keep the blocks well conditioned).
func newNet(rng *rand.Rand) (*hvp.Problem, error) {
	g := G.NewGraph()
	matrix := func(name string, shift float64) *G.Node {
		v := nets.Randn(rng, 6, 6, shift)
		return G.NewMatrix(g, tensor.Float64, G.WithShape(6, 6), G.WithName(name), G.WithValue(v))
	}
	h, y := matrix("x", 3), matrix("y", 0)
	var ws []*G.Node
	var b ops.Builder
	for k := 1; k <= 3; k++ {
		ws = append(ws, matrix(fmt.Sprintf("W%d", k), 3))
		h = b.Apply(ops.ElementwiseOp{F: ScaledLeaky{C: 1.5, Alpha: 0.3}}, b.Apply(Linear{}, h, ws[k-1]))
	}
	loss := b.Apply(ops.HalfSSEOp{}, h, y)
	if b.Err != nil {
		return nil, b.Err
	}
	return hvp.New(loss, ws...)
}
