package reference

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// randSym returns a random symmetric n×n matrix, well conditioned
// (n·I added).
func randSym(n int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	h := mat.NewDense(n, n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			x := rng.NormFloat64()
			h.Set(i, j, x)
			h.Set(j, i, x)
		}
		h.Set(i, i, h.At(i, i)+float64(n))
	}
	return h
}

// A solve over its time cap is refused before it starts, with the
// estimate (issue 19 item 4: the dense solve was not bounded at all).
func TestMinNormSolveWithinRefuses(t *testing.T) {
	h := randSym(400, 1)
	busyCalls := 0
	t0 := time.Now()
	_, err := MinNormSolveWithin(h, make([]float64, 400), "test solve", &Limits{MaxTime: time.Millisecond, Busy: func(_, _ time.Duration) { busyCalls++ }})
	var le *errs.LimitError
	if !errors.As(err, &le) || le.Reached || le.Resource != "time" || !(le.Estimate > le.Limit) || le.What != "test solve" {
		t.Fatalf("want a time LimitError before starting, got %v", err)
	}
	if busyCalls != 0 {
		t.Errorf("Busy called %d times: the solve started", busyCalls)
	}
	t.Logf("refused in %v: %v", time.Since(t0), err)
	// Memory: 4·8·n² bytes.
	if _, err := MinNormSolveWithin(h, make([]float64, 400), "test solve", &Limits{MaxBytes: 4*8*400*400 - 1}); !errors.As(err, &le) || le.Resource != "memory" {
		t.Errorf("want a memory LimitError, got %v", err)
	}
}

// Under the caps it is MinNormSolve, and Busy reports while it runs.
func TestMinNormSolveWithinRuns(t *testing.T) {
	defer func(d time.Duration) { busyEvery = d }(busyEvery)
	busyEvery = time.Millisecond
	h := randSym(300, 2)
	v := mat.Col(nil, 0, h)
	calls := 0
	got, err := MinNormSolveWithin(h, v, "test solve", &Limits{Busy: func(el, est time.Duration) {
		calls++
		if est <= 0 {
			t.Errorf("Busy with estimate %v", est)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := MinNormSolve(h, v)
	if err != nil {
		t.Fatal(err)
	}
	// The same computation: bit for bit.
	if !floats.Equal(got.U, want.U) {
		t.Error("MinNormSolveWithin differs from MinNormSolve")
	}
	if calls == 0 {
		t.Error("Busy never called during a solve of about 100 ms at a 1 ms interval")
	}
}

// SolveTime is an upper bound of the solve's time, not a wild one: the
// oracle is the timed solve. An eighth of the measured rate is the margin
// built in; a loaded machine (two cores shared) can slow the timed solve
// more than the probe, so the test allows the solve twice the estimate,
// and the estimate 40 times the solve (five times the margin, as before
// the margin went from 4 to 8).
func TestSolveTimeBoundsTheSolve(t *testing.T) {
	for _, n := range []int{256, 400} {
		h := randSym(n, uint64(n))
		est := SolveTime(n)
		t0 := time.Now()
		if _, err := MinNormSolve(h, make([]float64, n)); err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		t.Logf("n = %d: estimate %v, took %v", n, est, took)
		if took > 2*est || est > 40*took {
			t.Errorf("n = %d: estimate %v for a solve of %v", n, est, took)
		}
	}
}
