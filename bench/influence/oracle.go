package main

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// glm is the leave-one-out oracle, written by hand and independent of the
// graph, hvp and package influence: a generalised linear model in fixed
// features z_i (k per row, the last one the bias's 1) with weights W̃
// (k × m, row-major: the block's flat order, W then b),
//
//	logistic: ℓ_i = softplus(z_iᵀw) − y_i z_iᵀw                 (m = 1)
//	squares:  ℓ_i = ½‖W̃ᵀz_i − y_i‖²
//
// summed over the rows. Both have gradient Σ z_i r_iᵀ (r_i = σ(z_iᵀw) − y_i,
// or W̃ᵀz_i − y_i) and Hessian (Σ d_i z_i z_iᵀ) ⊗ I_m (d_i = σ(1 − σ), or 1).
type glm struct {
	z, y     []float64 // rows × k, rows × m
	k, m     int
	logistic bool
}

func (g *glm) rows() int { return len(g.z) / g.k }

// residual returns r_i (m values) and d_i of row i at w.
func (g *glm) residual(w []float64, i int, r []float64) (d float64) {
	zi := g.z[i*g.k : (i+1)*g.k]
	for o := range g.m {
		t := 0.0
		for a, za := range zi {
			t += za * w[a*g.m+o]
		}
		if g.logistic {
			s := 1 / (1 + math.Exp(-t))
			r[o], d = s-g.y[i], s*(1-s)
		} else {
			r[o], d = t-g.y[i*g.m+o], 1
		}
	}
	return d
}

// loss returns the summed loss at w.
func (g *glm) loss(w []float64) float64 {
	sum := 0.0
	r := make([]float64, g.m)
	for i := range g.rows() {
		g.residual(w, i, r)
		if g.logistic {
			zi, t := g.z[i*g.k:(i+1)*g.k], 0.0
			for a, za := range zi {
				t += za * w[a]
			}
			sum += math.Max(t, 0) + math.Log1p(math.Exp(-math.Abs(t))) - g.y[i]*t
		} else {
			for _, v := range r {
				sum += v * v / 2
			}
		}
	}
	return sum
}

// fit minimises the loss over every row but skip (−1: none) by Newton's
// method with the exact Hessian from w0, until ‖g‖ ≤ tol (certified: the
// returned norm is the final gradient's). It fails after 50 steps.
func (g *glm) fit(w0 []float64, skip int, tol float64) (w []float64, gnorm float64, steps int, err error) {
	w = append([]float64(nil), w0...)
	k, m := g.k, g.m
	r := make([]float64, m)
	for steps = 0; ; steps++ {
		grad := mat.NewDense(k, m, nil)
		h := mat.NewSymDense(k, nil)
		hd := h.RawSymmetric().Data
		gd := grad.RawMatrix().Data
		for i := range g.rows() {
			if i == skip {
				continue
			}
			d := g.residual(w, i, r)
			zi := g.z[i*k : (i+1)*k]
			for a, za := range zi {
				for o, ro := range r {
					gd[a*m+o] += za * ro
				}
				row := hd[a*k : (a+1)*k]
				for b := a; b < k; b++ {
					row[b] += d * za * zi[b]
				}
			}
		}
		gnorm = mat.Norm(grad, 2)
		if gnorm <= tol {
			return w, gnorm, steps, nil
		}
		if steps == 50 {
			return nil, gnorm, steps, fmt.Errorf("leave-one-out oracle (row %d): Newton did not reach ‖g‖ ≤ %g in 50 steps (‖g‖ = %.3g)", skip, tol, gnorm)
		}
		var ch mat.Cholesky
		if !ch.Factorize(h) {
			return nil, gnorm, steps, fmt.Errorf("leave-one-out oracle (row %d): the Hessian is not positive definite", skip)
		}
		var step mat.Dense
		if err := ch.SolveTo(&step, grad); err != nil {
			return nil, gnorm, steps, fmt.Errorf("leave-one-out oracle (row %d): %w", skip, err)
		}
		for i, s := range step.RawMatrix().Data {
			w[i] -= s
		}
	}
}
