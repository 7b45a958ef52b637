// Command peer compares newtonia with PyTorch on the same nets: square
// 3-layer leaky-ReLU nets (batch = width = n) written in newtonia's JSON +
// .npy format, timed by both, with their results checked against each
// other. Not part of CI.
//
// It needs Debian's python3-torch and python3-numpy (apt-get install
// python3-torch python3-numpy) and installs nothing. Typical runs:
//
//	go run ./bench/peer                      # pure-Go BLAS
//	go run -tags openblas ./bench/peer       # OpenBLAS (apt-get install libopenblas-dev)
//
// Both sides run on -threads threads (default 1), float64. PyTorch: torch's
// own threads by torch.set_num_threads, and its BLAS's pool (Debian's torch
// runs its matmuls on OpenBLAS, whose threads torch.set_num_threads does not
// limit) by OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS and
// MKL_NUM_THREADS, set in the Python process's environment before torch is
// imported (and again by torch_peer.py, before its import of torch). The
// script reports what its run had; a run that had other counts is an error,
// and the counts are printed under the table. newtonia: GOMAXPROCS, which
// is also fastblas's number of workers, or with -tags openblas
// openblas_set_num_threads.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/torchrun"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// torchTimes is what torch_peer.py prints: its timings and the threads its
// run had.
type torchTimes struct {
	torchrun.Threads
	PeakRSS   int64   `json:"peak_rss_bytes"` // resource.getrusage's ru_maxrss, in bytes
	GradientS float64 `json:"gradient_s"`
	HvS       float64 `json:"hv_s"`
	BlockHvS  float64 `json:"block_hv_s"`
	CG        struct {
		Seconds    float64 `json:"seconds"`
		Iterations int     `json:"iterations"`
		Converged  bool    `json:"converged"`
		Reason     string  `json:"reason"`
		Residual   float64 `json:"residual"`
	} `json:"cg"`
}

func main() {
	sizes := flag.String("sizes", "64,128,256", "widths n (= batch) of the square 3-layer nets")
	reps := flag.Int("reps", 5, "repetitions; the best time is kept")
	out := flag.String("out", "bench-peer", "folder for the nets and both sides' results")
	python := flag.String("python", "/usr/bin/python3", "the Python with Debian's torch and numpy")
	threads := flag.Int("threads", 1, "threads for PyTorch and GOMAXPROCS for newtonia")
	cgSeconds := flag.Float64("cg-seconds", 30, "time cap of PyTorch's CG per net")
	clockName := flag.String("clock", "wall", "what the best of -reps runs is timed by: wall (elapsed time) or cpu (each process's CPU time, less inflated by other work on a shared machine)")
	flag.Parse()
	clk, err := clockOf(*clockName)
	if err != nil {
		fail(err)
	}
	if *threads < 1 {
		fail(fmt.Errorf("-threads %d: want at least 1", *threads))
	}
	runtime.GOMAXPROCS(*threads)
	blas, err := torchrun.PinBLAS(*threads)
	if err != nil {
		fail(err)
	}
	if _, err := exec.LookPath(*python); err != nil {
		fail(fmt.Errorf("%s not found: install Debian's python3, python3-torch and python3-numpy", *python))
	}
	script := filepath.Join(sourceDir(), "torch_peer.py")
	fmt.Printf("newtonia vs PyTorch, square 3-layer leaky-ReLU nets, batch = width = n, float64; v = the gradient\n")
	fmt.Printf("best of %d runs (%s clock) on %d thread(s); newtonia GOMAXPROCS=%d, BLAS: %s\n\n", *reps, *clockName, *threads, runtime.GOMAXPROCS(0), blas)
	fmt.Printf("%5s | %-39s | %-36s | %-31s | %s\n", "", "PyTorch", "newtonia", "ratios", "agreement (rel. diff.)")
	fmt.Printf("%5s | %8s %8s %14s %6s | %8s %8s %11s %6s | %9s %9s %11s | %8s %8s %8s\n",
		"n", "grad", "Hv", "CG block 0", "RSS", "grad", "Hv", "InvHvAll", "RSS", "Inv/tgrad", "Hv/tHv", "Inv/grad", "grad", "Hv", "CG-inv")
	var tt *torchTimes
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail(fmt.Errorf("bad size %q", f))
		}
		if tt, err = compare(n, *reps, *out, *python, script, *threads, *cgSeconds, *clockName, clk); err != nil {
			fail(fmt.Errorf("n = %d: %w", n, err))
		}
	}
	fmt.Printf("\nInvHvAll: every block's B-pass, LU factorisations included, no residual certificate;\n" +
		"CG block 0: PyTorch CG on H_00 u = g_0 to 1e-8 (iterations; '>' = did not converge);\n" +
		"RSS: peak resident set size, MiB (PyTorch: its process's ru_maxrss; newtonia: VmHWM, reset before each net)\n")
	if tt != nil {
		fmt.Printf("PyTorch's threads, as its last run reported them (every run is checked): %s\n", tt.Pinned())
	}
}

