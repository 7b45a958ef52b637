package torchrun

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The Python process's environment: every BLAS thread variable set once, to
// the count asked, whatever the parent had; the rest kept in order; the
// parent's slice untouched.
func TestChildEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "OPENBLAS_NUM_THREADS=8", "HOME=/root", "OMP_NUM_THREADS=4",
		"OPENBLAS_NUM_THREADS=16", "MKL_NUM_THREADSX=keep", "LANG=C"}
	saved := slices.Clone(base)
	env := ChildEnv(base, 3)
	if !slices.Equal(base, saved) {
		t.Fatalf("base modified: %q", base)
	}
	count := map[string]int{}
	var others []string
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(VarNames, name) {
			count[name]++
			if value != "3" {
				t.Errorf("%s = %q, want 3", name, value)
			}
			continue
		}
		others = append(others, kv)
	}
	for _, v := range VarNames {
		if count[v] != 1 {
			t.Errorf("%s set %d times, want once", v, count[v])
		}
	}
	if want := []string{"PATH=/usr/bin", "HOME=/root", "MKL_NUM_THREADSX=keep", "LANG=C"}; !slices.Equal(others, want) {
		t.Errorf("other entries %q, want %q", others, want)
	}
	// The list is the script's: a variable pinned on one side only would
	// let the other side's setting (or the library's default) through.
	script, err := os.ReadFile("../../bench/peer/torch_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	want := `BLAS_THREAD_VARS = ("` + strings.Join(VarNames, `", "`) + `")`
	if !strings.Contains(string(script), want) {
		t.Errorf("torch_peer.py does not define %s", want)
	}
}
