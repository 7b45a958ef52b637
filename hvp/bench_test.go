package hvp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchSizes returns the widths a benchmark times: def, or
// NEWTONIA_BENCH_SIZES=16,64.
func benchSizes(def ...int) []int {
	sizes := def
	if env := os.Getenv("NEWTONIA_BENCH_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			if n, err := strconv.Atoi(f); err == nil {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkScaling times every product on a square 3-layer leaky-ReLU net
// with batch = width = n. Each iteration runs the gradient twice and the
// product twice and times the second of each (the first absorbs the cost
// of switching machines: caches, garbage collection); ns/op is the
// product's, and "x-grad" the ratio of the two measured in the same loop,
// which machine noise affects far less than ratios of separate benchmarks.
// Before each timed run the inputs move by an ulp, so that factorisations
// are always included (none is served from the cache).
//
//	go test -run '^$' -bench Scaling -benchtime 5x ./hvp
func BenchmarkScaling(b *testing.B) {
	for _, n := range benchSizes(16, 32, 64, 128, 256, 512) {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		m, p0 := testnet.Square(b, rng, 3, n)
		var st hvp.Stats
		p := p0.WithStats(&st)
		_, g, err := p.Gradient()
		if err != nil {
			b.Fatal(err)
		}
		products := []struct {
			name string
			run  func() (extra float64, err error)
			max  int // largest n this product is timed at
		}{
			{"Gradient", func() (float64, error) { _, _, err := p.Gradient(); return 0, err }, 1 << 30},
			{"Hv", func() (float64, error) { _, err := p.Hv(g); return 0, err }, 1 << 30},
			{"InvHvAll", func() (float64, error) { // every block's B-pass and its certificate
				_, err := p.InvHvAll(g, bestEffort)
				return 0, err
			}, 1 << 30},
			{"InvHvAllUncertified", func() (float64, error) { // every block's B-pass, factorisations included
				_, err := p.InvHvAll(g, &hvp.Options{BestEffort: true, NoCertificate: true})
				return 0, err
			}, 1 << 30},
			{"InvHvBlock0", func() (float64, error) {
				_, err := p.Block(0).InvHv(g.Block(0), &hvp.Options{BestEffort: true, NoCertificate: true})
				return 0, err
			}, 1 << 30},
			{"InvHvFD", func() (float64, error) {
				_, err := reference.InvHvFD(p, 0, g.Block(0), 1e-6, bestEffort)
				return 0, err
			}, 1 << 30},
			{"CG1e-6", func() (float64, error) { // block 0 to a relative residual of 1e-6, at most 500 Hv
				res, err := solver.InvHvCG(p, 0, g.Block(0), &solver.CGOptions{Tol: 1e-6, MaxIter: 500, MaxTime: time.Hour})
				if res == nil { // a result without convergence is timed too
					return 0, err
				}
				return float64(res.CG.Iterations), nil
			}, 128},
			{"DenseBlock0", func() (float64, error) { // FD dense block Hessian and its LU solve
				h, err := reference.DenseBlockFD(p, 0, 0, nil)
				if err != nil {
					return 0, err
				}
				_ = testnet.Solve(b, h, g.Block(0))
				return 0, nil
			}, 32},
		}
		// The products whose work is all in programs, whose flops Stats
		// counts.
		single := map[string]bool{"Gradient": true, "Hv": true, "InvHvAll": true, "InvHvAllUncertified": true, "InvHvBlock0": true}
		for _, pr := range products {
			if n > pr.max {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/%s", n, pr.name), func(b *testing.B) {
				if _, err := pr.run(); err != nil { // compile the machines
					b.Fatal(err)
				}
				var tg, tp time.Duration
				var extra, flops float64
				for b.Loop() {
					b.StopTimer()
					for i := 0; i < 2; i++ {
						t0 := time.Now()
						if _, _, err := p.Gradient(); err != nil {
							b.Fatal(err)
						}
						if i == 1 {
							tg += time.Since(t0)
						}
					}
					if _, err := pr.run(); err != nil {
						b.Fatal(err)
					}
					// Change the inputs by an ulp, so that the timed run
					// factorises every matrix afresh, as it would at new
					// weights (the factorisation cache compares contents).
					nudge(m)
					b.StartTimer()
					f0 := st.Flops
					t1 := time.Now()
					e, err := pr.run()
					if err != nil {
						b.Fatal(err)
					}
					tp += time.Since(t1)
					extra, flops = e, st.Flops-f0
				}
				b.ReportMetric(float64(tp)/float64(tg), "x-grad")
				if single[pr.name] { // its flops over its time
					b.ReportMetric(flops*float64(b.N)/tp.Seconds()/1e9, "GFlop/s")
				}
				if pr.name == "CG1e-6" {
					b.ReportMetric(extra, "iterations")
				}
			})
		}
	}
}

// nudge moves the first element of x and of every weight by one ulp.
func nudge(m *nets.MLP) {
	for _, n := range append([]*G.Node{m.X}, m.Weights...) {
		d := n.Value().(*tensor.Dense).Float64s()
		d[0] = math.Nextafter(d[0], math.Inf(1))
	}
}

// BenchmarkPerSample times the per-sample route (method.md §9) on tanh
// 3-layer nets with biases, n-n-n-n, batch n + 1 = fan-in + 1, half
// squared error: every block's B-pass with its certificate (InvHvAll), as
// a multiple of a gradient timed in the same loop ("x-grad"), its speed
// ("GFlop/s", hvp.Stats's flops over the time) and its time over the
// time its flops would take at the gradient's speed ("x-flops"), and, for
// n ≤ 64, the largest relative error of the blocks against the
// LU solve of their dense block of exact R-pass columns, as correct
// digits, −log10 of the relative error ("digits"), with the largest
// 1-norm condition number of the blocks ("cond").
//
//	go test -run '^$' -bench PerSample -benchtime 3x ./hvp
func BenchmarkPerSample(b *testing.B) {
	for _, n := range benchSizes(16, 32, 64, 128) {
		m, err := nets.Build(nets.Spec{Batch: n + 1, In: n, Layers: []nets.Layer{
			{Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: n, Act: ops.TanhFunc{}, Bias: true}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Randomize(rand.New(rand.NewPCG(uint64(n), 3)), 1/math.Sqrt(float64(n)), 1); err != nil {
			b.Fatal(err)
		}
		p0, err := hvp.New(m.Loss, m.Params()...)
		if err != nil {
			b.Fatal(err)
		}
		var st hvp.Stats
		p := p0.WithStats(&st)
		_, g, err := p.Gradient()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d/InvHvAll", n), func(b *testing.B) {
			res, err := p.InvHvAll(g, nil)
			if err != nil {
				b.Fatal(err)
			}
			var tg, tp time.Duration
			var gradFlops, flops float64
			for b.Loop() {
				b.StopTimer()
				f0 := st.Flops
				t0 := time.Now()
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
				tg += time.Since(t0)
				gradFlops = st.Flops - f0
				nudge(m)
				b.StartTimer()
				f1 := st.Flops
				t1 := time.Now()
				if res, err = p.InvHvAll(g, nil); err != nil {
					b.Fatal(err)
				}
				tp += time.Since(t1)
				flops = st.Flops - f1
			}
			b.ReportMetric(float64(tp)/float64(tg), "x-grad")
			// Its speed, and its time over what its flops would take at the
			// gradient's speed measured in the same loop ("x-flops").
			speed, gradSpeed := flops/tp.Seconds()*float64(b.N), gradFlops/tg.Seconds()*float64(b.N)
			b.ReportMetric(speed/1e9, "GFlop/s")
			b.ReportMetric(gradSpeed/speed, "x-flops")
			if n > 64 {
				return
			}
			worst, cond := 0.0, 0.0
			for l := range p.Blocks() {
				h, err := reference.DenseBlock(p, l, nil)
				if err != nil {
					b.Fatal(err)
				}
				// B = fan-in + 1: the blocks are nonsingular, an LU solve is
				// the reference (an eigendecomposition takes minutes at n = 64).
				nb, _ := h.Dims()
				var x mat.VecDense
				if err := x.SolveVec(h, mat.NewVecDense(nb, append([]float64(nil), g.Block(l).Flat()...))); err != nil {
					b.Fatal(err)
				}
				worst = math.Max(worst, flatRelDiff(res[l].U.Flat(), x.RawVector().Data))
				cond = math.Max(cond, mat.Cond(h, 1))
			}
			b.ReportMetric(-math.Log10(worst), "digits")
			b.ReportMetric(cond, "cond")
		})
	}
}

// BenchmarkPerSampleRepeated times, in CPU time of the process (getrusage:
// other work on the machine shows less than in wall time), block 0's
// per-sample B-pass on BenchmarkPerSample's nets: at a new point (the
// weights nudged) and then repeated there with 3 other directions, which
// reuse the M_i's columns (hvp's reuse) and their factorisations
// (RowSolveOp's); and a gradient for scale.
//
//	GOMAXPROCS=1 NEWTONIA_BENCH_SIZES=64,128 go test -run '^$' -bench PerSampleRepeated -benchtime 5x ./hvp
func BenchmarkPerSampleRepeated(b *testing.B) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, n := range benchSizes(64, 128) {
		m, err := nets.Build(nets.Spec{Batch: n + 1, In: n, Layers: []nets.Layer{
			{Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: n, Act: ops.TanhFunc{}, Bias: true}, {Out: n, Act: ops.TanhFunc{}, Bias: true}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Randomize(rand.New(rand.NewPCG(uint64(n), 3)), 1/math.Sqrt(float64(n)), 1); err != nil {
			b.Fatal(err)
		}
		p, err := hvp.New(m.Loss, m.Params()...)
		if err != nil {
			b.Fatal(err)
		}
		blk, rng := p.Block(0), rand.New(rand.NewPCG(1, 2))
		dir := func() *params.Vector {
			d := make([]float64, blk.Layout().Len())
			for i := range d {
				d[i] = rng.NormFloat64()
			}
			return params.FromFlat(blk.Layout(), d)
		}
		if _, err := blk.InvHv(dir(), nil); err != nil { // builds the route
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var grad, first, rep time.Duration
			for b.Loop() {
				nudge(m)
				c0 := cpu()
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
				c1 := cpu()
				for k := range 4 {
					if _, err := blk.InvHv(dir(), nil); err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						first += cpu() - c1
					}
				}
				rep += cpu() - c1
				grad += c1 - c0
			}
			rep -= first
			k := float64(b.N)
			b.ReportMetric(grad.Seconds()*1e3/k, "grad-cpu-ms")
			b.ReportMetric(first.Seconds()*1e3/k, "first-cpu-ms")
			b.ReportMetric(rep.Seconds()*1e3/(3*k), "repeated-cpu-ms")
		})
	}
}
