package hvp_test

import (
	"fmt"
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

// K-FAC's factors of an autoencoder's tie (tied.go): H = tanh(X·W + 1bh),
// R = H·Wᵀ + 1bv, J = ½‖R − X‖², W (m × n) used as W and as Wᵀ, the
// biases lone. Oracle, by hand with gonum from the per-sample adjoints:
// δ2 = R − X (each row i the adjoint of sample i's decoder product),
// δ1 = (δ2·W) ⊙ (1 − H²) (the encoder's); the encoder's use puts xᵢ on
// W's rows and δ1ᵢ on its columns, the decoder's δ2ᵢ on the rows and hᵢ
// on the columns (∇W = Σᵢ xᵢᵀδ1ᵢ + δ2ᵢᵀhᵢ). So A₀ = XᵀX/B, DD₀ = δ1ᵀδ1,
// A₁ = HᵀH/B, DD₁ = δ2ᵀδ2, π_g² = (tr A_g/dim)/(tr DD_g/dim), and
// A = (A₀/π₀ + DD₁π₁)/2, DD = DD₀π₀ + A₁/π₁; bh: A = [1], DD = δ1ᵀδ1;
// bv: A = [1], DD = δ2ᵀδ2. As a check that each group's balance keeps its
// product, tr(A₀/π₀)·tr(DD₀π₀) = tr A₀·tr DD₀ by construction; the test
// compares the matrices. 1e-12: sums of a few products in float64.
func TestTiedTransposeFactors(t *testing.T) {
	const B, m, n = 5, 4, 3
	rng := rand.New(rand.NewPCG(21, 5))
	rnd := func(k int) []float64 {
		x := make([]float64, k)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	xv, wv, bhv, bvv := rnd(B*m), rnd(m*n), rnd(n), rnd(m)
	x, w := mat.NewDense(B, m, xv), mat.NewDense(m, n, wv)
	hm := mat.NewDense(B, n, nil)
	hm.Mul(x, w)
	hm.Apply(func(_, j int, v float64) float64 { return math.Tanh(v + bhv[j]) }, hm)
	var d2, d1 mat.Dense
	d2.Mul(hm, w.T())
	d2.Apply(func(i, j int, v float64) float64 { return v + bvv[j] - x.At(i, j) }, &d2)
	d1.Mul(&d2, w)
	d1.Apply(func(i, j int, v float64) float64 { return v * (1 - hm.At(i, j)*hm.At(i, j)) }, &d1)
	gram := func(a mat.Matrix, s float64) *mat.Dense {
		var g mat.Dense
		g.Mul(a.T(), a)
		g.Scale(s, &g)
		return &g
	}
	a0, dd0, a1, dd1 := gram(x, 1.0/B), gram(&d1, 1), gram(hm, 1.0/B), gram(&d2, 1)
	pi := func(a, d *mat.Dense) float64 {
		ra, _ := a.Dims()
		rd, _ := d.Dims()
		return math.Sqrt((mat.Trace(a) / float64(ra)) / (mat.Trace(d) / float64(rd)))
	}
	p0, p1 := pi(a0, dd0), pi(a1, dd1)
	var wantA, wantD, t1, t2 mat.Dense
	wantA.Scale(1/p0, a0)
	t1.Scale(p1, dd1)
	wantA.Add(&wantA, &t1)
	wantA.Scale(0.5, &wantA)
	wantD.Scale(p0, dd0)
	t2.Scale(1/p1, a1)
	wantD.Add(&wantD, &t2)

	g := G.NewGraph()
	node := func(name string, v []float64, s ...int) *G.Node {
		return G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), v...)))))
	}
	xn, wn, bh, bv := node("X", xv, B, m), node("W", wv, m, n), node("bh", bhv, n), node("bv", bvv, m)
	hn := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(xn, wn)), bh, nil, []byte{0}))))
	rn := G.Must(G.BroadcastAdd(G.Must(G.Mul(hn, G.Must(G.Transpose(wn)))), bv, nil, []byte{0}))
	cost := G.Must(G.Mul(G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(rn, xn)))))), G.NewConstant(0.5)))
	p, err := hvp.New(cost, wn, bh, bv)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	if p.Blocks() != 3 {
		t.Fatalf("%d blocks, want W, bh, bv apart", p.Blocks())
	}
	want := []struct {
		a, dd      *mat.Dense
		transposed bool
	}{{&wantA, &wantD, false}, {mat.NewDense(1, 1, []float64{1}), gram(&d1, 1), true}, {mat.NewDense(1, 1, []float64{1}), gram(&d2, 1), true}}
	for l, w := range want {
		f := kf.Factors[l]
		if f == nil {
			t.Fatalf("block %s: no factors: %v", p.Block(l).Name(), kf.Err[l])
		}
		if f.Transposed != w.transposed {
			t.Errorf("block %s: Transposed %v", p.Block(l).Name(), f.Transposed)
		}
		if !mat.EqualApprox(f.A, w.a, 1e-12) || !mat.EqualApprox(f.DD, w.dd, 1e-12) {
			t.Errorf("block %s: A = %v, want %v; DD = %v, want %v", p.Block(l).Name(),
				mat.Formatted(f.A), mat.Formatted(w.a), mat.Formatted(f.DD), mat.Formatted(w.dd))
		}
	}
}

