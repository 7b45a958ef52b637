// Package testnet holds the nets and dense oracles the tests of hvp,
// reference and solver share.
package testnet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Eps is float64's machine epsilon.
const Eps = 0x1p-52

// Square returns a leaky-ReLU net of the given depth with every width and
// the batch equal to n, weights randn/√n + I (activations stay O(1) with
// depth), and its products.
func Square(t testing.TB, rng *rand.Rand, depth, n int) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	widths := make([]int, depth)
	for i := range widths {
		widths[i] = n
	}
	return MLP(t, rng, n, n, widths, ops.LeakyReLUFunc{Alpha: 0.5})
}

// MLP returns a net with the given batch, input width, layer widths and
// activation, weights randn/√in + I, and its products.
func MLP(t testing.TB, rng *rand.Rand, batch, in int, widths []int, act ops.ScalarFunc) (*nets.MLP, *hvp.Problem) {
	t.Helper()
	var layers []nets.Layer
	for _, w := range widths {
		layers = append(layers, nets.Layer{Out: w, Act: act})
	}
	m, err := nets.NewMLP(batch, in, layers)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 1/math.Sqrt(float64(in)), 1); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Weights...)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// RandLike returns standard normal values for m's weights (matrices, no
// biases): a vector whose layout has one block per weight, as hvp.New
// groups them (Same as the problem's layout).
func RandLike(rng *rand.Rand, m *nets.MLP) *params.Vector {
	names := make([]string, len(m.Weights))
	shapes := make([]tensor.Shape, len(m.Weights))
	for k, w := range m.Weights {
		names[k], shapes[k] = errs.Name(w), w.Shape()
	}
	l, err := params.NewLayout(names, shapes, tensor.Float64, nil)
	if err != nil {
		panic(err)
	}
	out := params.New(l)
	for k, w := range m.Weights {
		s := w.Shape()
		copy(out.Weight(k), nets.Randn(rng, s[0], s[1], 0).Float64s())
	}
	return out
}

// Solve returns H⁻¹v (LU), of v's layout.
func Solve(t testing.TB, h *mat.Dense, v *params.Vector) *params.Vector {
	t.Helper()
	n, _ := h.Dims()
	var x mat.VecDense
	if err := x.SolveVec(h, mat.NewVecDense(n, append([]float64(nil), v.Flat()...))); err != nil {
		t.Fatal(err)
	}
	return params.FromFlat(v.Layout(), x.RawVector().Data)
}

// PinvSolve returns H⁺v for a symmetric H (indefinite allowed), with
// eigenvalues below rcond·|λ|_max in magnitude treated as zero, of v's
// layout, the rank used and the condition number |λ|_max/|λ|_min over the
// range.
func PinvSolve(t testing.TB, h *mat.Dense, v *params.Vector, rcond float64) (*params.Vector, int, float64) {
	t.Helper()
	n, _ := h.Dims()
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, Symmetrize(h).RawMatrix().Data), true) {
		t.Fatal("eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var q mat.Dense
	eig.VectorsTo(&q)
	b := mat.NewVecDense(n, append([]float64(nil), v.Flat()...))
	var qtb mat.VecDense
	qtb.MulVec(q.T(), b)
	top := math.Max(math.Abs(vals[0]), math.Abs(vals[n-1]))
	rank, smallest := 0, top
	for i, l := range vals {
		if math.Abs(l) > rcond*top {
			smallest = math.Min(smallest, math.Abs(l))
			qtb.SetVec(i, qtb.AtVec(i)/l)
			rank++
		} else {
			qtb.SetVec(i, 0)
		}
	}
	var x mat.VecDense
	x.MulVec(&q, &qtb)
	return params.FromFlat(v.Layout(), x.RawVector().Data), rank, top / smallest
}

// Symmetrize returns (h + hᵀ)/2.
func Symmetrize(h *mat.Dense) *mat.Dense {
	var s mat.Dense
	s.Add(h, h.T())
	s.Scale(0.5, &s)
	return &s
}

// Leaky is the leaky ReLU of slope 0.5.
func Leaky() ops.ScalarFunc { return ops.LeakyReLUFunc{Alpha: 0.5} }

// LossAt returns the loss at the current weights + s·d.
func LossAt(t testing.TB, p *hvp.Problem, d *params.Vector, s float64) float64 {
	t.Helper()
	w, err := p.Current()
	if err != nil {
		t.Fatal(err)
	}
	w.AddScaled(s, d)
	loss, err := p.LossAt(w)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

// Cond is the 2-norm condition number.
func Cond(h *mat.Dense) float64 { return mat.Cond(h, 2) }

// RelDense returns ‖a − b‖₂/‖b‖₂ for dense matrices.
func RelDense(a, b *mat.Dense) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

// Tensor returns d (copied) as a tensor of shape s and dtype dt (float64
// or float32, rounded to nearest).
func Tensor(d []float64, s tensor.Shape, dt tensor.Dtype) *tensor.Dense {
	if dt == tensor.Float32 {
		y := make([]float32, len(d))
		for i := range d {
			y[i] = float32(d[i])
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(y))
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), d...)))
}

// ScalarOf returns the number a scalar Gorgonia value holds (NaN if none).
func ScalarOf(v G.Value) float64 {
	switch v := v.(type) {
	case *G.F64:
		return float64(*v)
	case *G.F32:
		return float64(*v)
	case *tensor.Dense:
		if d, _, err := native.Float64s(v); err == nil && len(d) == 1 {
			return d[0]
		}
	}
	return math.NaN()
}
