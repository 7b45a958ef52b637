package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// influence on the shipped example's weights with 40 random training rows
// and 10 test rows. The scores' sum is −∇ℓ_testᵀ H_ll⁻¹ Σ_i ∇ℓ_i =
// −∇ℓ_testᵀ H_ll⁻¹ ∇ℓ_train (the per-row gradients sum to the training
// gradient): checked against an LU solve of the dense block of exact R-pass
// columns (reference.DenseBlock) on the training rows, 1e-9 of the terms'
// scale (both solves backward stable, rounding ε·cond(H_ll) well below).
func TestInfluenceCommand(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	write := func(name string, r, c int) string {
		path := filepath.Join(dir, name)
		if err := nets.WriteNpy(path, nets.Randn(rng, r, c, 0), false); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tx, ty, sx, sy := write("tx.npy", 40, 6), write("ty.npy", 40, 6), write("sx.npy", 10, 6), write("sy.npy", 10, 6)
	out := filepath.Join(dir, "scores.npy")
	code, stdout, stderr := runCmd(t, "influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-out", out, "-json", example)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep influenceReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Block != "W3" || rep.Train != 40 || len(rep.Helpful) != 5 {
		t.Fatalf("%v: %s", err, stdout)
	}
	scores, err := nets.ReadNpy(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range scores.Float64s() {
		sum += v
	}
	// The oracle.
	net, err := nets.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	p0, err := newProducts(net)
	if err != nil {
		t.Fatal(err)
	}
	w, err := p0.Current()
	if err != nil {
		t.Fatal(err)
	}
	grad := func(xp, yp string) (*nets.Loaded, []float64) {
		x, _ := nets.ReadNpy(xp)
		y, _ := nets.ReadNpy(yp)
		spec := net.Spec
		spec.Batch = x.Shape()[0]
		m, err := nets.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Set(x, y, w.Tensors()); err != nil {
			t.Fatal(err)
		}
		p, err := newProducts(&nets.Loaded{MLP: m})
		if err != nil {
			t.Fatal(err)
		}
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		return &nets.Loaded{MLP: m}, g.Block(p.Blocks() - 1).Clone().Flat()
	}
	trainNet, gTrain := grad(tx, ty)
	_, gTest := grad(sx, sy)
	pt, err := newProducts(trainNet)
	if err != nil {
		t.Fatal(err)
	}
	h, err := reference.DenseBlock(pt, pt.Blocks()-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(gTest)
	var u mat.VecDense
	if err := u.SolveVec(h, mat.NewVecDense(n, gTest)); err != nil {
		t.Fatal(err)
	}
	want := -mat.Dot(&u, mat.NewVecDense(n, gTrain))
	if scale := math.Abs(want) + maxAbsOf(scores.Float64s()); math.Abs(sum-want) > 1e-9*scale {
		t.Errorf("Σ scores = %.15g, −∇ℓ_testᵀ H⁻¹ ∇ℓ_train = %.15g", sum, want)
	}
	// The three methods as columns: exact as above; CG and LiSSA within
	// their residuals r of it — ‖u − H⁻¹v‖ ≤ r‖v‖/λ_min(H_ll) (λ_min from
	// the dense block), so |Σ_i I_i − want| ≤ ‖∇ℓ_train‖·r‖v‖/λ_min.
	out3 := filepath.Join(dir, "three.npy")
	code, stdout, stderr = runCmd(t, "influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-out", out3,
		"-method", "exact,cg,lissa", "-lissa-iters", "300", "-json", example)
	var rep3 influenceReport
	if code != exitOK || json.Unmarshal([]byte(stdout), &rep3) != nil || len(rep3.Methods) != 3 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	three, err := nets.ReadNpy(out3)
	if err != nil || three.Shape()[0] != 40 || three.Shape()[1] != 3 {
		t.Fatalf("%v %v", err, three.Shape())
	}
	var eig mat.EigenSym
	if !eig.Factorize(symOf(h), false) {
		t.Fatal("eigendecomposition failed")
	}
	lmin := eig.Values(nil)[0]
	for c, m := range rep3.Methods {
		s := 0.0
		for i := range 40 {
			s += three.Float64s()[3*i+c]
		}
		bound := floats.Norm(gTrain, 2) * m.Residual * floats.Norm(gTest, 2) / lmin
		if math.Abs(s-want) > bound+1e-9*(math.Abs(want)+maxAbsOf(scores.Float64s())) {
			t.Errorf("%s: Σ scores = %.15g, want %.15g (bound %.2g; %s)", m.Method, s, want, bound, m.Inverse)
		}
	}
	// Refusals: a missing flag, a bad block (usage, 2); rows of the wrong
	// width, an existing -out (input, 1).
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, example}, exitUsage, "-test-y is required"},
		{[]string{"influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-block", "7", example}, exitUsage, "-block 7"},
		{[]string{"influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-method", "exact,newton", example}, exitUsage, "newton"},
		{[]string{"influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-method", "cg,cg", example}, exitUsage, "twice"},
		{[]string{"influence", "-train-x", write("bad.npy", 40, 5), "-train-y", ty, "-test-x", sx, "-test-y", sy, "-out", filepath.Join(dir, "x.npy"), example}, exitError, "training rows"},
		{[]string{"influence", "-train-x", tx, "-train-y", ty, "-test-x", sx, "-test-y", sy, "-out", out, example}, exitError, "exists"},
	} {
		code, _, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args[1:], code, stderr, c.code, c.msg)
		}
	}
}

func maxAbsOf(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// symOf returns the symmetric part of a square matrix.
func symOf(a mat.Matrix) *mat.SymDense {
	n, _ := a.Dims()
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	return s
}
