package solver_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// layerInputs returns each layer's input h_{l−1} (bias-free nets), from the
// bound values with plain gonum arithmetic.
func layerInputs(t *testing.T, m *nets.MLP) []*mat.Dense {
	t.Helper()
	dense := func(v any) *mat.Dense {
		d := v.(*tensor.Dense)
		s := d.Shape()
		return mat.NewDense(s[0], s[1], append([]float64(nil), d.Float64s()...))
	}
	hs := []*mat.Dense{dense(m.X.Value())}
	for k, w := range m.Weights {
		var net mat.Dense
		net.Mul(hs[k], dense(w.Value()))
		net.Apply(func(_, _ int, x float64) float64 { y, _ := m.Acts[k].Deriv(0, x); return y }, &net)
		hs = append(hs, &net)
	}
	return hs[:len(m.Weights)]
}

// dampedSystem returns block l's H_ll (closed form) and h̃ᵀh̃ ⊗ I at the
// bound values, h the layer's input.
func dampedSystem(t *testing.T, m *nets.MLP, l int, h *mat.Dense) (hb, d *mat.Dense) {
	t.Helper()
	hb, err := m.BlockHessian(l)
	if err != nil {
		t.Fatal(err)
	}
	var gram mat.Dense
	gram.Mul(h.T(), h)
	n := m.Weights[l].Shape()[1]
	eye := mat.NewDiagDense(n, nil)
	for i := range n {
		eye.SetDiag(i, 1)
	}
	d = &mat.Dense{}
	d.Kronecker(&gram, eye)
	return hb, d
}

// dampedStep returns u = (H_ll + λ·D)⁻¹ g_l by a dense LU solve, and the
// system's condition number.
func dampedStep(t *testing.T, hb, d *mat.Dense, lambda float64, g *params.Vector) (*params.Vector, float64) {
	t.Helper()
	var k mat.Dense
	k.Scale(lambda, d)
	k.Add(&k, hb)
	return testnet.Solve(t, &k, g), testnet.Cond(&k)
}

// NewtonDetail.Damping is the λ the taken step was computed with, not the
// next step's (issue 19 item 14), and each BlockStep.Damping the λ_l of its
// block: every block of the candidate taken moved by exactly
// −(H_ll + λ_l·h̃ᵀh̃ ⊗ I)⁻¹ g_l with that λ_l, solved densely from the
// closed-form H_ll, over several steps of the adaptive schedule.
func TestStepRecordDampingIsTheOneUsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 50))
	m, p := testnet.Square(t, rng, 2, 3)
	n := newOpt(t, "newton", p, &solver.DampedNewtonSettings{LMDamping: 0.1})
	changed := false
	for step := range 4 {
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		hs := layerInputs(t, m)
		hb, dd := make([]*mat.Dense, len(hs)), make([]*mat.Dense, len(hs))
		for l := range hs { // at the weights before the step
			hb[l], dd[l] = dampedSystem(t, m, l, hs[l])
		}
		before := weights(m)
		_, rec, err := newtonStep(n)
		if err != nil {
			t.Fatal(err)
		}
		after := weights(m)
		var blocks []int
		switch {
		case rec.Combined == "sum":
			blocks = []int{0, 1}
		case strings.HasPrefix(rec.Combined, "block "):
			l, err := strconv.Atoi(strings.TrimPrefix(rec.Combined, "block "))
			if err != nil {
				t.Fatal(err)
			}
			blocks = []int{l}
		default:
			t.Fatalf("step %d: %q taken, want a damped candidate", step, rec.Combined)
		}
		largest := 0.0
		for _, l := range blocks {
			lambda := rec.Blocks[l].Damping
			largest = math.Max(largest, lambda)
			if len(blocks) == 1 && lambda != rec.Damping {
				t.Errorf("step %d: NewtonDetail.Damping %g, block %d's %g", step, rec.Damping, l, lambda)
			}
			want, cond := dampedStep(t, hb[l], dd[l], lambda, g.Block(l))
			got := make([]float64, 9)
			for i := range got {
				got[i] = before[l].Float64s()[i] - after[l].Float64s()[i]
			}
			// The damped B-pass against a dense LU solve: 100·ε·cond, as for InvHv.
			if e, tol := flatRelDiff(got, want.Flat()), 100*testnet.Eps*cond; e > tol {
				t.Errorf("step %d (%s), block %d: step vs the dense solve with λ %g: %.2e > %.2e", step, rec.Combined, l, lambda, e, tol)
			}
		}
		if rec.Damping != largest {
			t.Errorf("step %d: NewtonDetail.Damping %g, want the largest block λ %g", step, rec.Damping, largest)
		}
		if step > 0 && rec.Damping != 0.1 {
			changed = true
		}
	}
	if !changed {
		t.Error("λ never adapted: the test checks nothing")
	}
}