// K-FAC's factors of an embedding read by slices (tied.go): e_t = E[k_t]
// (G.Slice of a row), J = Σ_t Σ tanh(e_t) ⊙ c_t. Oracle by hand: the
// lookup is S·E with S the one-hot rows of k_t, so A = SᵀS/T =
// diag(counts)/T and DD = Σ_t δ_tδ_tᵀ with δ_t = (1 − tanh²(e_t)) ⊙ c_t.
// 1e-12: sums of a few products in float64.
func TestTiedEmbeddingFactors(t *testing.T) {
	const vocab, k = 5, 3
	tokens := []int{2, 0, 3}
	rng := rand.New(rand.NewPCG(3, 4))
	ev := make([]float64, vocab*k)
	for i := range ev {
		ev[i] = rng.NormFloat64()
	}
	g := G.NewGraph()
	en := G.NewMatrix(g, tensor.Float64, G.WithShape(vocab, k), G.WithName("E"), G.WithValue(tensor.New(tensor.WithShape(vocab, k), tensor.WithBacking(append([]float64(nil), ev...)))))
	wantA := mat.NewSymDense(vocab, nil)
	wantD := mat.NewSymDense(k, nil)
	var cost *G.Node
	for s, tok := range tokens {
		c := make([]float64, k)
		for i := range c {
			c[i] = rng.NormFloat64()
		}
		cn := G.NewVector(g, tensor.Float64, G.WithShape(k), G.WithName(fmt.Sprintf("c%d", s)), G.WithValue(tensor.New(tensor.WithShape(k), tensor.WithBacking(append([]float64(nil), c...)))))
		e := G.Must(G.Slice(en, G.S(tok)))
		l := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Tanh(e)), cn))))
		if cost == nil {
			cost = l
		} else {
			cost = G.Must(G.Add(cost, l))
		}
		wantA.SetSym(tok, tok, wantA.At(tok, tok)+1/float64(len(tokens)))
		d := make([]float64, k)
		for i := range d {
			th := math.Tanh(ev[tok*k+i])
			d[i] = (1 - th*th) * c[i]
		}
		wantD.SymRankOne(wantD, 1, mat.NewVecDense(k, d))
	}
	p, err := hvp.New(cost, en)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	f := kf.Factors[0]
	if f == nil {
		t.Fatalf("no factors: %v", kf.Err[0])
	}
	if f.Transposed || f.Positions != len(tokens) {
		t.Errorf("Transposed %v, Positions %d", f.Transposed, f.Positions)
	}
	if !mat.EqualApprox(f.A, wantA, 1e-12) || !mat.EqualApprox(f.DD, wantD, 1e-12) {
		t.Errorf("A = %v, want %v; DD = %v, want %v", mat.Formatted(f.A), mat.Formatted(wantA), mat.Formatted(f.DD), mat.Formatted(wantD))
	}
}

// A weight used once in the column convention, z = W·X (X n × B, a column
// per sample), has no per-sample route (that needs h·W) but K-FAC's factors
// of its one use (tied.go): A = XXᵀ/B, DD = δδᵀ with δ = Z − Y for
// J = ½‖W·X − Y‖², in W̃ = Wᵀ's order (Transposed). Oracle by hand with
// gonum; 1e-12: sums of a few products in float64.
func TestColumnLayerFactors(t *testing.T) {
	const B, n, k = 6, 4, 3
	rng := rand.New(rand.NewPCG(6, 1))
	rnd := func(c int) []float64 {
		x := make([]float64, c)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	xv, yv, wv := rnd(n*B), rnd(k*B), rnd(k*n)
	x, y, w := mat.NewDense(n, B, xv), mat.NewDense(k, B, yv), mat.NewDense(k, n, wv)
	var d, wantA, wantD mat.Dense
	d.Mul(w, x)
	d.Sub(&d, y)
	wantA.Mul(x, x.T())
	wantA.Scale(1.0/B, &wantA)
	wantD.Mul(&d, d.T())
	g := G.NewGraph()
	m := func(name string, r, c int, v []float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(append([]float64(nil), v...)))))
	}
	xn, yn, wn := m("X", n, B, xv), m("Y", k, B, yv), m("W", k, n, wv)
	cost := G.Must(G.Mul(G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(wn, xn)), yn)))))), G.NewConstant(0.5)))
	p, err := hvp.New(cost, wn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Block(0).Curvature(); err == nil {
		t.Fatal("W·X has a per-sample route: the test no longer tests the fallback to the use's factors")
	}
	kf, err := p.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	f := kf.Factors[0]
	if f == nil {
		t.Fatalf("no factors: %v", kf.Err[0])
	}
	if !f.Transposed || !mat.EqualApprox(f.A, &wantA, 1e-12) || !mat.EqualApprox(f.DD, &wantD, 1e-12) {
		t.Errorf("Transposed %v; A = %v, want %v; DD = %v, want %v", f.Transposed, mat.Formatted(f.A), mat.Formatted(&wantA), mat.Formatted(f.DD), mat.Formatted(&wantD))
	}
}
