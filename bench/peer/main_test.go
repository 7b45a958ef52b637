package main

import (
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/internal/torchrun"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
)

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
	for _, v := range torchrun.VarNames {
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
	t.Log(tt.Pinned())
	if tt.Threads.Threads != 1 {
		t.Errorf("torch.get_num_threads() = %d", tt.Threads.Threads)
	}
	if tt.BLASLibrary != nil && strings.Contains(*tt.BLASLibrary, "openblas") && (tt.BLASThreads == nil || *tt.BLASThreads != 1) {
		t.Errorf("OpenBLAS loaded (%s) but its thread count is %s, want 1", *tt.BLASLibrary, torchrun.Show(tt.BLASThreads))
	}
}
