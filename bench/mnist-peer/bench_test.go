package main

import (
	"testing"

	"github.com/newtonia/newtonia/internal/mnistdata"
)

// benchFor builds newtonia's side on the first 1280 training images, at
// the default sizes, or skips without the data.
func benchFor(tb testing.TB) *bench {
	dir, err := mnistdata.Find("")
	if err != nil {
		tb.Skip(err)
	}
	train, _, err := mnistdata.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := newBench(config{batch: 128, hidden: 256, slope: 0.01, lr: 1e-3, seed: 1}, train.Head(1280))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkGradient times one gradient of the default net on a minibatch,
// after warmUp:
//
//	go test -run '^$' -bench . -cpu 1 ./bench/mnist-peer
func BenchmarkGradient(b *testing.B) {
	nb := benchFor(b)
	grad := func() error { _, _, err := nb.p.Gradient(); return err }
	if err := warmUp(grad, 500); err != nil {
		b.Fatal(err)
	}
	loop(b, grad)
}

// BenchmarkAdamStep times one Adam step (gradient and update), after
// warmUp.
func BenchmarkAdamStep(b *testing.B) {
	nb := benchFor(b)
	adam, err := nb.adam()
	if err != nil {
		b.Fatal(err)
	}
	step := func() error { _, err := adam.Step(); return err }
	if err := warmUp(step, 500); err != nil {
		b.Fatal(err)
	}
	loop(b, step)
}

// loop runs f for b, reporting the process's CPU time per call beside the
// wall clock (other jobs on the machine move it less).
func loop(b *testing.B, f func() error) {
	c0 := cpuTime()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0)/float64(b.N)*1e3, "cpu-ms/op")
}
