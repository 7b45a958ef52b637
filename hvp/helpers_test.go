package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const eps = 0x1p-52

// square returns a leaky-ReLU net of the given depth with every width and
// the batch equal to n, weights randn/√n + I (activations stay O(1) with
// depth), and its products.
func square(t testing.TB, rng *rand.Rand, depth, n int) (*nets.MLP, *hvp.Products) {
	t.Helper()
	widths := make([]int, depth)
	for i := range widths {
		widths[i] = n
	}
	return mlp(t, rng, n, n, widths, ops.LeakyReLUFunc{Alpha: 0.5})
}

func mlp(t testing.TB, rng *rand.Rand, batch, in int, widths []int, act ops.ScalarFunc) (*nets.MLP, *hvp.Products) {
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

func randLike(rng *rand.Rand, m *nets.MLP) []*tensor.Dense {
	out := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		s := w.Shape()
		out[k] = nets.Randn(rng, s[0], s[1], 0)
	}
	return out
}

// solve returns H⁻¹v (LU) shaped like v.
func solve(t testing.TB, h *mat.Dense, v *tensor.Dense) *tensor.Dense {
	t.Helper()
	n, _ := h.Dims()
	var x mat.VecDense
	if err := x.SolveVec(h, mat.NewVecDense(n, hvp.Flatten([]*tensor.Dense{v}))); err != nil {
		t.Fatal(err)
	}
	return tensor.New(tensor.WithShape(v.Shape()...), tensor.WithBacking(x.RawVector().Data))
}

// pinvSolve returns H⁺v for a symmetric positive semidefinite H, with
// eigenvalues below rcond·λ_max treated as zero, the rank used and the
// condition number λ_max/λ_min over the range.
func pinvSolve(t testing.TB, h *mat.Dense, v *tensor.Dense, rcond float64) (*tensor.Dense, int, float64) {
	t.Helper()
	n, _ := h.Dims()
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, symmetrize(h).RawMatrix().Data), true) {
		t.Fatal("eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var q mat.Dense
	eig.VectorsTo(&q)
	b := mat.NewVecDense(n, hvp.Flatten([]*tensor.Dense{v}))
	var qtb mat.VecDense
	qtb.MulVec(q.T(), b)
	top := vals[n-1]
	rank, smallest := 0, top
	for i, l := range vals {
		if l > rcond*top {
			smallest = math.Min(smallest, l)
			qtb.SetVec(i, qtb.AtVec(i)/l)
			rank++
		} else {
			qtb.SetVec(i, 0)
		}
	}
	var x mat.VecDense
	x.MulVec(&q, &qtb)
	return tensor.New(tensor.WithShape(v.Shape()...), tensor.WithBacking(x.RawVector().Data)), rank, top / smallest
}

func symmetrize(h *mat.Dense) *mat.Dense {
	var s mat.Dense
	s.Add(h, h.T())
	s.Scale(0.5, &s)
	return &s
}

func leaky() ops.ScalarFunc { return ops.LeakyReLUFunc{Alpha: 0.5} }

// lossAt returns the loss at weights + s·d, and restores the weights.
func lossAt(t testing.TB, p *hvp.Products, ws []*G.Node, d []*tensor.Dense, s float64) float64 {
	t.Helper()
	base := make([]*tensor.Dense, len(ws))
	for k, w := range ws {
		base[k] = w.Value().(*tensor.Dense)
		x := base[k].Clone().(*tensor.Dense)
		xs := x.Float64s()
		for i, di := range d[k].Float64s() {
			xs[i] += s * di
		}
		if err := G.Let(w, x); err != nil {
			t.Fatal(err)
		}
	}
	loss, _, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range ws {
		if err := G.Let(w, base[k]); err != nil {
			t.Fatal(err)
		}
	}
	return loss
}

func condOf(h *mat.Dense) float64 { return mat.Cond(h, 2) }
