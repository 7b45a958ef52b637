package hvp_test

import (
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkBPassReuse measures, on the writeup function x₁x₂x₃ − c·x
// (docs/householder.md), the products of a Householder step: the
// gradient, the certified B-pass in full (reuse forgotten before each:
// the first at new weights) and repeated at the same weights (the second
// B-pass of a Chebyshev or Halley step), Hv and Third.
//
//	go test ./hvp -run '^$' -bench BPassReuse -benchtime 20000x -count 3
func BenchmarkBPassReuse(b *testing.B) {
	g := G.NewGraph()
	col := func(d ...float64) *tensor.Dense { return tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(d)) }
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(col(2.2, 1.1, 0.5)))
	c := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("c"), G.WithValue(col(1, 2, 4)))
	loss, err := ops.Sub(G.Must(ops.Product(x)), G.Must(ops.Inner(c, x)))
	if err != nil {
		b.Fatal(err)
	}
	p, err := hvp.New(loss, x)
	if err != nil {
		b.Fatal(err)
	}
	blk := p.Block(0)
	v := params.FromFlat(blk.Layout(), []float64{0.3, -0.7, 1.1})
	run := func(name string, f func() error) {
		b.Run(name, func(b *testing.B) {
			if err := f(); err != nil { // builds the passes
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("gradient", func() error { _, err := p.At(nil); return err })
	run("B-first", func() error { p.ForgetReuse(); _, err := blk.InvHv(v, nil); return err })
	run("B-repeated", func() error { _, err := blk.InvHv(v, nil); return err })
	run("Hv", func() error { _, err := blk.Hv(v); return err })
	run("Third", func() error { _, err := blk.Third(v, v); return err })
}
