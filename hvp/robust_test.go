package hvp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A loss linear in a weight (⟨W1, C⟩ plus a least-squares term in W2)
// has a zero Hessian block. Its Hv is a real zero (the R-pass gave no node
// and Hv died with "internal panic: nil pointer dereference", then a panic
// in Gorgonia's VM goroutine crashed the process); its InvHv is a typed
// error; the other block is unaffected.
func TestLinearLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 50))
	g := G.NewGraph()
	mk := func(name string, r, c int) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(nets.Randn(rng, r, c, 1)))
	}
	w1, c, x, w2, y := mk("W1", 3, 3), mk("C", 3, 3), mk("x", 3, 3), mk("W2", 3, 3), mk("y", 3, 3)
	lin, err := ops.Inner(w1, c)
	if err != nil {
		t.Fatal(err)
	}
	xw, err := ops.MatMul(x, w2)
	if err != nil {
		t.Fatal(err)
	}
	sq, err := ops.HalfSSE(xw, y)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ops.Add(lin, sq)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, w1, w2)
	if err != nil {
		t.Fatal(err)
	}
	v := like(t, p.Layout(), nets.Randn(rng, 3, 3, 0), nets.Randn(rng, 3, 3, 0))
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	if hv.Block(0).Norm() != 0 {
		t.Errorf("H_11 v = %v, want 0", hv.Weight(0))
	}
	// H_22 v = xᵀ x v, exactly (to rounding).
	if e := flatRelDiff(hv.Weight(1), xtxv(x.Value().(*tensor.Dense), v.Weight(1))); e > 1e-14 {
		t.Errorf("H_22 v: rel. error %.2e", e)
	}
	if _, err := p.Block(0).InvHv(v.Block(0), nil); !errors.Is(err, errs.ErrNoInverse) {
		t.Errorf("InvHv of the zero block: %v, want ErrNoInverse", err)
	}
	res, err := p.Block(1).InvHv(v.Block(1), nil)
	if err != nil || res.Residual > 1e-12 {
		t.Errorf("InvHv of the quadratic block: %v, %v", res, err)
	}
}

// xtxv returns xᵀ x v (v: n×n, row-major).
func xtxv(x *tensor.Dense, vs []float64) []float64 {
	n := x.Shape()[0]
	xs := x.Float64s()
	xv := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				xv[i*n+j] += xs[i*n+k] * vs[k*n+j]
			}
		}
	}
	out := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				out[i*n+j] += xs[k*n+i] * xv[k*n+j]
			}
		}
	}
	return out
}

// One Products used from many goroutines at once (it raced and crashed
// with an index out of range in the tape): every product, including the
// first use of each block (built lazily, under the lock), gives exactly
// the result of a sequential run. CI runs this with -race.
func TestConcurrentUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	m, p := testnet.Square(t, rng, 3, 5)
	v := testnet.RandLike(rng, m)
	_, q := testnet.Square(t, rand.New(rand.NewPCG(51, 51)), 3, 5) // the same net, used sequentially
	type result struct {
		name string
		vals []float64
	}
	products := func(p *hvp.Problem) []func() (result, error) {
		return []func() (result, error){
			func() (result, error) { _, g, err := p.Gradient(); return result{"gradient", g.Flat()}, err },
			func() (result, error) { hv, err := p.Hv(v); return result{"Hv", hv.Flat()}, err },
			func() (result, error) {
				r, err := p.InvHvAll(v, nil)
				if err != nil {
					return result{}, err
				}
				return result{"InvHvAll", append(append(append([]float64(nil), r[0].U.Flat()...), r[1].U.Flat()...), r[2].U.Flat()...)}, nil
			},
			func() (result, error) {
				r, err := p.Block(1).InvHv(v.Block(1), nil)
				return result{"InvHv 1", resU(r)}, err
			},
			func() (result, error) {
				r, err := p.Block(2).InvHv(v.Block(2), nil)
				return result{"InvHv 2", resU(r)}, err
			},
			func() (result, error) {
				w, err := p.Block(0).FunctionalInverse(v.Block(0))
				return result{"G⁻¹", flat(w)}, err
			},
			func() (result, error) {
				c := p.Conditions()
				return result{"conditions", []float64{float64(c[0].Steps)}}, nil
			},
			func() (result, error) { l, err := p.LossAt(v); return result{"loss", []float64{l}}, err },
		}
	}
	var want []result
	for _, f := range products(q) {
		r, err := f()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	fs := products(p)
	var wg sync.WaitGroup
	fails := make(chan string, 1000)
	for rep := 0; rep < 8; rep++ {
		for i, f := range fs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := f()
				switch {
				case err != nil:
					fails <- fmt.Sprintf("%s: %v", want[i].name, err)
				case fmt.Sprint(r.vals) != fmt.Sprint(want[i].vals):
					fails <- fmt.Sprintf("%s differs from the sequential run", r.name)
				}
			}()
		}
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
}

func resU(r *hvp.Result) []float64 {
	if r == nil {
		return nil
	}
	return r.U.Flat()
}

