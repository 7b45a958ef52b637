package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// K-FAC's factors of a weight used twice (tied.go): z1 = x·W, h = tanh(z1),
// z2 = h·W, J = ½‖z2 − y‖². Oracle, by hand with gonum: δ2 = z2 − y,
// δ1 = (δ2 Wᵀ) ⊙ (1 − h²), A = (xᵀx + hᵀh)/(2B), DD = δ1ᵀδ1 + δ2ᵀδ2
// (the uses' rows stacked). The same net in the column convention
// (V = Wᵀ, z1ᵀ = V·xᵀ, z2ᵀ = V·hᵀ) has the same factors, transposed
// (Factors.Transposed). 1e-12: sums of a few products in float64.
func TestTiedFactors(t *testing.T) {
	const B, k = 4, 3
	rng := rand.New(rand.NewPCG(8, 8))
	rnd := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	xv, yv, wv := rnd(B*k), rnd(B*k), rnd(k*k)
	x, y, w := mat.NewDense(B, k, xv), mat.NewDense(B, k, yv), mat.NewDense(k, k, wv)
	var z1, z2, d2, d1 mat.Dense
	z1.Mul(x, w)
	h := mat.NewDense(B, k, nil)
	h.Apply(func(_, _ int, v float64) float64 { return math.Tanh(v) }, &z1)
	z2.Mul(h, w)
	d2.Sub(&z2, y)
	d1.Mul(&d2, w.T())
	d1.Apply(func(i, j int, v float64) float64 { return v * (1 - h.At(i, j)*h.At(i, j)) }, &d1)
	var wantA, wantD, t1 mat.Dense
	wantA.Mul(x.T(), x)
	t1.Mul(h.T(), h)
	wantA.Add(&wantA, &t1)
	wantA.Scale(1/float64(2*B), &wantA)
	wantD.Mul(d1.T(), &d1)
	t1.Mul(d2.T(), &d2)
	wantD.Add(&wantD, &t1)

	build := func(column bool) *hvp.Problem {
		g := G.NewGraph()
		m := func(name string, r, c int, v []float64) *G.Node {
			return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(append([]float64(nil), v...)))))
		}
		var cost, wn *G.Node
		if !column {
			xn, yn := m("x", B, k, xv), m("y", B, k, yv)
			wn = m("W", k, k, wv)
			hn := G.Must(G.Tanh(G.Must(G.Mul(xn, wn))))
			cost = G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(hn, wn)), yn))))))
		} else {
			var xt, yt, vt mat.Dense
			xt.CloneFrom(x.T())
			yt.CloneFrom(y.T())
			vt.CloneFrom(w.T())
			xn, yn := m("xT", k, B, xt.RawMatrix().Data), m("yT", k, B, yt.RawMatrix().Data)
			wn = m("V", k, k, vt.RawMatrix().Data)
			hn := G.Must(G.Tanh(G.Must(G.Mul(wn, xn))))
			cost = G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(wn, hn)), yn))))))
		}
		cost = G.Must(G.Mul(cost, G.NewConstant(0.5)))
		p, err := hvp.New(cost, wn)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, column := range []bool{false, true} {
		p := build(column)
		kf, err := p.Kronecker()
		if err != nil {
			t.Fatal(err)
		}
		f := kf.Factors[0]
		if f == nil {
			t.Fatalf("column %v: no factors: %v", column, kf.Err[0])
		}
		if f.Transposed != column || f.Positions != 2 {
			t.Errorf("column %v: Transposed %v, Positions %d", column, f.Transposed, f.Positions)
		}
		if !mat.EqualApprox(f.A, &wantA, 1e-12) || !mat.EqualApprox(f.DD, &wantD, 1e-12) {
			t.Errorf("column %v: A = %v, want %v; DD = %v, want %v", column, mat.Formatted(f.A), mat.Formatted(&wantA), mat.Formatted(f.DD), mat.Formatted(&wantD))
		}
	}
}
