package hvp

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The push-through form and the dense LU of the penalized block agree
// with a solve of the block built independently, entry by entry from its
// definition H = Aᵀ D A + diag(c), A = h̃ ⊗ I_n (a Bn × kn matrix formed
// explicitly), D = blockdiag(M_i) indefinite with one singular M_i, and
// a bias row whose constant differs (0, as weight decay leaves a bias):
// the (B, k, n) of method.md §11. Tolerance 1e-10: each is a backward
// stable LU solve of a matrix of condition ≤ 1e4 here (ε·cond ≈ 1e-12),
// and the forms share no code beyond reading the same M_i and h̃.
func TestPushThroughMatchesDense(t *testing.T) {
	for _, c := range []struct{ b, k, n int }{{3, 7, 4}, {8, 5, 3}, {5, 5, 2}, {2, 6, 3}} {
		rng := rand.New(rand.NewPCG(uint64(c.b*100+c.k*10+c.n), 5))
		s := &penSystem{b: c.b, k: c.k, n: c.n, rows: make([]float64, c.b*c.k), c: make([]float64, c.k)}
		for i := range s.rows {
			s.rows[i] = rng.NormFloat64()
		}
		for a := range s.c {
			s.c[a] = 0.3
		}
		s.c[c.k-1] = 0 // the bias row: no decay
		for i := range c.b {
			q := mat.NewDense(c.n, c.n, nil)
			for j := range c.n * c.n {
				q.RawMatrix().Data[j] = rng.NormFloat64()
			}
			var m mat.Dense
			m.Mul(q, q.T())
			for a := range c.n { // indefinite: shift below 0
				m.Set(a, a, m.At(a, a)-float64(c.n)/2)
			}
			if i == 0 { // singular M_0
				m.Zero()
			}
			s.m = append(s.m, append([]float64(nil), m.RawMatrix().Data...))
		}
		// The oracle: A and D formed, H = AᵀDA + diag(c).
		bn, kn := c.b*c.n, c.k*c.n
		a := mat.NewDense(bn, kn, nil)
		d := mat.NewDense(bn, bn, nil)
		for i := range c.b {
			for j := range c.n {
				for r := range c.k {
					a.Set(i*c.n+j, r*c.n+j, s.rows[i*c.k+r])
				}
				for l := range c.n {
					d.Set(i*c.n+j, i*c.n+l, s.m[i][j*c.n+l])
				}
			}
		}
		var da, h mat.Dense
		da.Mul(d, a)
		h.Mul(a.T(), &da)
		for r := range c.k {
			for j := range c.n {
				h.Set(r*c.n+j, r*c.n+j, h.At(r*c.n+j, r*c.n+j)+s.c[r])
			}
		}
		v := make([]float64, kn)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		var want mat.VecDense
		if err := want.SolveVec(&h, mat.NewVecDense(kn, append([]float64(nil), v...))); err != nil {
			t.Fatal(err)
		}
		if diff := flatRel(s.dense().RawMatrix().Data, h.RawMatrix().Data); diff > 1e-14 {
			t.Errorf("%v: dense block differs from AᵀDA + diag(c) by %.3g", c, diff)
		}
		ud, cd, err := s.solveDense(v)
		if err != nil {
			t.Fatal(err)
		}
		up, cp, err := s.solvePush(v)
		if err != nil {
			t.Fatal(err)
		}
		e1, e2, e3 := flatRel(ud, want.RawVector().Data), flatRel(up, want.RawVector().Data), flatRel(up, ud)
		t.Logf("(B, k, n) = %v: dense vs oracle %.2g, push-through vs oracle %.2g, push vs dense %.2g (cond %.2g, %.2g)", c, e1, e2, e3, cd, cp)
		if e1 > 1e-10 || e2 > 1e-10 || e3 > 1e-10 {
			t.Errorf("%v: dense %.3g, push-through %.3g from the oracle, %.3g apart; want ≤ 1e-10", c, e1, e2, e3)
		}
	}
}

func flatRel(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	if den == 0 {
		return num
	}
	return math.Sqrt(num / den)
}
