package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	"gorgonia.org/tensor"
)

// documented reports whether err is one of the typed errors the API
// documents for bad input or a violated condition: it matches a sentinel
// of package errs, and not ErrInternal (a recovered panic).
func documented(err error) bool {
	s := errs.Sentinel(err)
	return s != nil && s != errs.ErrInternal
}

// FuzzNets draws a leaky-ReLU MLP (depth 1–4, widths and batch 1–9, slope
// 0–1 including 0 and 1, weights scaled from 1e-4 to 1e4, sometimes a plain
// ReLU layer) and, for every block, a random direction and the gradient.
// The property, for InvHv (exact only) and exact-else-CG: either a certified
// result whose residual is within the tolerance, or a documented typed
// error. Never a panic, never an uncertified result without best effort.
func FuzzNets(f *testing.F) {
	f.Add(uint64(1), uint8(2), uint8(3), uint8(3), uint8(3), uint8(3), uint8(128), int8(0), false)  // square
	f.Add(uint64(2), uint8(3), uint8(5), uint8(8), uint8(8), uint8(8), uint8(128), int8(0), false)  // batch < fan-in
	f.Add(uint64(3), uint8(3), uint8(8), uint8(4), uint8(6), uint8(8), uint8(128), int8(0), false)  // widening
	f.Add(uint64(4), uint8(2), uint8(9), uint8(3), uint8(3), uint8(3), uint8(0), int8(0), false)    // slope 0, batch > fan-in
	f.Add(uint64(5), uint8(3), uint8(4), uint8(8), uint8(6), uint8(4), uint8(255), int8(4), true)   // shrinking, ReLU, big weights
	f.Add(uint64(6), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(200), int8(-4), false) // 1×1, tiny weights
	f.Fuzz(func(t *testing.T, seed uint64, depth, batch, in, w1, w2, slope uint8, logScale int8, relu bool) {
		d := 1 + int(depth)%4
		b, n0 := 1+int(batch)%9, 1+int(in)%9
		widths := []int{1 + int(w1)%9, 1 + int(w2)%9, 1 + int(w1^w2)%9, 1 + int(w1+w2)%9}[:d]
		alpha := float64(slope) / 255
		scale := math.Pow(10, float64(max(-4, min(4, int(logScale)))))
		var layers []nets.Layer
		for k, w := range widths {
			var act ops.ScalarFunc = ops.LeakyReLUFunc{Alpha: alpha}
			if relu && k == 0 {
				act = ops.ReLUFunc{}
			}
			layers = append(layers, nets.Layer{Out: w, Act: act})
		}
		m, err := nets.NewMLP(b, n0, layers)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		if err := m.Randomize(rng, scale/math.Sqrt(float64(n0)), 0); err != nil {
			t.Fatal(err)
		}
		p, err := hvp.New(m.Loss, m.Weights...)
		if err != nil {
			t.Fatal(err)
		}
		_, g, err := p.Gradient()
		if err != nil {
			if !documented(err) {
				t.Fatalf("gradient: undocumented error %v", err)
			}
			return
		}
		if _, err := p.Hv(g); err != nil && !documented(err) {
			t.Fatalf("Hv: undocumented error %v", err)
		}
		for l, w := range m.Weights {
			s := w.Shape()
			for _, v := range []*tensor.Dense{g[l], nets.Randn(rng, s[0], s[1], 0)} {
				for _, fallback := range []bool{false, true} {
					res, err := p.InvHv(l, []*tensor.Dense{v}, nil)
					if fallback {
						res, err = solver.InvHv(p, l, []*tensor.Dense{v}, nil, &solver.CGOptions{Tol: 1e-8})
					}
					if err != nil {
						if !documented(err) {
							t.Fatalf("block %d: undocumented error %v (%T)", l, err, err)
						}
						continue
					}
					ok := res.Certified && (res.Residual <= hvp.DefaultTol ||
						res.Kind == hvp.KindPseudoInverse && res.NormalResidual <= hvp.DefaultTol ||
						res.Kind == hvp.KindCG)
					if !ok {
						t.Fatalf("block %d: uncertified or out-of-tolerance result returned: kind %v, certified %v, residual %.3g",
							l, res.Kind, res.Certified, res.Residual)
					}
					if !allFinite(res.U[0]) {
						t.Fatalf("block %d: non-finite result", l)
					}
				}
			}
		}
	})
}

func allFinite(t *tensor.Dense) bool {
	for _, x := range t.Float64s() {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
