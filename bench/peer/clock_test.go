package main

import (
	"testing"
	"time"
)

// The cpu clock counts work, not waiting: across a 100 ms sleep it moves by
// far less than the wall clock (bound 50 ms: a sleeping process uses no
// CPU; the margin covers the runtime's own threads), and busy work moves it
// (by 25 ms within 2 s of busy looping: on a shared machine the loop may
// get only part of a core, but not less than 1/80 of it). An unknown name
// is an error.
func TestClocks(t *testing.T) {
	wall, err := clockOf("wall")
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := clockOf("cpu")
	if err != nil {
		t.Fatal(err)
	}
	w0, c0 := wall(), cpu()
	time.Sleep(100 * time.Millisecond)
	if dw, dc := wall()-w0, cpu()-c0; dw < 100*time.Millisecond || dc > 50*time.Millisecond {
		t.Errorf("across a 100 ms sleep: wall clock %v, cpu clock %v", dw, dc)
	}
	c0 = cpu()
	x := 1.0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond || cpu()-c0 < 25*time.Millisecond; {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("cpu clock moved %v in 2 s of busy work", cpu()-c0)
		}
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	if x == 0 {
		t.Log(x) // keep the loop's work
	}
	if _, err := clockOf("tsc"); err == nil {
		t.Error("-clock tsc accepted")
	}
}