func flat(v *params.Vector) []float64 {
	if v == nil {
		return nil
	}
	return v.Flat()
}

// A zero direction and a zero gradient are legitimate: Hv = 0, InvHv = 0
// with residual 0, certified; directions near the ends of the float64
// range give the scaled products (the products are linear in v, computed
// for v/‖v‖; they overflowed to "not finite" or aborted).
func TestExtremeDirections(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 52))
	m, p := testnet.Square(t, rng, 2, 4)
	v := testnet.RandLike(rng, m)
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := p.InvHvAll(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0, 1e300, 1e-300, 1e-310} {
		vs := v.Clone()
		vs.Scale(s)
		hs, err := p.Hv(vs)
		if err != nil {
			t.Fatalf("scale %g: Hv: %v", s, err)
		}
		us, err := p.InvHvAll(vs, nil)
		if err != nil {
			t.Fatalf("scale %g: InvHvAll: %v", s, err)
		}
		for k := range p.Blocks() {
			// Computed on v/‖v‖ and scaled: s·(result for v) to rounding;
			// at 1e-310 (subnormal) the results keep about 13 digits.
			tol := 1e-14
			if s < 1e-300 {
				tol = 1e-11
			}
			if s == 0 {
				if hs.Block(k).Norm() != 0 || us[k].U.Norm() != 0 || us[k].Residual != 0 || !us[k].Certified {
					t.Errorf("v = 0, block %d: Hv norm %g, u norm %g, residual %g, certified %v", k, hs.Block(k).Norm(), us[k].U.Norm(), us[k].Residual, us[k].Certified)
				}
				continue
			}
			if e := relScaled(hs.Block(k), hv.Block(k), s); e > tol {
				t.Errorf("scale %g block %d: Hv rel. error %.2e", s, k, e)
			}
			if e := relScaled(us[k].U, inv[k].U, s); e > tol || !us[k].Certified {
				t.Errorf("scale %g block %d: InvHv rel. error %.2e, certified %v", s, k, e, us[k].Certified)
			}
		}
	}
}

// Deep in the subnormal range (‖v‖ ≈ 1e-320) a result keeps about three
// digits: it is certified from what is returned, so it is refused, never
// returned as if exact.
func TestSubnormalDirection(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 52))
	m, p := testnet.Square(t, rng, 2, 4)
	v := testnet.RandLike(rng, m)
	d := v.Block(0).Clone()
	for i := range d.Flat() {
		d.Flat()[i] *= 1e-320
	}
	_, err := p.Block(0).InvHv(d, nil)
	if !errors.Is(err, errs.ErrCondition) {
		t.Errorf("InvHv at 1e-320: %v, want a residual above tolerance", err)
	}
	_ = m
}

// relScaled returns ‖got − s·want‖ / ‖s·want‖ computed without overflow.
func relScaled(got, want *params.Vector, s float64) float64 {
	g := append([]float64(nil), got.Flat()...)
	for i := range g {
		g[i] /= s
	}
	return flatRelDiff(g, want.Flat())
}

