package hvp_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// InvHvThird against closed forms on the writeup's functions: u solves
// the closed-form H u = v (H = 6 diag(x) for Σ xᵢ³; the 3×3 matrix of
// x₁x₂x₃'s second derivatives, solved by gonum), to 1e-13 relative (a
// few roundings amplified by cond(H) ≤ 10 here), and T[u, u] equals the
// closed form at the returned u (6·u⊙u; 2·(u₂u₃, u₁u₃, u₁u₂)) to 1e-14.
// It agrees with the unfused products: U and the certificate bit for bit
// with InvHv's (the same nodes on the same values), T with Third's to
// 1e-14 (they scale u to unit norm differently).
func TestInvHvThirdClosedForms(t *testing.T) {
	sumCubes := func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }
	x, v := []float64{1.5, -2, 0.5}, []float64{1, 2, 3}
	cases := []struct {
		name string
		f    func(*G.Node) (*G.Node, error)
		h    *mat.Dense
		t    func(u []float64) []float64
	}{
		{"Σ xᵢ³", sumCubes, mat.NewDense(3, 3, []float64{6 * x[0], 0, 0, 0, 6 * x[1], 0, 0, 0, 6 * x[2]}),
			func(u []float64) []float64 { return []float64{6 * u[0] * u[0], 6 * u[1] * u[1], 6 * u[2] * u[2]} }},
		{"x₁x₂x₃", ops.Product, mat.NewDense(3, 3, []float64{0, x[2], x[1], x[2], 0, x[0], x[1], x[0], 0}),
			func(u []float64) []float64 { return []float64{2 * u[1] * u[2], 2 * u[0] * u[2], 2 * u[0] * u[1]} }},
	}
	for _, c := range cases {
		p := writeupProblem(t, c.f, x)
		b := p.Block(0)
		vv := params.FromFlat(b.Layout(), append([]float64(nil), v...))
		res, tuu, err := b.InvHvThird(vv, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var want mat.VecDense
		if err := want.SolveVec(c.h, mat.NewVecDense(3, append([]float64(nil), v...))); err != nil {
			t.Fatal(err)
		}
		if e := flatRelDiff(res.U.Flat(), want.RawVector().Data); e > 1e-13 || !res.Certified || res.Note != "" {
			t.Errorf("%s: u = %v, want %v (rel. %.1e), certified %v, note %q", c.name, res.U.Flat(), want.RawVector().Data, e, res.Certified, res.Note)
		}
		if e := flatRelDiff(tuu.Flat(), c.t(res.U.Flat())); e > 1e-14 {
			t.Errorf("%s: T[u, u] = %v, want %v (rel. %.1e)", c.name, tuu.Flat(), c.t(res.U.Flat()), e)
		}
		plain, err := b.InvHv(vv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if flatRelDiff(plain.U.Flat(), res.U.Flat()) != 0 || plain.Residual != res.Residual || plain.Kind != res.Kind {
			t.Errorf("%s: fused u %v (residual %g, %v), InvHv's %v (%g, %v)", c.name, res.U.Flat(), res.Residual, res.Kind, plain.U.Flat(), plain.Residual, plain.Kind)
		}
		third, err := b.Third(res.U, res.U)
		if err != nil {
			t.Fatal(err)
		}
		if e := flatRelDiff(tuu.Flat(), third.Flat()); e > 1e-14 {
			t.Errorf("%s: fused T %v, Third's %v (rel. %.1e)", c.name, tuu.Flat(), third.Flat(), e)
		}
	}
}

// On a tanh net 3 → 4 → 2 with biases and batch 5 (the last block's
// fan-in + 1: its per-sample route is exact; the first block's takes the
// dense route, solved outside the graph) InvHvThird equals InvHv and
// Third as above where it fuses them, U bit for bit, T to 1e-12 relative
// (roundings of O(1) sums over the batch, scaled differently); where it
// does not, Note says why and the results are those calls'. The B-pass
// after a fused run at the same weights reuses the values it kept: bit
// for bit the full run's (the oracle: the same call after ForgetReuse),
// for fewer flops. Without a certificate the two products run apart.
func TestInvHvThirdNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 7))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 3, Layers: []nets.Layer{{Out: 4, Act: ops.TanhFunc{}, Bias: true}, {Out: 2, Act: ops.TanhFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.8, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	fused := 0
	for l := range p.Blocks() {
		b := p.Block(l)
		v := thirdRand(rng, b.Layout())
		opt := &hvp.Options{BestEffort: true}
		plain, err := b.InvHv(v, opt)
		if err != nil {
			t.Fatalf("block %d: %v", l, err)
		}
		res, tuu, err := b.InvHvThird(v, opt)
		if err != nil {
			t.Fatalf("block %d: %v", l, err)
		}
		third, err := b.Third(res.U, res.U)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-12
		if res.Note != "" { // unfused: the same calls
			tol = 0
			if !strings.Contains(res.Note, "T[u, u] by a run of its own: its route (dense) solves outside the graph") {
				t.Errorf("block %d (%v): note %q", l, res.Method, res.Note)
			}
		}
		if flatRelDiff(plain.U.Flat(), res.U.Flat()) != 0 || plain.Residual != res.Residual {
			t.Errorf("block %d (%v): u differs from InvHv's (residuals %g, %g)", l, res.Method, res.Residual, plain.Residual)
		}
		if e := flatRelDiff(tuu.Flat(), third.Flat()); e > tol || math.IsNaN(e) {
			t.Errorf("block %d (%v): T differs from Third's by %.1e", l, res.Method, e)
		}
		if res.Note != "" {
			continue
		}
		fused++
		w := thirdRand(rng, b.Layout())
		if _, _, err := b.InvHvThird(v, opt); err != nil { // the reuse now from a fused run
			t.Fatal(err)
		}
		reused, err := b.InvHv(w, opt)
		if err != nil {
			t.Fatal(err)
		}
		p.ForgetReuse()
		full, err := b.InvHv(w, opt)
		if err != nil {
			t.Fatal(err)
		}
		if flatRelDiff(reused.U.Flat(), full.U.Flat()) != 0 || reused.Residual != full.Residual || !(reused.Flops < full.Flops) {
			t.Errorf("block %d: the B-pass after InvHvThird: residual %g, flops %g; full run's %g, %g", l, reused.Residual, reused.Flops, full.Residual, full.Flops)
		}
		res, _, err = b.InvHvThird(v, &hvp.Options{NoCertificate: true, BestEffort: true})
		if err != nil || !strings.Contains(res.Note, "T[u, u] by a run of its own: no certificate asked for") {
			t.Errorf("block %d without a certificate: %v, note %q", l, err, res.Note)
		}
	}
	if fused == 0 {
		t.Fatal("no block fused its products: nothing compared")
	}
}
