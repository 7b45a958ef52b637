package solver_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// quadratic is the damped Gauss–Newton model q(x) = ⟨g, Vx⟩ + ½⟨Vx, H Vx⟩
// over the columns of V, H = G + μI from the dense GGN.
type quadratic struct {
	g    []float64
	h    *mat.Dense
	v    []*params.Vector
	vhv  *mat.Dense // VᵀHV
	vtg  []float64  // Vᵀg
	flat [][]float64
}

func newQuadratic(g []float64, dense *mat.Dense, mu float64, v ...*params.Vector) *quadratic {
	n := len(g)
	h := mat.DenseCopyOf(dense)
	for i := range n {
		h.Set(i, i, h.At(i, i)+mu)
	}
	q := &quadratic{g: g, h: h, v: v, vhv: mat.NewDense(len(v), len(v), nil)}
	for _, vi := range v {
		q.flat = append(q.flat, vi.Flat())
		q.vtg = append(q.vtg, floats.Dot(g, vi.Flat()))
	}
	for i := range v {
		hv := mat.NewVecDense(n, nil)
		hv.MulVec(h, mat.NewVecDense(n, q.flat[i]))
		for j := range v {
			q.vhv.Set(j, i, floats.Dot(q.flat[j], hv.RawVector().Data))
		}
	}
	return q
}

// at returns q(x), with the n-dimensional product H·(Vx) formed densely.
func (q *quadratic) at(x []float64) float64 {
	u := make([]float64, len(q.g))
	for i := range x {
		floats.AddScaled(u, x[i], q.flat[i])
	}
	hu := mat.NewVecDense(len(u), nil)
	hu.MulVec(q.h, mat.NewVecDense(len(u), u))
	return floats.Dot(q.g, u) + 0.5*floats.Dot(u, hu.RawVector().Data)
}

// gridMin minimises q by brute force: a 21×21 grid around x0, its best
// point the centre of a grid a quarter as wide, 40 times.
func (q *quadratic) gridMin(x0 []float64) []float64 {
	best := append([]float64(nil), x0...)
	width := []float64{2 * math.Abs(x0[0]), 2 * math.Abs(x0[1])}
	for range 40 {
		c := append([]float64(nil), best...)
		fb := q.at(best)
		for i := -10; i <= 10; i++ {
			for j := -10; j <= 10; j++ {
				x := []float64{c[0] + width[0]*float64(i)/10, c[1] + width[1]*float64(j)/10}
				if f := q.at(x); f < fb {
					best, fb = x, f
				}
			}
		}
		width[0], width[1] = width[0]/4, width[1]/4
	}
	return best
}