// A zero gradient (targets equal to the outputs: an exact fit) is a
// legitimate point: every product runs.
func TestZeroGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 53))
	m, p := testnet.Square(t, rng, 2, 3)
	// y := h_L, so that the loss and its gradient vanish.
	vals, err := outputs(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := G.Let(m.Y, vals); err != nil {
		t.Fatal(err)
	}
	loss, g, err := p.Gradient()
	if err != nil || loss != 0 || g.Norm() != 0 {
		t.Fatalf("loss %g, ‖g‖ %g, %v", loss, g.Norm(), err)
	}
	res, err := p.InvHvAll(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range res {
		if r.U.Norm() != 0 || !r.Certified {
			t.Errorf("block %d: %+v", k, r)
		}
	}
	if hv, err := p.Hv(g); err != nil || hv.Norm() != 0 {
		t.Errorf("Hv(0): %v", err)
	}
}

// outputs returns h_L of m at its current values.
func outputs(m *nets.MLP) (*tensor.Dense, error) {
	vals, err := graph.Compile("outputs", []*G.Node{m.Out}).Run(nil)
	if err != nil {
		return nil, err
	}
	return vals[m.Out].(*tensor.Dense), nil
}

// Every error of the public API matches exactly one sentinel of package
// errs (hvp.New's were *graph.ShapeError or plain strings, HvFD's r = −1
// a plain error).
func TestEverySentinel(t *testing.T) {
	rng := rand.New(rand.NewPCG(54, 54))
	m, p := testnet.Square(t, rng, 2, 3)
	v := testnet.RandLike(rng, m)
	nan := v.Block(0).Clone()
	nan.Flat()[0] = math.NaN()
	vnan := v.Clone()
	vnan.Flat()[0] = math.NaN()
	twice := usedTwice(t)
	_, wide := testnet.MLP(t, rng, 5, 3, []int{3}, testnet.Leaky())
	g := G.NewGraph()
	f32 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("w32"))
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"New: matrix loss", second(hvp.New(m.Out, m.Weights...)), errs.ErrShape},
		{"New: weight twice", second(hvp.New(m.Loss, m.Weights[0], m.Weights[0])), errs.ErrShape},
		{"New: not an input", second(hvp.New(m.Loss, m.Out)), errs.ErrShape},
		{"New: nil weight", second(hvp.New(m.Loss, nil)), errs.ErrShape},
		{"New: float32 weight", second(hvp.New(m.Loss, f32)), errs.ErrShape},
		{"New: no weights", second(hvp.New(m.Loss)), errs.ErrArgument},
		{"Hv: count", second(p.Hv(v.Block(0))), errs.ErrShape},
		{"Hv: NaN", second(p.Hv(vnan)), errs.ErrNotFinite},
		{"Block.Hv: whole vector", second(p.Block(1).Hv(v)), errs.ErrShape},
		{"DenseBlock: block", second(reference.DenseBlock(p, 7, nil)), errs.ErrArgument},
		{"InvHv: shape", second(p.Block(0).InvHv(vec(t, nets.Randn(rng, 2, 3, 0)), nil)), errs.ErrShape},
		{"InvHv: nil", second(p.Block(0).InvHv(nil, nil)), errs.ErrShape},
		{"InvHv: tolerance", second(p.Block(0).InvHv(v.Block(0), &hvp.Options{Tol: -1})), errs.ErrArgument},
		{"InvHv: condition limit", second(p.Block(0).InvHv(v.Block(0), &hvp.Options{MaxCond: 1.01})), errs.ErrCondition},
		{"InvHv: a weight used twice, its dense route above Options.MaxFlops", second(twice.Block(0).InvHv(v.Block(0), &hvp.Options{MaxFlops: 1})), errs.ErrLimit},
		{"InvHv: batch > fan-in, its dense route above Options.MaxBytes", second(wide.Block(0).InvHv(v.Block(0), &hvp.Options{MaxBytes: 1})), errs.ErrLimit},
		{"At: weights", second(p.At(v.Block(0))), errs.ErrShape},
		{"FunctionalInverse: NaN", second(p.Block(0).FunctionalInverse(nan)), errs.ErrNotFinite},
		{"InverseSteps: block", second(p.InverseSteps(-1)), errs.ErrArgument},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		n := 0
		for _, s := range []error{errs.ErrShape, errs.ErrArgument, errs.ErrNotFinite, errs.ErrNoRule, errs.ErrNoInverse, errs.ErrCondition, errs.ErrLimit, errs.ErrInternal} {
			if errors.Is(c.err, s) {
				n++
			}
		}
		if !errors.Is(c.err, c.want) || n != 1 {
			t.Errorf("%s: %v matches %d sentinels, want only %v", c.name, c.err, n, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// usedTwice returns the products of ½‖x W W − y‖²: W is used twice, so
// neither route inverts it.
func usedTwice(t *testing.T) *hvp.Problem {
	rng := rand.New(rand.NewPCG(56, 56))
	g := G.NewGraph()
	mk := func(name string) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName(name), G.WithValue(nets.Randn(rng, 3, 3, 1)))
	}
	x, w, y := mk("x"), mk("W"), mk("y")
	xw, err := ops.MatMul(x, w)
	if err != nil {
		t.Fatal(err)
	}
	xww, err := ops.MatMul(xw, w)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ops.HalfSSE(xww, y)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deep returns a net of the given depth, width 2, batch 2.
func deep(t testing.TB, depth int) *nets.MLP {
	t.Helper()
	layers := make([]nets.Layer, depth)
	for i := range layers {
		layers[i] = nets.Layer{Out: 2, Act: ops.LeakyReLUFunc{Alpha: 0.5}}
	}
	m, err := nets.NewMLP(2, 2, layers)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(55, 55)), 0.02, 1); err != nil { // W ≈ I: a deep product stays well conditioned
		t.Fatal(err)
	}
	return m
}

// A 1000-layer net builds and runs (hvp.New was quadratic: 200 layers of
// width 2 took 178 s, 1000 never finished). Timing is for
// BenchmarkNewDepth; this checks the products on such a net.
func TestDeepNet(t *testing.T) {
	m := deep(t, 1000)
	p, err := hvp.New(m.Loss, m.Weights...)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Hv(g); err != nil {
		t.Fatal(err)
	}
	res, err := p.Block(999).InvHv(g.Block(999), nil)
	if err != nil || !res.Certified {
		t.Fatalf("last block: %+v, %v", res, err)
	}
}

// BenchmarkNewDepth times hvp.New (gradient and R-pass) and the first
// gradient on width-2 nets of growing depth: time per layer should not
// grow with depth.
//
//	go test -run '^$' -bench NewDepth ./hvp
func BenchmarkNewDepth(b *testing.B) {
	for _, depth := range []int{100, 200, 400, 800, 1600} {
		b.Run(fmt.Sprintf("layers=%d", depth), func(b *testing.B) {
			for b.Loop() {
				m := deep(b, depth)
				p, err := hvp.New(m.Loss, m.Weights...)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(depth), "µs/layer")
		})
	}
}