// runTorch runs torch_peer.py with args on threads threads
// (torchrun.Run) and returns what it printed, or an error if its run had
// other thread counts.
func runTorch(python, script string, args []string, threads int) (*torchTimes, error) {
	var tt torchTimes
	if err := torchrun.Run(python, script, args, threads, &tt); err != nil {
		return nil, err
	}
	return &tt, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peer:", err)
	os.Exit(1)
}

func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func compare(n, reps int, out, python, script string, threads int, cgSeconds float64, clockName string, clk clock) (*torchTimes, error) {
	runtime.GC()
	_ = resetPeakRSS() // on failure the peak is the process's so far
	dir := filepath.Join(out, fmt.Sprintf("n%d", n))
	m, err := nets.NewMLP(n, n, []nets.Layer{
		{Out: n, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: n, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: n, Act: ops.LeakyReLUFunc{Alpha: 0.5}}})
	if err != nil {
		return nil, err
	}
	if err := m.Randomize(rand.New(rand.NewPCG(uint64(n), 7)), 1/math.Sqrt(float64(n)), 1); err != nil {
		return nil, err
	}
	path, err := nets.Save(dir, m, nil, true)
	if err != nil {
		return nil, err
	}
	net, err := nets.Load(path) // both sides read the same files
	if err != nil {
		return nil, err
	}
	p, err := hvp.New(net.Loss, net.Weights...)
	if err != nil {
		return nil, err
	}
	_, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	// Each timed run follows a change of the inputs by an ulp, so that
	// newtonia factorises every matrix afresh (its factorisation cache
	// compares contents), as at new weights.
	nudge := func() {
		for _, n := range append([]*G.Node{net.X}, net.Weights...) {
			d := n.Value().(*tensor.Dense).Float64s()
			d[0] = math.Nextafter(d[0], math.Inf(1))
		}
	}
	best := func(f func() error) (float64, error) {
		if err := f(); err != nil {
			return 0, err
		}
		b := math.Inf(1)
		for i := 0; i < reps; i++ {
			nudge()
			t0 := clk()
			if err := f(); err != nil {
				return 0, err
			}
			b = math.Min(b, (clk() - t0).Seconds())
		}
		return b, nil
	}
	var hv *params.Vector
	var inv []*hvp.Result
	tg, err := best(func() error { _, _, err := p.Gradient(); return err })
	if err != nil {
		return nil, err
	}
	th, err := best(func() error { hv, err = p.Hv(g); return err })
	if err != nil {
		return nil, err
	}
	ti, err := best(func() error {
		inv, err = p.InvHvAll(g, &hvp.Options{NoCertificate: true, BestEffort: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	rss, _ := peakRSS() // unknown (0, printed "?") off Linux
	tt, err := runTorch(python, script, []string{"--net", path, "--out", filepath.Join(dir, "torch"),
		"--reps", strconv.Itoa(reps), "--cg-seconds", fmt.Sprint(cgSeconds), "--clock", clockName}, threads)
	if err != nil {
		return nil, err
	}
	read := func(name string, k int) *tensor.Dense {
		t, err := nets.ReadNpy(filepath.Join(dir, "torch", fmt.Sprintf("%s.W%d.npy", name, k)))
		if err != nil {
			fail(err)
		}
		return t
	}
	var tgr, thv []*tensor.Dense
	for k := range net.Weights {
		tgr, thv = append(tgr, read("grad", k+1)), append(thv, read("hv", k+1))
	}
	torch := func(l *params.Layout, ts []*tensor.Dense, what string) *params.Vector {
		v, err := params.FromTensors(l, ts, what)
		if err != nil {
			fail(err)
		}
		return v
	}
	dg := params.RelDiff(g, torch(p.Layout(), tgr, "torch's gradient"))
	dh := params.RelDiff(hv, torch(p.Layout(), thv, "torch's Hv"))
	dcg := params.RelDiff(torch(p.Layout().Block(0), []*tensor.Dense{read("cg", 1)}, "torch's CG"), inv[0].U)
	cg := fmt.Sprintf("%d", tt.CG.Iterations)
	if !tt.CG.Converged {
		cg = ">" + cg
	}
	ms := func(s float64) string { return fmt.Sprintf("%.3gms", 1e3*s) }
	fmt.Printf("%5d | %8s %8s %5s %8s %6s | %8s %8s %11s %6s | %9.2f %9.2f %11.2f | %8.1e %8.1e %8.1e\n",
		n, ms(tt.GradientS), ms(tt.HvS), cg, ms(tt.CG.Seconds), mib(tt.PeakRSS), ms(tg), ms(th), ms(ti), mib(rss),
		ti/tt.GradientS, th/tt.HvS, ti/tg, dg, dh, dcg)
	return tt, nil
}