// The momentum step's (α, β) is the minimum of the damped Gauss–Newton
// quadratic over the plane of the direction d and the previous update δ₀,
// that quadratic built here from the dense GGN (columns of GGNv(e_i)) and
// the guard's μ: against the dense 2×2 solve and a brute-force grid
// minimisation; its record's Model is the quadratic's value there, no
// more than the 1-D step's; and the step's cost counts the second GGNv.
// d is found independently as in TestKFACAmortisedEveryStepIsDirectSolve
// (Refresh = 1, no memory: the Kronecker product LU-solved). Steps 1–3 of
// three seeds: seed 1's step 2 has μ > 0 (required below, so that μ's
// part of the model is checked too).
func TestKFACMomentumMinimisesThePlaneModel(t *testing.T) {
	damped0 := 0
	for seed := uint64(1); seed <= 3; seed++ {
		_, p := kfacNet(t, seed)
		const lambda = 0.1
		k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: lambda, Decay: 1e-300, Refresh: 1, Momentum: true})
		if err != nil {
			t.Fatal(err)
		}
		w0, _ := p.Current()
		rec0, det0, err := kfacNext(k)
		if err != nil {
			t.Fatal(err)
		}
		if det0.Momentum != 0 || !(rec0.StepSize > 0) {
			t.Fatalf("seed %d: the first step has no previous update, yet β = %g (α %g)", seed, det0.Momentum, rec0.StepSize)
		}
		// Cost (hvp's convention, B = 12): Kronecker B, a GGNv 2B, a loss
		// ⌈B/2⌉ per trial; the steps after the first a second GGNv.
		const B = 12
		if want := int64(B + 2*B + B/2*(1+det0.Backtracks)); rec0.Cost != want {
			t.Errorf("seed %d: the first step cost %d rows, want %d", seed, rec0.Cost, want)
		}
		for step := 1; step <= 3; step++ {
			w1, _ := p.Current()
			prev := w1.Clone()
			prev.AddScaled(-1, w0)
			w0 = w1

			kf, err := p.Kronecker()
			if err != nil {
				t.Fatal(err)
			}
			var as, ds []*mat.Dense
			for _, f := range kf.Factors {
				as, ds = append(as, damped(f.A, lambda)), append(ds, damped(f.DD, lambda))
			}
			d := params.FromFlat(p.Layout(), kroneckerDirection(t, p, kf.Grad, as, ds))
			dense := denseGGN(t, p)

			rec, det, err := kfacNext(k)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(det.Note, "momentum dropped") || det.Momentum == 0 {
				t.Fatalf("seed %d, step %d: no momentum (β = %g): %s", seed, step, det.Momentum, det.Note)
			}
			if det.Damping > 0 {
				damped0++
			}
			got := []float64{rec.StepSize, det.Momentum}
			q := newQuadratic(kf.Grad.Flat(), dense, det.Damping, d, prev)
			var sol mat.VecDense
			if err := sol.SolveVec(q.vhv, mat.NewVecDense(2, q.vtg)); err != nil {
				t.Fatal(err)
			}
			want := []float64{-sol.AtVec(0), -sol.AtVec(1)}
			grid := q.gridMin(want)
			// 2×2 systems from products of condition ≲ 1e4 (the GGN's
			// columns against GGNv of d and δ₀, the Kronecker direction
			// LU-solved): 1e-8 (measured ≤ 3e-15); the grid's last cell is
			// 4⁻⁴⁰ of its first, so it agrees to the quadratic's flatness,
			// ~√ε relative: 1e-6 (measured ≤ 1e-8).
			if e := flatRelDiff(got, want); !(e < 1e-8) {
				t.Errorf("seed %d, step %d: (α, β) = %v, the dense 2×2 solve %v (rel. diff %.3g)", seed, step, got, want, e)
			}
			if e := flatRelDiff(got, grid); !(e < 1e-6) {
				t.Errorf("seed %d, step %d: (α, β) = %v, the grid's minimum %v (rel. diff %.3g)", seed, step, got, grid, e)
			}
			// The update taken is α·d + β·δ₀: 1e-9 (d's LU solve, as above).
			w2, _ := p.Current()
			upd := w2.Flat()
			floats.Sub(upd, w1.Flat())
			u := make([]float64, len(upd))
			floats.AddScaled(u, got[0], d.Flat())
			floats.AddScaled(u, got[1], prev.Flat())
			if e := flatRelDiff(upd, u); !(e < 1e-9) {
				t.Errorf("seed %d, step %d: the update differs from α·d + β·δ₀ by %.3g", seed, step, e)
			}
			// The predicted change: the quadratic's value at (α, β) (1e-8,
			// as the solve), below the 1-D step's minimum along d.
			m := q.at(got)
			line := -q.vtg[0] * q.vtg[0] / (2 * q.vhv.At(0, 0))
			if math.Abs(det.Model-m) > 1e-8*math.Abs(m) || !(m < line) {
				t.Errorf("seed %d, step %d: Model %.10g, the dense quadratic %.10g, the 1-D minimum %.10g", seed, step, det.Model, m, line)
			}
			if rho := (rec.LossAfter - rec.LossBefore) / det.Model; math.Abs(rho-det.Rho) > 1e-12 {
				t.Errorf("seed %d, step %d: ρ %g, want %g", seed, step, det.Rho, rho)
			}
			if want := int64(B + 4*B + B/2*(1+det.Backtracks)); rec.Cost != want {
				t.Errorf("seed %d, step %d: cost %d rows, want %d", seed, step, rec.Cost, want)
			}
		}
	}
	if damped0 == 0 {
		t.Error("no step had the guard's μ > 0: μ's part of the model went unchecked")
	}
}

// A single weight: δ₀ is always parallel to d, the plane degenerates, and
// the step is the 1-D one (β = 0, the same α as without momentum), Note
// saying why.
func TestKFACMomentumParallelIsTheLine(t *testing.T) {
	steps := func(momentum bool) ([]float64, string) {
		p := scalarProblem(t)
		k, err := solver.NewKFAC(p, &solver.KFACSettings{Momentum: momentum})
		if err != nil {
			t.Fatal(err)
		}
		var alphas []float64
		note := ""
		for range 3 {
			rec, det, err := kfacNext(k)
			if err != nil {
				t.Fatal(err)
			}
			if det.Momentum != 0 {
				t.Fatalf("β = %g on a single weight", det.Momentum)
			}
			alphas, note = append(alphas, rec.StepSize), det.Note
		}
		return alphas, note
	}
	with, note := steps(true)
	without, _ := steps(false)
	if !strings.Contains(note, "momentum dropped: the previous update is parallel") {
		t.Errorf("note %q", note)
	}
	// The same computation in both: bit for bit.
	if !floats.Equal(with, without) {
		t.Errorf("α with momentum %v, without %v", with, without)
	}
}

// scalarProblem is a net of one weight, x·w with a half squared error
// over 4 samples.
func scalarProblem(t *testing.T) *hvp.Problem {
	t.Helper()
	m, err := nets.Build(nets.Spec{Batch: 4, In: 1, Loss: nets.HalfSquaredError, Layers: []nets.Layer{{Out: 1, Act: ops.IdentityFunc{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(5, 9)), 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
