package hvp_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

// documented reports whether err is one of the typed errors the API
// documents for bad input or a violated condition: it matches a sentinel
// of package errs, and not ErrInternal (a recovered panic).
func documented(err error) bool {
	s := errs.Sentinel(err)
	return s != nil && s != errs.ErrInternal
}

// FuzzNets draws an MLP (depth 1–4, widths and batch 1–9; leaky ReLU of
// slope 0–1 including 0 and 1, tanh, sigmoid or softplus; sometimes a
// plain ReLU layer; with or without biases; half squared error, softmax or
// sigmoid cross-entropy; weights scaled from 1e-4 to 1e4) and, for every
// block, a random direction and the gradient. The property, for Hv, InvHv
// (undamped and damped) and exact-else-CG: either a certified result whose
// residual is within the tolerance, or a documented typed error. Never a
// panic, never an uncertified result without best effort.
func FuzzNets(f *testing.F) {
	f.Add(uint64(1), uint8(2), uint8(3), uint8(3), uint8(3), uint8(3), uint8(128), int8(0), false, uint8(0))    // square
	f.Add(uint64(2), uint8(3), uint8(5), uint8(8), uint8(8), uint8(8), uint8(128), int8(0), false, uint8(0))    // batch < fan-in
	f.Add(uint64(3), uint8(3), uint8(8), uint8(4), uint8(6), uint8(8), uint8(128), int8(0), false, uint8(0))    // widening
	f.Add(uint64(4), uint8(2), uint8(9), uint8(3), uint8(3), uint8(3), uint8(0), int8(0), false, uint8(0))      // slope 0, batch > fan-in
	f.Add(uint64(5), uint8(3), uint8(4), uint8(8), uint8(6), uint8(4), uint8(255), int8(4), true, uint8(0))     // shrinking, ReLU, big weights
	f.Add(uint64(6), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(200), int8(-4), false, uint8(0))   // 1×1, tiny weights
	f.Add(uint64(7), uint8(2), uint8(5), uint8(4), uint8(4), uint8(3), uint8(128), int8(0), false, uint8(0x15)) // tanh, biases, softmax CE
	f.Add(uint64(8), uint8(1), uint8(3), uint8(5), uint8(4), uint8(2), uint8(128), int8(1), false, uint8(0x26)) // sigmoid, sigmoid CE
	f.Fuzz(func(t *testing.T, seed uint64, depth, batch, in, w1, w2, slope uint8, logScale int8, relu bool, kind uint8) {
		d := 1 + int(depth)%4
		b, n0 := 1+int(batch)%9, 1+int(in)%9
		widths := []int{1 + int(w1)%9, 1 + int(w2)%9, 1 + int(w1^w2)%9, 1 + int(w1+w2)%9}[:d]
		alpha := float64(slope) / 255
		scale := math.Pow(10, float64(max(-4, min(4, int(logScale)))))
		acts := []ops.ScalarFunc{ops.LeakyReLUFunc{Alpha: alpha}, ops.TanhFunc{}, ops.SigmoidFunc{}, ops.SoftplusFunc{}}
		losses := []string{nets.HalfSquaredError, nets.SoftmaxCrossEntropy, nets.SigmoidCrossEntropy}
		spec := nets.Spec{Batch: b, In: n0, Loss: losses[int(kind>>4)%3]}
		for k, w := range widths {
			act := acts[int(kind)%4]
			if relu && k == 0 {
				act = ops.ReLUFunc{}
			}
			spec.Layers = append(spec.Layers, nets.Layer{Out: w, Act: act, Bias: kind&4 != 0})
		}
		m, err := nets.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		if err := m.Randomize(rng, scale/math.Sqrt(float64(n0)), 0); err != nil {
			t.Fatal(err)
		}
		p, err := hvp.New(m.Loss, m.Params()...)
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
		for l := range p.Blocks() {
			v := blockRand(rng, p, l)
			for _, dir := range []*params.Vector{g.Block(l), v} {
				for try := 0; try < 3; try++ {
					var res *hvp.Result
					var err error
					switch try {
					case 0:
						res, err = p.Block(l).InvHv(dir, nil)
					case 1:
						res, err = p.Block(l).InvHv(dir, &hvp.Options{Damping: 0.1})
					case 2:
						res, err = solver.InvHv(p, l, dir, nil, &solver.CGOptions{Tol: 1e-8})
					}
					if err != nil {
						if !documented(err) {
							t.Fatalf("block %d, try %d: undocumented error %v (%T)", l, try, err, err)
						}
						continue
					}
					ok := res.Certified && (res.Residual <= hvp.DefaultTol ||
						res.Kind == hvp.KindPseudoInverse && res.NormalResidual <= hvp.DefaultTol ||
						res.Method == hvp.MethodCG)
					if !ok {
						t.Fatalf("block %d, try %d: uncertified or out-of-tolerance result returned: kind %v, certified %v, residual %.3g",
							l, try, res.Kind, res.Certified, res.Residual)
					}
					if _, _, bad := res.U.FirstNonFinite(); bad {
						t.Fatalf("block %d, try %d: non-finite result", l, try)
					}
				}
			}
		}
	})
}

