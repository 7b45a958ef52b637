// Command mnist-peer times a gradient step of bench/mnist's net side by
// side with PyTorch float64: the same MNIST files, net (784-h-h-10 with
// biases, leaky ReLU, softmax cross-entropy averaged over the batch),
// initial weights and minibatch order, one thread each side. It times one
// gradient (forward + backward), one Adam step (gradient + update) and one
// pass of Adam over the training set, best and median of -reps, and checks
// that both sides computed the same gradient and reached the same weights.
// Not part of CI. Run it from the module root (the data are found through
// the GoMNIST module):
//
//	go run ./bench/mnist-peer                     # pure-Go BLAS (fastblas)
//	go run -tags openblas ./bench/mnist-peer      # newtonia on OpenBLAS too
//
// It needs Debian's python3-torch and python3-numpy and installs nothing.
// Threads: GOMAXPROCS = -threads (fastblas's workers) or, with -tags
// openblas, openblas_set_num_threads; PyTorch is pinned by
// internal/torchrun (its run's counts are checked and printed).
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/mnistdata"
	"github.com/newtonia/newtonia/internal/torchrun"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/solver"
	"golang.org/x/sys/unix"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type config struct {
	batch, hidden, reps, inner, threads, trainN int
	warmup                                      int     // the most calls warmUp makes
	torchWarmup                                 float64 // PyTorch's warm-up, seconds per timing
	slope, lr                                   float64
	seed                                        uint64
	data, out, python                           string
}

// spread is the best and the median of a timing's repetitions, in
// seconds: wall clock, and the process's CPU time (CLOCK_PROCESS_CPUTIME_ID
// on both sides), which other jobs on the machine move less.
type spread struct {
	Best      float64 `json:"best"`
	Median    float64 `json:"median"`
	CPUBest   float64 `json:"cpu_best"`
	CPUMedian float64 `json:"cpu_median"`
}

// torchTimes is what torch_mnist.py prints.
type torchTimes struct {
	torchrun.Threads
	Gradient  spread  `json:"gradient_s"`
	Step      spread  `json:"step_s"`
	StepEach  spread  `json:"step_foreach_s"` // torch.optim.Adam(foreach=True)
	Pass      spread  `json:"pass_s"`
	PassEach  spread  `json:"pass_foreach_s"`
	Steps     int     `json:"steps"`
	BLASCore  *string `json:"blas_core"` // openblas_get_corename(), for OpenBLAS
	LossAfter float64 `json:"loss_after"`
}

func main() {
	var c config
	flag.IntVar(&c.batch, "batch", 128, "minibatch")
	flag.IntVar(&c.hidden, "hidden", 256, "width of the two hidden layers")
	flag.Float64Var(&c.slope, "slope", 0.01, "leaky-ReLU slope (bench/mnist's default)")
	flag.Float64Var(&c.lr, "lr", 1e-3, "Adam's learning rate")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the initial weights and the minibatch order")
	flag.IntVar(&c.reps, "reps", 5, "repetitions of each timing (best and median)")
	flag.IntVar(&c.inner, "inner", 10, "calls per repetition of the gradient and the step (their mean)")
	flag.IntVar(&c.trainN, "train", 0, "training examples in the pass (0: all 60000)")
	flag.IntVar(&c.threads, "threads", 1, "threads of each side")
	flag.IntVar(&c.warmup, "warmup", 500, "newtonia: the most warm-up calls before each timing (they stop after a garbage-collection cycle)")
	flag.Float64Var(&c.torchWarmup, "torch-warmup", 2, "PyTorch: seconds of warm-up calls before each timing (at most 500 calls)")
	flag.StringVar(&c.data, "data", "", "folder with the four MNIST .gz files (default: the GoMNIST module's)")
	flag.StringVar(&c.out, "out", "mnist-peer-out", "folder for the shared inputs and PyTorch's results")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "the Python with Debian's torch and numpy")
	flag.Parse()
	if _, err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mnist-peer:", err)
		os.Exit(1)
	}
}

// side is one side's timings.
type side struct{ grad, step, pass spread }

// agreement is how far PyTorch's results are from newtonia's (relative
// differences).
type agreement struct{ grad, after float64 }

