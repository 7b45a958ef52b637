package hvp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
)

// BenchmarkInvHvAllFaults times every block's B-pass (InvHvAll, no
// certificate, as bench/peer does) on bench/peer's square 3-layer leaky
// nets, inputs nudged before each run, by the process's CPU time, and
// splits the runs by the minor page faults they took: fresh heap pages
// cost ~11 µs each on the virtual machine of docs/benchmarks.md, so a run
// that grows the heap is slower by that much and best-of-few timings are
// bimodal. Metrics: the fastest run without faults ("ms-nofault", at most
// 10), the fastest with more ("ms-faults"), the share of runs with faults,
// their mean faults, and the fastest gradient ("ms-grad"). Linux only
// (getrusage).
//
//	NEWTONIA_BENCH_SIZES=64,128,256,512 GOMAXPROCS=1 go test -run '^$' -bench InvHvAllFaults -benchtime 60x ./hvp
func BenchmarkInvHvAllFaults(b *testing.B) {
	for _, n := range benchSizes(64, 128, 256) {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m, p := testnet.Square(b, rand.New(rand.NewPCG(uint64(n), 1)), 3, n)
			_, g, err := p.Gradient()
			if err != nil {
				b.Fatal(err)
			}
			opt := &hvp.Options{BestEffort: true, NoCertificate: true}
			if _, err := p.InvHvAll(g, opt); err != nil {
				b.Fatal(err)
			}
			fast, slow, grad := math.Inf(1), math.Inf(1), math.Inf(1)
			faulted, faults := 0, 0
			b.ResetTimer()
			for range b.N {
				nudge(m)
				t0 := cpuTime()
				if _, _, err := p.Gradient(); err != nil {
					b.Fatal(err)
				}
				grad = math.Min(grad, (cpuTime() - t0).Seconds())
				nudge(m)
				var r0, r1 syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
				t0 = cpuTime()
				if _, err := p.InvHvAll(g, opt); err != nil {
					b.Fatal(err)
				}
				s := (cpuTime() - t0).Seconds()
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
				if f := int(r1.Minflt - r0.Minflt); f > 10 {
					slow, faulted, faults = math.Min(slow, s), faulted+1, faults+f
				} else {
					fast = math.Min(fast, s)
				}
			}
			b.ReportMetric(fast*1e3, "ms-nofault")
			b.ReportMetric(slow*1e3, "ms-faults")
			b.ReportMetric(float64(faulted)/float64(b.N), "share-faulted")
			b.ReportMetric(float64(faults)/math.Max(float64(faulted), 1), "faults/faulted")
			b.ReportMetric(grad*1e3, "ms-grad")
		})
	}
}

// cpuTime is the process's CPU time (user + system, all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
