package main

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
)

// TestEveryRowPasses runs every row of `go run ./bench/gorgonia-models`
// (issue 21: each construct of Gorgonia's example programs, in our own
// models, float64 and float32): accepted, Hv against central differences
// of G.Grad, the conditions, InvHv per block, one step of each optimizer
// by the TapeMachine's loss. It fails on any row that fails any check.
func TestEveryRowPasses(t *testing.T) {
	rows := 0
	for _, s := range specs {
		for _, dt := range s.dtypes {
			rows++
			r := check(s, dt, 1)
			if len(r.fails) > 0 {
				t.Errorf("%s/%v fails:\n  %s", s.name, dt, strings.Join(r.lines, "\n  "))
			}
		}
	}
	if rows < 16 {
		t.Fatalf("%d rows, want the 16 of issue 21's table", rows)
	}
}

// TestCheckHvCatchesAWrongProduct: the Hv check fails when the oracle's
// gradient is off by 1% (its differences then differ from Hv by 1% at every
// r, ratio ≈ 1), so a passing row means something.
func TestCheckHvCatchesAWrongProduct(t *testing.T) {
	r, p, tp, w0 := setUp(t, "mlp")
	v := params.New(p.Layout())
	for i := range v.Flat() {
		v.Flat()[i] = math.Sin(float64(i))
	}
	v.Divide(v.Norm())
	wrong := func(w []float64) ([]float64, error) {
		_, g, err := tp.run(w, true)
		for i := range g {
			g[i] *= 1.01
		}
		return g, err
	}
	checkHv(r, p, wrong, w0, v, tols[f64])
	if len(r.fails) == 0 {
		t.Fatalf("a 1%% wrong gradient passed the Hv check:\n%s", strings.Join(r.lines, "\n"))
	}
}

// TestRunAllPrintsEveryRow runs the command's loop on one row and checks
// the summary names it.
func TestRunAllPrintsEveryRow(t *testing.T) {
	var out strings.Builder
	rows := runAll(&out, regexp.MustCompile("^logreg/float64$"), 1)
	printSummary(&out, rows)
	if len(rows) != 1 || !strings.Contains(out.String(), "logreg/float64") {
		t.Fatalf("rows %d, output:\n%s", len(rows), out.String())
	}
}

// setUp builds spec name's twin in float64 with its problem and tape.
func setUp(t *testing.T, name string) (*row, *hvp.Problem, *tape, []float64) {
	t.Helper()
	for _, s := range specs {
		if s.name != name {
			continue
		}
		// m names the dtype and user nodes for checkInv; p, tp, w0 are setUp's twin.
		m, err := s.build(newBuilder(f64, 1, false))
		if err != nil {
			t.Fatal(err)
		}
		tp, err := newTape(m, true)
		if err != nil {
			t.Fatal(err)
		}
		w0, err := tp.current()
		if err != nil {
			t.Fatal(err)
		}
		p, err := hvp.New(m.cost, m.weights...)
		if err != nil {
			t.Fatal(err)
		}
		return &row{ratio: math.NaN()}, p, tp, w0
	}
	t.Fatalf("no spec %s", name)
	return nil, nil, nil, nil
}

// TestGradientOracleReportsGorgoniasDefect: when G.Grad is wrong (here its
// nodes replaced by 2·G.Grad), the check says so as Gorgonia's defect and
// differences newtonia's gradient instead, which it has checked.
func TestGradientOracleReportsGorgoniasDefect(t *testing.T) {
	r, p, tp, w0 := setUp(t, "logreg")
	for k, g := range tp.grads {
		two := G.NewConstant(2.0)
		d, err := G.Mul(two, g)
		if err != nil {
			t.Fatal(err)
		}
		tp.grads[k] = d
	}
	oracle := gradientOracle(r, tp.m, tp, p, w0, tols[f64])
	out := strings.Join(r.lines, "\n")
	if oracle == nil || len(r.fails) > 0 || !strings.Contains(out, "Gorgonia's defect") ||
		!strings.Contains(out, "Hv oracle: central differences of newtonia's gradient") {
		t.Fatalf("oracle %v, fails %v:\n%s", oracle != nil, r.fails, out)
	}
}

// TestInvHvCheckRunsEachBlockAtW0: on the LSTM (and the tied autoencoder,
// block bh), every exact block's InvHv passes its residual by
// Richardson-extrapolated central differences (tolerance invTol, 1e-3 in
// float64: the residual measured is ≤ 1.2e-8 on every block). It failed,
// 1.3 on Wx, constant in r, when a block's InvHv ran at the weights the
// previous block's differences left behind, w0 − (r/2)·û, and not at w0.
func TestInvHvCheckRunsEachBlockAtW0(t *testing.T) {
	for _, name := range []string{"lstm", "autoenc-tied"} {
		var s spec
		for _, c := range specs {
			if c.name == name {
				s = c
			}
		}
		// m names the dtype and user nodes for checkInv; p, tp, w0 are setUp's twin.
		m, err := s.build(newBuilder(f64, 1, false))
		if err != nil {
			t.Fatal(err)
		}
		r, p, tp, w0 := setUp(t, name)
		oracle := func(w []float64) ([]float64, error) { _, g, err := tp.run(w, true); return g, err }
		v := params.New(p.Layout())
		for i := range v.Flat() {
			v.Flat()[i] = math.Sin(float64(i) + 1)
		}
		v.Divide(v.Norm())
		checkInv(r, s, m, p, oracle, w0, v, 1e-2, tols[f64])
		if r.exact < 2 || slices.Contains(r.tags, "InvHv FD") {
			t.Errorf("%s: %d exact blocks, InvHv's FD check:\n  %s", name, r.exact, strings.Join(r.lines, "\n  "))
		}
	}
}
