package solver

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// KFACWithoutFold leaves k's L2 penalties to the step length alone: the
// direction from the data term's factors, as before K-FAC folded them
// (the tests' comparison).
func KFACWithoutFold(k *KFAC) { k.noFold = true }

// foldBlock.solve against a dense LU solve of (K·Ã ⊗ D̃ + diag(c) ⊗ I)
// vec X = vec G (row-major vec, Ã and D̃ the Gram matrices damped by
// root·mean eigenvalue, formed densely): uniform c, one row off (the last,
// a bias's, at 0; a middle one above), and three values, which fold the
// mean c on every row and say so.
func TestFoldSolveMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gramOf := func(rows, n int) *mat.SymDense {
		x := mat.NewDense(rows, n, nil)
		for i := range rows {
			for j := range n {
				x.Set(i, j, rng.NormFloat64())
			}
		}
		var s mat.SymDense
		s.SymOuterK(1, x.T())
		return &s
	}
	const k, n, K, root = 5, 4, 3.7, 0.3
	a, dd := gramOf(3, k), gramOf(2, n) // rank-deficient: the damping and c keep the system definite
	damped := func(m *mat.SymDense) *mat.Dense {
		out := mat.DenseCopyOf(m)
		for i := range m.SymmetricDim() {
			out.Set(i, i, out.At(i, i)+root*mat.Trace(m)/float64(m.SymmetricDim()))
		}
		return out
	}
	for _, tc := range []struct {
		c    []float64
		mean bool
	}{
		{c: []float64{0.2, 0.2, 0.2, 0.2, 0.2}},
		{c: []float64{0.2, 0.2, 0.2, 0.2, 0}},
		{c: []float64{0.2, 0.9, 0.2, 0.2, 0.2}},
		{c: []float64{0.9, 0.2, 0.2, 0.2, 0.2}},
		{c: []float64{0.2, 0.9, 0.2, 0.2, 0}, mean: true},
		{c: []float64{0.2, 0.2, 0.2, 0, 0}, mean: true},
	} {
		fb := &foldBlock{c: tc.c}
		var err error
		if fb.v, fb.la, err = dampedEigen(a, root); err != nil {
			t.Fatal(err)
		}
		if fb.u, fb.ls, err = dampedEigen(dd, root); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, k*n)
		for i := range g {
			g[i] = rng.NormFloat64()
		}
		var x mat.Dense
		note, err := fb.solve(&x, mat.NewDense(k, n, append([]float64(nil), g...)), K)
		if err != nil {
			t.Fatal(err)
		}
		c := tc.c
		if tc.mean {
			c = make([]float64, k)
			floats.AddConst(floats.Sum(tc.c)/k, c)
		}
		var m mat.Dense
		m.Kronecker(damped(a), damped(dd))
		m.Scale(K, &m)
		for r := range k {
			for j := range n {
				m.Set(r*n+j, r*n+j, m.At(r*n+j, r*n+j)+c[r])
			}
		}
		var want mat.VecDense
		if err := want.SolveVec(&m, mat.NewVecDense(len(g), g)); err != nil {
			t.Fatal(err)
		}
		// A 20×20 system of condition ≲ 1e3: eigenbasis against LU, 1e-11.
		if diff := floats.Distance(x.RawMatrix().Data, want.RawVector().Data, 2) / floats.Norm(want.RawVector().Data, 2); !(diff < 1e-11) {
			t.Errorf("c %v: differs from the dense solve by %.3g", tc.c, diff)
		}
		if tc.mean != strings.Contains(note, "their mean") {
			t.Errorf("c %v: note %q", tc.c, note)
		}
	}
}
