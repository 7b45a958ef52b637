package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The Gauss–Newton product against an oracle that shares no code with it:
// for ½‖z − y‖², G v = Jᵀ(J v); J v is a central difference of the net's
// output z (r = 1e-5: O(r²) ≈ 1e-10), and Jᵀu is the gradient with the
// targets moved to y = z − u (∇ = Jᵀ(z − y)). 1e-8 relative. On a linear
// model G = H exactly (the loss is quadratic in z, z linear in W), for
// squared error and softmax cross-entropy alike: 1e-12.
func TestGGN(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 4, Layers: []nets.Layer{{Out: 6, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.SigmoidFunc{}, Bias: true}, {Out: 2, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.7, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	if z, err := p.GGNOutput(); err != nil || z == nil {
		t.Fatalf("output: %v %v", z, err)
	}
	ws := m.Params()
	v := make([]*tensor.Dense, len(ws))
	for k, w := range ws {
		d := make([]float64, w.Shape().TotalSize())
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		v[k] = tensor.New(tensor.WithShape(w.Shape()...), tensor.WithBacking(d))
	}
	gv, err := p.GGNv(v)
	if err != nil {
		t.Fatal(err)
	}
	out := func(s float64) []float64 {
		bind := graph.Values{}
		for k, w := range ws {
			d := append([]float64(nil), hvp.Data(w.Value().(*tensor.Dense))...)
			for i, x := range hvp.Data(v[k]) {
				d[i] += s * x
			}
			bind[w] = tensor.New(tensor.WithShape(w.Shape()...), tensor.WithBacking(d))
		}
		vals, err := graph.Compile("out", []*G.Node{m.Out}).Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		return hvp.Data(vals[m.Out].(*tensor.Dense))
	}
	r := 1e-5
	zp, zm, z0 := out(r), out(-r), out(0)
	y := make([]float64, len(z0))
	for i := range y {
		y[i] = z0[i] - (zp[i]-zm[i])/(2*r) // z − J v
	}
	if err := G.Let(m.Y, tensor.New(tensor.WithShape(m.Y.Shape()...), tensor.WithBacking(y))); err != nil {
		t.Fatal(err)
	}
	_, want, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if d := hvp.FlatRelDiff(hvp.Flatten(gv), hvp.Flatten(want)); d > 1e-8 {
		t.Errorf("G v differs from Jᵀ(J v) by %.3g", d)
	} else {
		t.Logf("G v vs Jᵀ(J v) by finite differences and the gradient: %.2g", d)
	}
	// Symmetric and positive semi-definite on random pairs.
	u := randomLike(rng, m.Params())
	gu, err := p.GGNv(u)
	if err != nil {
		t.Fatal(err)
	}
	a, b := dot(u, gv), dot(v, gu)
	if math.Abs(a-b) > 1e-12*math.Abs(a) || dot(v, gv) < 0 || dot(u, gu) < 0 {
		t.Errorf("⟨u, Gv⟩ = %v, ⟨v, Gu⟩ = %v, ⟨v, Gv⟩ = %v", a, b, dot(v, gv))
	}
	for _, loss := range []string{nets.HalfSquaredError, nets.SoftmaxCrossEntropy} {
		lin, err := nets.Build(nets.Spec{Batch: 5, In: 4, Loss: loss, Layers: []nets.Layer{{Out: 3, Act: ops.IdentityFunc{}, Bias: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lin.Randomize(rng, 1, 0); err != nil {
			t.Fatal(err)
		}
		pl, err := hvp.New(lin.Loss, lin.Params()...)
		if err != nil {
			t.Fatal(err)
		}
		vl := randomLike(rng, lin.Params())
		hv, err := pl.Hv(vl)
		if err != nil {
			t.Fatal(err)
		}
		gvl, err := pl.GGNv(vl)
		if err != nil {
			t.Fatal(err)
		}
		if d := hvp.FlatRelDiff(hvp.Flatten(gvl), hvp.Flatten(hv)); d > 1e-12 {
			t.Errorf("%s, linear model: G v differs from H v by %.3g", loss, d)
		}
	}
}

func dot(a, b []*tensor.Dense) float64 {
	var s float64
	x, y := hvp.Flatten(a), hvp.Flatten(b)
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}