// run times both sides, prints the table on w and returns their agreement.
func run(c config, w io.Writer) (*agreement, error) {
	if c.threads < 1 || c.reps < 1 || c.inner < 1 || c.batch < 1 {
		return nil, fmt.Errorf("-threads %d, -reps %d, -inner %d, -batch %d: want each ≥ 1", c.threads, c.reps, c.inner, c.batch)
	}
	runtime.GOMAXPROCS(c.threads)
	blas, err := torchrun.PinBLAS(c.threads)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(c.python); err != nil {
		return nil, fmt.Errorf("%s not found: install Debian's python3, python3-torch and python3-numpy", c.python)
	}
	dir, err := mnistdata.Find(c.data)
	if err != nil {
		return nil, err
	}
	train, _, err := mnistdata.Load(dir)
	if err != nil {
		return nil, err
	}
	train = train.Head(c.trainN)
	b, err := newBench(c, train)
	if err != nil {
		return nil, err
	}
	initDir := filepath.Join(c.out, "init")
	if err := b.writeInputs(initDir); err != nil {
		return nil, err
	}
	var g *params.Vector
	var nt side
	if nt, g, err = b.time(); err != nil {
		return nil, err
	}
	after, err := b.p.Current()
	if err != nil {
		return nil, err
	}
	lossAfter, err := b.lossOnFirst()
	if err != nil {
		return nil, err
	}
	var tt torchTimes
	torchOut := filepath.Join(c.out, "torch")
	args := []string{"--data", dir, "--init", initDir, "--out", torchOut, "--batch", strconv.Itoa(c.batch),
		"--slope", fmt.Sprint(c.slope), "--lr", fmt.Sprint(c.lr), "--reps", strconv.Itoa(c.reps), "--inner", strconv.Itoa(c.inner),
		"--warmup-seconds", fmt.Sprint(c.torchWarmup)}
	if err := torchrun.Run(c.python, filepath.Join(sourceDir(), "torch_mnist.py"), args, c.threads, &tt); err != nil {
		return nil, err
	}
	if tt.Steps != b.steps {
		return nil, fmt.Errorf("PyTorch's pass made %d steps, newtonia's %d", tt.Steps, b.steps)
	}
	tg, err := b.readTorch(torchOut, "grad")
	if err != nil {
		return nil, err
	}
	ta, err := b.readTorch(torchOut, "after")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "MNIST 784-%d-%d-10, biases, leaky ReLU %g, softmax cross-entropy (mean), batch %d, float64, Adam lr %g\n",
		c.hidden, c.hidden, c.slope, c.batch, c.lr)
	fmt.Fprintf(w, "%d thread(s) each; newtonia GOMAXPROCS=%d, BLAS: %s\n", c.threads, runtime.GOMAXPROCS(0), blas)
	fmt.Fprintf(w, "best / median of %d; gradient and step: mean of %d calls on the first minibatch; pass: %d steps over %d images\n\n",
		c.reps, c.inner, b.steps, train.N())
	fmt.Fprintf(w, "%-10s | %-31s | %-31s | %s\n", "", "PyTorch (best / median)", "newtonia (best / median)", "newtonia / PyTorch (best, median)")
	ms := func(a, b float64) string { return fmt.Sprintf("%.4g / %.4g ms", 1e3*a, 1e3*b) }
	row := func(name string, t, n spread) {
		fmt.Fprintf(w, "%-10s | wall %-26s | wall %-26s | wall %.2f, %.2f\n", name, ms(t.Best, t.Median), ms(n.Best, n.Median), n.Best/t.Best, n.Median/t.Median)
		fmt.Fprintf(w, "%-10s | CPU  %-26s | CPU  %-26s | CPU  %.2f, %.2f\n", "", ms(t.CPUBest, t.CPUMedian), ms(n.CPUBest, n.CPUMedian), n.CPUBest/t.CPUBest, n.CPUMedian/t.CPUMedian)
	}
	row("gradient", tt.Gradient, nt.grad)
	row("Adam step", tt.Step, nt.step)
	row("  foreach", tt.StepEach, nt.step)
	row("Adam pass", tt.Pass, nt.pass)
	row("  foreach", tt.PassEach, nt.pass)
	fmt.Fprintf(w, "(foreach: PyTorch's step and pass with torch.optim.Adam(foreach=True), its multi-tensor update, beside newtonia's same ones)\n")
	agree := &agreement{grad: params.RelDiff(g, tg), after: params.RelDiff(after, ta)}
	fmt.Fprintf(w, "\nagreement (relative difference): gradient at the initial weights %.1e; weights after the pass %.1e; "+
		"loss on the first minibatch after the pass: newtonia %.6g, PyTorch %.6g\n", agree.grad, agree.after, lossAfter, tt.LossAfter)
	fmt.Fprintf(w, "PyTorch's threads: %s; OpenBLAS kernels: %s\n", tt.Pinned(), torchrun.Show(tt.BLASCore))
	return agree, nil
}

