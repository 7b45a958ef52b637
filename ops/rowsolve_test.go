package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// RowSolveOp's solves against gonum's dense solve of each sample's
// symmetrised, damped M_i (an independent LU), within 1e3·ε·κ (the
// forward-error bound of a backward-stable solve, κ ≲ 10² here); and its
// Condition after a solve — served from the ranks the solve found — is that
// of a fresh factorisation: the same rank, gonum's condition estimate to
// 1e-6 relative (one algorithm on factors equal up to rounding). A column
// changed in place after the solve must not be served the solve's
// condition: sample 0's M_0 = I becomes diag(1, 1, 0) (rank 2, λ = 0).
func TestRowSolveCondition(t *testing.T) {
	const b, n = 5, 3
	rng := rand.New(rand.NewPCG(2, 9))
	m := make([]*mat.Dense, b) // sample i's M_i
	for i := range m {
		m[i] = mat.NewDense(n, n, nil)
		for a := range n {
			for c := range n {
				m[i].Set(a, c, rng.NormFloat64()/4)
			}
			m[i].Set(a, a, m[i].At(a, a)+2)
		}
	}
	m[0] = mat.NewDense(n, n, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1})
	cols := make([][]float64, n) // column j, row i: M_i[:, j]
	in := []G.Value{tensor.New(tensor.WithBacking([]float64{0}))}
	x := make([]float64, b*n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	in = append(in, tensor.New(tensor.WithShape(b, n), tensor.WithBacking(x)))
	for j := range cols {
		cols[j] = make([]float64, b*n)
		for i := range b {
			for a := range n {
				cols[j][i*n+a] = m[i].At(a, j)
			}
		}
		in = append(in, tensor.New(tensor.WithShape(b, n), tensor.WithBacking(cols[j])))
	}
	op := ops.RowSolveOp{N: n}
	y, err := op.Do(in...)
	if err != nil {
		t.Fatal(err)
	}
	got := y.Data().([]float64)
	worst := 1.0
	for i := range b {
		var s, want mat.Dense
		s.Add(m[i], m[i].T())
		s.Scale(0.5, &s)
		if err := want.Solve(&s, mat.NewDense(n, 1, x[i*n:(i+1)*n])); err != nil {
			t.Fatal(err)
		}
		var lu mat.LU
		lu.Factorize(&s)
		worst = math.Max(worst, lu.Cond())
		for a := range n {
			if w := want.At(a, 0); math.Abs(got[i*n+a]-w) > 1e3*0x1p-52*lu.Cond()*math.Max(1, math.Abs(w)) {
				t.Errorf("sample %d, entry %d: %v, dense solve %v", i, a, got[i*n+a], w)
			}
		}
	}
	mc, err := op.Condition(in)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Rank != n || mc.Samples != b || math.Abs(mc.Cond-worst) > 1e-6*worst {
		t.Errorf("condition after the solve: rank %d, %d samples, cond %v; want %d, %d, %v", mc.Rank, mc.Samples, mc.Cond, n, b, worst)
	}
	cols[2][2] = 0 // M_0[2][2]: M_0 = diag(1, 1, 0)
	if mc, err = op.Condition(in); err != nil {
		t.Fatal(err)
	}
	if mc.Rank != n-1 {
		t.Errorf("condition after M_0 changed in place: rank %d, want %d", mc.Rank, n-1)
	}
}

// The columns stacked two to an input (Chunk = 2, N = 5: inputs of 2, 2
// and 1 columns) against the same columns one to an input: the same
// matrices reach the same factorisation, so the solves agree exactly.
func TestRowSolveStacked(t *testing.T) {
	const b, n, c = 4, 5, 2
	rng := rand.New(rand.NewPCG(5, 2))
	rnd := func(k int) []float64 {
		d := make([]float64, k)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return d
	}
	val := func(rows int, d []float64) G.Value {
		return tensor.New(tensor.WithShape(rows, n), tensor.WithBacking(d))
	}
	lambda := tensor.New(tensor.WithBacking([]float64{0.5}))
	x := val(b, rnd(b*n))
	cols := make([][]float64, n)
	one := []G.Value{lambda, x}
	for j := range cols {
		cols[j] = rnd(b * n)
		one = append(one, val(b, cols[j]))
	}
	stacked := []G.Value{lambda, x}
	for j0 := 0; j0 < n; j0 += c {
		var d []float64
		for j := j0; j < min(j0+c, n); j++ {
			d = append(d, cols[j]...)
		}
		stacked = append(stacked, val(len(d)/n, d))
	}
	want, err := ops.RowSolveOp{N: n}.Do(one...)
	if err != nil {
		t.Fatal(err)
	}
	op := ops.RowSolveOp{N: n, Chunk: c}
	if op.Arity() != len(stacked) {
		t.Fatalf("arity %d, want %d", op.Arity(), len(stacked))
	}
	got, err := op.Do(stacked...)
	if err != nil {
		t.Fatal(err)
	}
	g, w := got.Data().([]float64), want.Data().([]float64)
	for i := range w {
		if g[i] != w[i] {
			t.Fatalf("entry %d: stacked %v, one a column %v", i, g[i], w[i])
		}
	}
	if _, err := op.Do(stacked[:len(stacked)-1]...); err == nil {
		t.Fatal("a missing column input accepted")
	}
}
