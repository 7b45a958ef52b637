package main

import (
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The oracle against the graph, two independent implementations of the
// same models: at random weights the hand-written loss equals the net's
// (1e-12 relative: two summation orders of the same terms), and the
// oracle's leave-one-out optimum (its ‖g‖ ≤ 1e-9 certified by itself) is a
// stationary point of the net's loss on the other rows: the graph's block
// gradient there is below 1e-8 (the oracle's ‖g‖ plus rounding of n terms
// of size ~1).
func TestOracleAgainstGraph(t *testing.T) {
	for _, p := range []*problem{logistic(rand.New(rand.NewPCG(1, 1)), 40, 10, 4), lastLayer(rand.New(rand.NewPCG(2, 2)), 40, 10, 3, 5, 2)} {
		rng := rand.New(rand.NewPCG(3, 3))
		for i := range p.block() {
			p.block()[i] = 0.3 * rng.NormFloat64()
		}
		g, err := p.newGraph(40, p.x, p.y)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.hp.LossAt(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := p.train.loss(p.block()); math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s: graph loss %.15g, oracle %.15g", p.name, got, want)
		}
		const skip = 7
		wi, gn, _, err := p.train.fit(p.block(), skip, 1e-9)
		if err != nil || gn > 1e-9 {
			t.Fatalf("%s: %v, ‖g‖ %.3g", p.name, err, gn)
		}
		copy(p.block(), wi)
		in, out := p.in(), p.out()
		x := append(append([]float64(nil), p.x[:skip*in]...), p.x[(skip+1)*in:]...)
		y := append(append([]float64(nil), p.y[:skip*out]...), p.y[(skip+1)*out:]...)
		loo, err := p.newGraph(39, x, y)
		if err != nil {
			t.Fatal(err)
		}
		_, grad, err := loo.hp.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		if n := grad.Block(loo.last()).Norm(); n > 1e-8 {
			t.Errorf("%s: the graph's gradient at the oracle's leave-one-out optimum is %.3g", p.name, n)
		}
	}
}

// A tiny run of the main path writes the CSV (7 methods per problem) and
// the PNG; the exact method's residual is at rounding, CG to tolerance
// 1e-10 is within 1e-9 (its true residual may exceed the recurrence's
// tolerance by rounding), and every Pearson is a number.
func TestTinyRun(t *testing.T) {
	dir := t.TempDir()
	c := config{problems: []string{"logistic", "mlp"}, n: 60, nt: 20, d: 5, in: 3, hidden: 6, outDim: 2, minibatch: 30,
		lissaTol: 1e-6, lissaMax: 300, tol: 1e-9, seed: 1, out: dir}
	if err := run(c, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "influence.png")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "influence.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+2*7 {
		t.Fatalf("%v: %d rows", err, len(rows))
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range rows[1:] {
		res, pl := num(r[5]), num(r[6])
		if math.IsNaN(pl) || math.IsNaN(res) {
			t.Errorf("%v: NaN", r)
		}
		if r[1] == "exact" && res > 1e-10 {
			t.Errorf("%v: exact residual", r)
		}
		if r[2] == "tolerance 1e-10" && res > 1e-9 {
			t.Errorf("%v: CG residual", r)
		}
	}
	if err := run(config{problems: []string{"svm"}, n: 60, nt: 20, minibatch: 30, out: dir}, io.Discard); err == nil {
		t.Error("unknown problem accepted")
	}
}

// The spectral part runs on a small net and prints its three tables.
func TestSpectralTargets(t *testing.T) {
	var b strings.Builder
	if err := spectralTargets(&b, 4); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| H |", "| block W3+b3 |", "Hutch++ on H"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
