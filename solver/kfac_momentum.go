package solver

// K-FAC's momentum (Martens & Grosse 2015, §7; kfac-jax's
// "use_adaptive_momentum"): with KFACSettings.Momentum the update is
//
//	δ = α·d + β·δ₀,
//
// d the Kronecker-factored direction and δ₀ the previous step's update
// (w now − w before it), with α and β the minimum of the exact
// Gauss–Newton model over the plane they span,
//
//	M(α, β) = ⟨g, δ⟩ + ½⟨δ, (G + μI) δ⟩,
//
// μ the step guard's Tikhonov damping (kfacguard.go). With c_ij =
// ⟨v_i, G v_j⟩, n_ij = ⟨v_i, v_j⟩ and b_i = ⟨g, v_i⟩ for v = (d, δ₀) that
// is the 2×2 system (C + μN) x = −b, solved in closed form; at its
// minimum M = ½⟨b, x⟩ (kfac-jax's quadratic model is the same, its A =
// VᵀCV, D = VᵀV, b = Vᵀg for V = (d, δ₀); ρ here uses the damped model,
// as Martens & Grosse's). It needs G δ₀ at the new point and batch: one
// hvp.GGNv more per step (2B rows in Step.Cost). The plane degenerates
// when δ₀ is (nearly) parallel to d or the 2×2 matrix is not positive
// definite (G only semi-definite, μ = 0): the step is then the 1-D one,
// β = 0, and Note says why. The first step, and one after a step the
// guard rejected (no update), have no δ₀ and are 1-D too.

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/params"
)

// planeTol is the relative size of a 2×2 determinant below which the
// plane is taken as degenerate: 1 − cos²θ between its vectors (or
// between their G + μI images) under 1e-10, where the solve would lose
// over ten digits.
const planeTol = 1e-10

// subspace is the damped Gauss–Newton model over the span of vs (d alone,
// or d and δ₀): b_i = ⟨g, v_i⟩, c_ij = ⟨v_i, G v_j⟩ (symmetrised),
// n_ij = ⟨v_i, v_j⟩.
type subspace struct {
	vs   []*params.Vector
	b    []float64
	c, n [][]float64
}

// line is the 1-D model along d: b = ⟨g, d⟩, c = ⟨d, G d⟩.
func line(d *params.Vector, gd, curv float64) *subspace {
	dn := d.Dot(d)
	return &subspace{vs: []*params.Vector{d}, b: []float64{gd}, c: [][]float64{{curv}}, n: [][]float64{{dn}}}
}

// plane returns the model over d and prev from the line's along d, the
// gradient g, gdd = G d and gp = G prev, or the line and why the plane
// degenerates (prev parallel to d).
func (s *subspace) plane(g, prev, gdd, gp *params.Vector) (*subspace, string) {
	d := s.vs[0]
	c01 := 0.5 * (prev.Dot(gdd) + d.Dot(gp)) // equal but for rounding: G is symmetric
	n00, n01, n11 := s.n[0][0], d.Dot(prev), prev.Dot(prev)
	if !(n00*n11-n01*n01 > planeTol*n00*n11) {
		return s, fmt.Sprintf("momentum dropped: the previous update is parallel to the direction (cos² = %.3g)", n01*n01/(n00*n11))
	}
	return &subspace{
		vs: []*params.Vector{d, prev},
		b:  []float64{s.b[0], g.Dot(prev)},
		c:  [][]float64{{s.c[0][0], c01}, {c01, prev.Dot(gp)}},
		n:  [][]float64{{n00, n01}, {n01, n11}},
	}, ""
}

// solve returns the model's minimum x = −(C + μN)⁻¹b, or on a plane
// whose damped 2×2 matrix is not positive definite the line's minimum
// (x₁ = 0) and why.
func (s *subspace) solve(mu float64) ([]float64, string) {
	a00 := s.c[0][0] + mu*s.n[0][0]
	if len(s.vs) == 1 {
		return []float64{-s.b[0] / a00}, ""
	}
	a01, a11 := s.c[0][1]+mu*s.n[0][1], s.c[1][1]+mu*s.n[1][1]
	det := a00*a11 - a01*a01
	if !(a11 > 0 && det > planeTol*a00*a11) {
		return []float64{-s.b[0] / a00, 0}, fmt.Sprintf("momentum dropped: the model's 2×2 matrix is not positive definite "+
			"(⟨δ₀, (G + μI) δ₀⟩ = %.3g, determinant %.3g)", a11, det)
	}
	return []float64{(-s.b[0]*a11 + s.b[1]*a01) / det, (-s.b[1]*a00 + s.b[0]*a01) / det}, ""
}

// model returns M(x) = ⟨b, x⟩ + ½xᵀ(C + μN)x.
func (s *subspace) model(x []float64, mu float64) float64 {
	m := 0.0
	for i := range x {
		m += s.b[i] * x[i]
		for j := range x {
			m += 0.5 * x[i] * x[j] * (s.c[i][j] + mu*s.n[i][j])
		}
	}
	return m
}

// norm returns ‖Σ x_i v_i‖ from N.
func (s *subspace) norm(x []float64) float64 {
	q := 0.0
	for i := range x {
		for j := range x {
			q += x[i] * x[j] * s.n[i][j]
		}
	}
	return math.Sqrt(math.Max(q, 0))
}

// update returns Σ x_i v_i.
func (s *subspace) update(x []float64) *params.Vector {
	u := params.New(s.vs[0].Layout())
	for i, v := range s.vs {
		u.AddScaled(x[i], v)
	}
	return u
}

// curvature returns ⟨d, G d⟩/‖d‖², G's own curvature along d, where the
// guard's μ starts when raised from 0.
func (s *subspace) curvature() float64 { return s.c[0][0] / s.n[0][0] }