// bench is newtonia's side: bench/mnist's training net on a batch.
type bench struct {
	c     config
	train *mnistdata.Set
	net   *nets.MLP
	p     *hvp.Problem
	init  []*tensor.Dense
	order []int
	steps int
}

func newBench(c config, train *mnistdata.Set) (*bench, error) {
	act := ops.LeakyReLUFunc{Alpha: c.slope}
	net, err := nets.Build(nets.Spec{Batch: c.batch, In: mnistdata.Pixels,
		Layers: []nets.Layer{{Out: c.hidden, Act: act, Bias: true}, {Out: c.hidden, Act: act, Bias: true}, {Out: mnistdata.Classes, Act: ops.IdentityFunc{}, Bias: true}},
		Loss:   nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean})
	if err != nil {
		return nil, err
	}
	b := &bench{c: c, train: train, net: net, steps: train.N() / c.batch}
	if b.steps == 0 {
		return nil, fmt.Errorf("-train %d: fewer images than one batch of %d", train.N(), c.batch)
	}
	// bench/mnist's initial weights: W ~ N(0, 2/fan-in), biases zero.
	rng := rand.New(rand.NewPCG(c.seed, 0x6d6e))
	for _, pn := range net.Params() {
		s := pn.Shape()
		if slices.Contains(net.Biases, pn) {
			b.init = append(b.init, tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(tensor.Float64)))
			continue
		}
		t := nets.Randn(rng, s[0], s[1], 0)
		for i, v := range t.Float64s() {
			t.Float64s()[i] = v * math.Sqrt(2/float64(s[0]))
		}
		b.init = append(b.init, t)
	}
	b.order = rng.Perm(train.N())[:b.steps*c.batch]
	if err := b.reset(); err != nil {
		return nil, err
	}
	if err := b.bind(0); err != nil {
		return nil, err
	}
	if b.p, err = hvp.New(net.Loss, net.Params()...); err != nil {
		return nil, err
	}
	return b, nil
}

// reset binds copies of the initial weights.
func (b *bench) reset() error {
	for k, pn := range b.net.Params() {
		if err := G.Let(pn, b.init[k].Clone().(*tensor.Dense)); err != nil {
			return err
		}
	}
	return nil
}

// bind binds minibatch s of the order.
func (b *bench) bind(s int) error {
	x, y := b.train.Batch(b.order[s*b.c.batch:(s+1)*b.c.batch], mnistdata.Pixels)
	if err := G.Let(b.net.X, x); err != nil {
		return err
	}
	return G.Let(b.net.Y, y)
}

// names are the weights' file names, in net.Params()'s order.
func (b *bench) names() []string {
	var out []string
	for k := range b.net.Weights {
		out = append(out, fmt.Sprintf("W%d", k+1), fmt.Sprintf("b%d", k+1))
	}
	return out
}

// writeInputs writes the initial weights and the order as .npy.
func (b *bench) writeInputs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k, name := range b.names() {
		if err := nets.WriteNpy(filepath.Join(dir, name+".npy"), b.init[k], true); err != nil {
			return err
		}
	}
	order := make([]float64, len(b.order))
	for i, v := range b.order {
		order[i] = float64(v)
	}
	return nets.WriteNpy(filepath.Join(dir, "order.npy"), tensor.New(tensor.WithShape(1, len(order)), tensor.WithBacking(order)), true)
}