// FuzzGorgoniaNets builds models with Gorgonia's own API (random widths,
// activation, loss, dtype, a matrix × vector output) and checks what must
// hold on every one: New translates it, Hv is symmetric (⟨u, Hv⟩ = ⟨v, Hu⟩
// to 1e-9, 1e-5 after float32 rounding), Hv agrees with central
// differences of the gradient (float64, smooth activations: 1e-4 at
// r = 1e-4), and every inverse product either fails with a typed error or
// returns a result whose certificate holds (a residual, or for a
// pseudo-inverse a normal residual, within tolerance) — never a panic.
func FuzzGorgoniaNets(f *testing.F) {
	f.Add(uint64(1), uint8(5), uint8(4), uint8(5), uint8(3), uint8(0), uint8(0))
	f.Add(uint64(2), uint8(6), uint8(3), uint8(4), uint8(2), uint8(0x13), uint8(1))
	f.Add(uint64(3), uint8(4), uint8(2), uint8(7), uint8(1), uint8(0x22), uint8(2))
	f.Add(uint64(4), uint8(9), uint8(8), uint8(2), uint8(4), uint8(0x31), uint8(3))
	f.Fuzz(func(t *testing.T, seed uint64, batch, in, hidden, out, kind, flags uint8) {
		acts := []string{"tanh", "sigmoid", "relu", "leaky"}
		losses := []string{"mse", "ce", "ce, negated per row", "mse per row"}
		s := gspec{
			batch: 1 + int(batch)%9,
			sizes: []int{1 + int(in)%8, 1 + int(hidden)%8, 1 + int(out)%4},
			act:   acts[int(kind)%4],
			loss:  losses[int(kind>>4)%4],
		}
		if flags&2 != 0 && s.loss == "mse" {
			s.matvec, s.sizes[2] = true, 1
		}
		if s.loss != "mse" && s.loss != "mse per row" && s.sizes[2] < 2 {
			s.sizes[2] = 2
		}
		dt := tensor.Float64
		if flags&1 != 0 {
			dt = tensor.Float32
		}
		n := s.build(t, dt, seed)
		p, err := hvp.New(n.loss, n.weights...)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		rng := rand.New(rand.NewPCG(seed, 5))
		u, v := randomLike(rng, p), randomLike(rng, p)
		hu, err := p.Hv(u)
		if err != nil {
			t.Fatal(err)
		}
		hv, err := p.Hv(v)
		if err != nil {
			t.Fatal(err)
		}
		a, b := floats.Dot(u.Flat(), hv.Flat()), floats.Dot(v.Flat(), hu.Flat())
		tol := 1e-9
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		if scale := u.Norm() * hv.Norm(); math.Abs(a-b) > tol*scale+1e-300 {
			t.Fatalf("%+v: ⟨u, Hv⟩ = %v, ⟨v, Hu⟩ = %v", s, a, b)
		}
		if dt == tensor.Float64 && (s.act == "tanh" || s.act == "sigmoid") {
			fd, err := reference.HvFD(p, v, 1e-4)
			if err != nil {
				t.Fatal(err)
			}
			if d := flatRelDiff(fd.Flat(), hv.Flat()); d > 1e-4 && hv.Norm() > 1e-8 {
				t.Fatalf("%+v: Hv differs from FD by %.3g", s, d)
			}
		}
		res, err := p.InvHvAll(v, &hvp.Options{Damping: 1e-2})
		if err != nil {
			if !documented(err) {
				t.Fatalf("%+v: undocumented error: %v", s, err)
			}
			return
		}
		for l, r := range res {
			ok := r.Residual <= hvp.DefaultTol || (r.Kind == hvp.KindPseudoInverse && r.NormalResidual <= hvp.DefaultTol)
			if r.Certified && !ok {
				t.Fatalf("block %d (%v) certified with residual %v, normal residual %v", l, r.Kind, r.Residual, r.NormalResidual)
			}
		}
	})
}
