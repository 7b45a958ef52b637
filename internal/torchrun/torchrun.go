// Package torchrun pins both sides of the peer benchmarks (bench/peer,
// bench/mnist-peer) to a number of threads: it runs the PyTorch side and
// checks that its run had them (Run), and sets or checks newtonia's BLAS
// (PinBLAS: fastblas's workers are GOMAXPROCS; with -tags openblas,
// openblas_set_num_threads).
//
// Threads: torch.set_num_threads does not limit the BLAS's own pool
// (Debian's torch runs its matmuls on OpenBLAS, which starts one thread per
// core when it is loaded), so the Python process gets every variable of
// VarNames set to the count, and the script (bench/peer/torch_peer.py's
// pin_threads, which bench/mnist-peer's script imports) sets them again
// before its import of torch and reports what its run had (Threads).
package torchrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// VarNames are the variables the BLAS libraries PyTorch may load (OpenBLAS,
// GotoBLAS, OpenMP, MKL) read for their thread count when they are loaded;
// torch_peer.py's BLAS_THREAD_VARS is the same list.
var VarNames = []string{"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}

// ChildEnv returns the environment of the Python process: base with each
// of VarNames set to threads (earlier settings of them dropped, every other
// entry kept in order). base is not modified.
func ChildEnv(base []string, threads int) []string {
	env := make([]string, 0, len(base)+len(VarNames))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(VarNames, name) {
			env = append(env, kv)
		}
	}
	for _, v := range VarNames {
		env = append(env, v+"="+strconv.Itoa(threads))
	}
	return env
}

// Threads is what a script reports of its run's threads (the JSON fields
// torch_peer.py prints beside its timings).
type Threads struct {
	Torch          string             `json:"torch"`
	Threads        int                `json:"threads"`         // torch.get_num_threads()
	InteropThreads int                `json:"interop_threads"` // torch.get_num_interop_threads()
	BLASEnv        map[string]*string `json:"blas_env"`        // VarNames as the script saw them
	BLASLibrary    *string            `json:"blas_library"`    // the BLAS it loaded, if found
	BLASThreads    *int               `json:"blas_threads"`    // openblas_get_num_threads(), for OpenBLAS
}

// CheckPinned says how the run's threads differ from threads, if they do.
func (tt *Threads) CheckPinned(threads int) error {
	var off []string
	if tt.Threads != threads {
		off = append(off, fmt.Sprintf("torch.get_num_threads() = %d", tt.Threads))
	}
	for _, v := range VarNames {
		if got := tt.BLASEnv[v]; got == nil || *got != strconv.Itoa(threads) {
			off = append(off, v+" = "+Show(got))
		}
	}
	if tt.BLASThreads != nil && *tt.BLASThreads != threads {
		off = append(off, fmt.Sprintf("openblas_get_num_threads() = %d", *tt.BLASThreads))
	}
	if off != nil {
		return fmt.Errorf("PyTorch's run was not pinned to %d thread(s): %s", threads, strings.Join(off, ", "))
	}
	return nil
}

// Pinned describes the run's threads in one line.
func (tt *Threads) Pinned() string {
	var b strings.Builder
	fmt.Fprintf(&b, "torch %s: torch.get_num_threads() = %d, interop %d;", tt.Torch, tt.Threads, tt.InteropThreads)
	for _, v := range VarNames {
		fmt.Fprintf(&b, " %s=%s", v, Show(tt.BLASEnv[v]))
	}
	fmt.Fprintf(&b, "; BLAS %s", Show(tt.BLASLibrary))
	if tt.BLASThreads != nil {
		fmt.Fprintf(&b, ", openblas_get_num_threads() = %d", *tt.BLASThreads)
	}
	return b.String()
}

// Show prints *p, or "(unset)" for nil.
func Show[T any](p *T) string {
	if p == nil {
		return "(unset)"
	}
	return fmt.Sprint(*p)
}

// Report returns tt; a struct that embeds Threads is a Reporter.
func (tt *Threads) Report() *Threads { return tt }

// Reporter is a script's decoded output: its timings and the Threads its
// run had (by embedding Threads).
type Reporter interface{ Report() *Threads }

// Run runs `python script --threads threads args…` with ChildEnv's
// environment, decodes the JSON it prints into out, and checks that the
// run was pinned to threads (Threads.CheckPinned).
func Run(python, script string, args []string, threads int, out Reporter) error {
	cmd := exec.Command(python, append([]string{script, "--threads", strconv.Itoa(threads)}, args...)...)
	cmd.Env = ChildEnv(os.Environ(), threads)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("reading %s's output: %v (%q)", script, err, stdout.String())
	}
	return out.Report().CheckPinned(threads)
}
