package main

import (
	"io"
	"os/exec"
	"runtime"
	"testing"

	"github.com/newtonia/newtonia/internal/mnistdata"
)

// Both sides compute the same thing: PyTorch's gradient at the initial
// weights and its weights after a short pass of Adam (4 steps of 128 on
// 512 images) agree with newtonia's. Tolerances: the gradient is the same
// float64 arithmetic summed in another order (a few ulps relative:
// 1e-13); Adam divides by √v̂ + ε, which amplifies the gradient's rounding
// early on (v̂ ≈ g²), but four steps of lr 1e-3 move the weights by
// ~4e-3 of their norm, so even a large relative change of the update is
// small beside the weights: 1e-11. A wrong net, loss, data order or
// update differs by ≥ 1e-4. Needs Debian's python3-torch and the MNIST
// data; skipped without them and with -short.
func TestBothSidesAgree(t *testing.T) {
	const python = "/usr/bin/python3"
	if testing.Short() {
		t.Skip("-short: no Python")
	}
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("%s has no torch and numpy (apt-get install python3-torch python3-numpy): %v", python, err)
	}
	if _, err := mnistdata.Find(""); err != nil {
		t.Skip(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	c := config{batch: 128, hidden: 64, slope: 0.01, lr: 1e-3, seed: 1, reps: 1, inner: 1, warmup: 1, torchWarmup: 0, threads: 1, trainN: 512,
		out: t.TempDir(), python: python}
	agree, err := run(c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !(agree.grad <= 1e-13) || !(agree.after <= 1e-11) {
		t.Errorf("relative differences: gradient %.3g (want ≤ 1e-13), weights after the pass %.3g (want ≤ 1e-11)", agree.grad, agree.after)
	}
}

// bestMedian: the smallest value and the middle one (the mean of the two
// middle ones for an even count), whatever the order.
func TestBestMedian(t *testing.T) {
	for _, c := range []struct {
		ts           []float64
		best, median float64
	}{{[]float64{3, 1, 2}, 1, 2}, {[]float64{4, 1, 3, 2}, 1, 2.5}, {[]float64{5}, 5, 5}} {
		if b, m := bestMedian(c.ts); b != c.best || m != c.median {
			t.Errorf("bestMedian(%v) = %v, %v; want %v, %v", c.ts, b, m, c.best, c.median)
		}
	}
}

// warmUp returns after a garbage-collection cycle: with a function that
// allocates, the count of cycles has grown; it stops at an error.
func TestWarmUp(t *testing.T) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0, calls := ms.NumGC, 0
	sink := [][]float64{}
	if err := warmUp(func() error { calls++; sink = append(sink[:0], make([]float64, 1<<16)); return nil }, 1000); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC == gc0 && calls < 1000 {
		t.Errorf("returned after %d calls with no GC cycle", calls)
	}
	errStop := io.ErrUnexpectedEOF
	calls = 0
	if err := warmUp(func() error { calls++; return errStop }, 1000); err != errStop || calls != 1 {
		t.Errorf("an error: %v after %d calls", err, calls)
	}
}
