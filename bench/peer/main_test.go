package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
)

// The Python process's environment: every BLAS thread variable set once, to
// the count asked, whatever the parent had; the rest kept in order; the
// parent's slice untouched.
func TestChildEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "OPENBLAS_NUM_THREADS=8", "HOME=/root", "OMP_NUM_THREADS=4",
		"OPENBLAS_NUM_THREADS=16", "MKL_NUM_THREADSX=keep", "LANG=C"}
	saved := slices.Clone(base)
	env := childEnv(base, 3)
	if !slices.Equal(base, saved) {
		t.Fatalf("base modified: %q", base)
	}
	count := map[string]int{}
	var others []string
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(blasThreadVars, name) {
			count[name]++
			if value != "3" {
				t.Errorf("%s = %q, want 3", name, value)
			}
			continue
		}
		others = append(others, kv)
	}
	for _, v := range blasThreadVars {
		if count[v] != 1 {
			t.Errorf("%s set %d times, want once", v, count[v])
		}
	}
	if want := []string{"PATH=/usr/bin", "HOME=/root", "MKL_NUM_THREADSX=keep", "LANG=C"}; !slices.Equal(others, want) {
		t.Errorf("other entries %q, want %q", others, want)
	}
	// The list is the script's: a variable pinned on one side only would
	// let the other side's setting (or the library's default) through.
	script, err := os.ReadFile("torch_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	want := `BLAS_THREAD_VARS = ("` + strings.Join(blasThreadVars, `", "`) + `")`
	if !strings.Contains(string(script), want) {
		t.Errorf("torch_peer.py does not define %s", want)
	}
}

// PyTorch's run, on a tiny net, is pinned to the threads asked even when the
// parent's environment says otherwise: torch's count, the variables and, on
// OpenBLAS, the library's own pool (which torch.set_num_threads alone
// leaves at one thread per core). Needs Debian's python3-torch; skipped
// without it and with -short.
func TestTorchRunPinned(t *testing.T) {
	const python = "/usr/bin/python3"
	if testing.Short() {
		t.Skip("-short: no Python")
	}
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("%s has no torch and numpy (apt-get install python3-torch python3-numpy): %v", python, err)
	}
	for _, v := range blasThreadVars {
		t.Setenv(v, "2") // what the child must not inherit
	}
	dir := t.TempDir()
	m, err := nets.NewMLP(4, 4, []nets.Layer{{Out: 4, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 2)), 0.5, 1); err != nil {
		t.Fatal(err)
	}
	path, err := nets.Save(filepath.Join(dir, "net"), m, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := runTorch(python, "torch_peer.py", []string{"--net", path, "--out", filepath.Join(dir, "torch"),
		"--reps", "1", "--cg-seconds", "1"}, 1)
	if err != nil {
		t.Fatal(err) // runTorch checks the counts against 1
	}
	t.Log(tt.pinned())
	if tt.Threads != 1 {
		t.Errorf("torch.get_num_threads() = %d", tt.Threads)
	}
	if tt.BLASLibrary != nil && strings.Contains(*tt.BLASLibrary, "openblas") && (tt.BLASThreads == nil || *tt.BLASThreads != 1) {
		t.Errorf("OpenBLAS loaded (%s) but its thread count is %s, want 1", *tt.BLASLibrary, show(tt.BLASThreads))
	}
}
