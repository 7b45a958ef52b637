package main

import (
	"path/filepath"
	"syscall"
	"testing"
)

// The run's memory estimate bounds the measured peak (the oracle: the
// child's maximum resident set, which includes the Go runtime's own
// memory) on a net large enough for the run to dominate: 512-wide layers,
// batch 512.
func TestRunMemoryEstimate(t *testing.T) {
	spec, err := randomSpec("512,512,512", 0, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	cmd := command("products", "-out", filepath.Join(t.TempDir(), "out"), "-random", "512,512,512", "-dense-max", "0", "-cg-maxiter", "3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no resource usage here")
	}
	peak, est := float64(ru.Maxrss)*1024, runBytes(spec, 2) // Maxrss in kB on Linux
	t.Logf("peak %.3g B, estimate %.3g B", peak, est)
	if peak > est {
		t.Errorf("measured peak %.3g B above the estimate %.3g B", peak, est)
	}
}
