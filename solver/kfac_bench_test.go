package solver_test

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
)

// BenchmarkKFACStep measures KFAC.Step on bench/mnist's net (784-256-256-10,
// leaky ReLU, biases, softmax cross-entropy averaged over a batch of 128;
// random inputs, He-scaled weights) with the moonshot's settings (damping
// 3, StatsSamples 32, Refresh 20; LearnRate 1e-6, as 6e-5 diverges on random data), for profiles of where a
// step's time goes (docs/optimizers.md); cpu-ns/op is the process's CPU
// time a step:
//
//	go test ./solver -run '^$' -bench KFACStep -benchtime 200x -cpuprofile /tmp/kfac.prof
func BenchmarkKFACStep(b *testing.B) {
	m, err := nets.Build(nets.Spec{Batch: 128, In: 784, Loss: nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean,
		Layers: []nets.Layer{{Out: 256, Act: ops.LeakyReLUFunc{Alpha: 0.01}, Bias: true}, {Out: 256, Act: ops.LeakyReLUFunc{Alpha: 0.01}, Bias: true},
			{Out: 10, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 2)), math.Sqrt(2.0/784), 0); err != nil {
		b.Fatal(err)
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		b.Fatal(err)
	}
	k, err := solver.NewKFAC(p, &solver.KFACSettings{FactorDamping: 3, StatsSamples: 32, Refresh: 20, LearnRate: 1e-6})
	if err != nil {
		b.Fatal(err)
	}
	for range 21 { // builds the passes and runs past the first refresh
		if _, err := k.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	c0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := k.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time: on a machine shared
// with other work it moves less than the wall time (the garbage
// collector's and Dgemm's goroutines included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