// readTorch reads PyTorch's weights-shaped results prefix.W1.npy, … as a
// vector of the problem's layout.
func (b *bench) readTorch(dir, prefix string) (*params.Vector, error) {
	var ts []*tensor.Dense
	for _, name := range b.names() {
		t, err := nets.ReadNpy(filepath.Join(dir, prefix+"."+name+".npy"))
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return params.FromTensors(b.p.Layout(), ts, "PyTorch's "+prefix)
}

// times returns the best and median over reps of the mean time of inner
// calls of f, after warming up: calls until the garbage collector has
// finished a cycle (at most maxWarmup). Before the first cycle after the
// data are loaded (a heap of 376 MB, which may double before it runs),
// every allocation is memory new to the process and faulted in page by
// page: a gradient cost 17 ms of CPU time then and 3.2–3.4 ms after it
// (measured, docs/benchmarks.md), which is the cost of the pass's later
// steps and of every step of a longer run.
func times(reps, inner, warmup int, f func() error) (spread, error) {
	if err := warmUp(f, warmup); err != nil {
		return spread{}, err
	}
	ts, cs := make([]float64, reps), make([]float64, reps)
	for r := range ts {
		t0, c0 := time.Now(), cpuTime()
		for range inner {
			if err := f(); err != nil {
				return spread{}, err
			}
		}
		ts[r] = time.Since(t0).Seconds() / float64(inner)
		cs[r] = (cpuTime() - c0) / float64(inner)
	}
	best, med := bestMedian(ts)
	cbest, cmed := bestMedian(cs)
	return spread{Best: best, Median: med, CPUBest: cbest, CPUMedian: cmed}, nil
}

// warmUp calls f until the garbage collector has finished a cycle, at
// least once and at most max times (see times).
func warmUp(f func() error, max int) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for gc0, i := ms.NumGC, 0; i == 0 || ms.NumGC == gc0 && i < max; i++ {
		if err := f(); err != nil {
			return err
		}
		runtime.ReadMemStats(&ms)
	}
	return nil
}

func bestMedian(ts []float64) (best, median float64) {
	ts = slices.Sorted(slices.Values(ts))
	n := len(ts)
	if n%2 == 0 {
		return ts[0], (ts[n/2-1] + ts[n/2]) / 2
	}
	return ts[0], ts[n/2]
}

// cpuTime is the process's CPU time in seconds (every thread's: the Go
// runtime's garbage collector included).
func cpuTime() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return math.NaN()
	}
	return float64(ts.Sec) + 1e-9*float64(ts.Nsec)
}

// time times the gradient and Adam's step on the first minibatch and a pass
// of Adam from the initial weights (the weights bound after it are the
// pass's), and returns the gradient at the initial weights.
func (b *bench) time() (t side, g *params.Vector, err error) {
	if t.grad, err = times(b.c.reps, b.c.inner, b.c.warmup, func() error { _, g, err = b.p.Gradient(); return err }); err != nil {
		return t, nil, err
	}
	adam, err := b.adam()
	if err != nil {
		return t, nil, err
	}
	if t.step, err = times(b.c.reps, b.c.inner, b.c.warmup, func() error { _, err := adam.Step(); return err }); err != nil {
		return t, nil, err
	}
	t.pass, err = times(b.c.reps, 1, b.c.warmup, func() error {
		if err := b.reset(); err != nil {
			return err
		}
		adam, err := b.adam()
		if err != nil {
			return err
		}
		for s := range b.steps {
			if err := b.bind(s); err != nil {
				return err
			}
			if _, err := adam.Step(); err != nil {
				return err
			}
		}
		return nil
	})
	return t, g, err
}

func (b *bench) adam() (solver.Optimizer, error) {
	return solver.New("adam", b.p, &solver.GorgoniaSettings{LearnRate: b.c.lr})
}

// lossOnFirst is the loss on the first minibatch at the weights bound.
func (b *bench) lossOnFirst() (float64, error) {
	if err := b.bind(0); err != nil {
		return 0, err
	}
	return b.p.LossAt(nil)
}

func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}
