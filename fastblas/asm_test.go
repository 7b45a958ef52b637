package fastblas

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAssemblyUpToDate: the committed kernels_amd64.s is what
// internal/asmgen writes (go generate ./fastblas).
func TestAssemblyUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "kernels.s")
	cmd := exec.Command("go", "run", "./internal/asmgen", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asmgen: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("kernels_amd64.s differs from internal/asmgen's output: run go generate ./fastblas")
	}
}
