package hvp_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// KroneckerSample(m)'s factors against Kronecker's on a second net whose
// batch is the first m samples (same weights; a summed loss, so δ_i does
// not depend on the batch): A equal, DD equal times B/m; the loss and
// gradient are the whole batch's (Kronecker's), and m = 0 or m ≥ B is
// Kronecker itself. m < 0 is an argument error.
func TestKroneckerSample(t *testing.T) {
	const batch, m, in = 8, 3, 4
	spec := nets.Spec{Batch: batch, In: in, Loss: nets.SoftmaxCrossEntropy, Layers: []nets.Layer{
		{Out: 5, Act: ops.TanhFunc{}, Bias: true}, {Out: 3, Act: ops.IdentityFunc{}, Bias: true}}}
	big, err := nets.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Randomize(rand.New(rand.NewPCG(2, 7)), 0.7, 1); err != nil {
		t.Fatal(err)
	}
	spec.Batch = m
	small, err := nets.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	head := func(n *G.Node) *tensor.Dense { // the first m rows of a bound matrix
		v := n.Value().(*tensor.Dense)
		cols := v.Shape()[1]
		return tensor.New(tensor.WithShape(m, cols), tensor.WithBacking(append([]float64(nil), v.Float64s()[:m*cols]...)))
	}
	lets := map[*G.Node]*tensor.Dense{small.X: head(big.X), small.Y: head(big.Y)}
	for k, w := range small.Params() {
		lets[w] = big.Params()[k].Value().(*tensor.Dense).Clone().(*tensor.Dense)
	}
	for n, v := range lets {
		if err := G.Let(n, v); err != nil {
			t.Fatal(err)
		}
	}
	pb, err := hvp.New(big.Loss, big.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := hvp.New(small.Loss, small.Params()...)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pb.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := pb.KroneckerSample(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ps.Kronecker()
	if err != nil {
		t.Fatal(err)
	}
	// Grams of the same rows in another order of summation: 1e-12.
	for l := range pb.Blocks() {
		f, w := sub.Factors[l], want.Factors[l]
		var dd mat.SymDense
		dd.ScaleSym(float64(batch)/m, w.DD)
		if e := symDiff(f.A, w.A); !(e < 1e-12) {
			t.Errorf("block %d: A differs from the %d-sample net's by %.3g", l, m, e)
		}
		if e := symDiff(f.DD, &dd); !(e < 1e-12) {
			t.Errorf("block %d: DD differs from B/m times the %d-sample net's by %.3g", l, m, e)
		}
		if e := symDiff(f.A, all.Factors[l].A); !(e > 1e-3) {
			t.Errorf("block %d: A of %d samples equals the batch's (%.3g): the test cannot tell", l, m, e)
		}
	}
	if sub.Loss != all.Loss || !floats.Equal(sub.Grad.Flat(), all.Grad.Flat()) {
		t.Errorf("loss %g, gradient: want the whole batch's, %g", sub.Loss, all.Loss)
	}
	for _, n := range []int{0, batch, batch + 5} {
		kf, err := pb.KroneckerSample(n)
		if err != nil {
			t.Fatal(err)
		}
		for l := range pb.Blocks() {
			if !floats.Equal(kf.Factors[l].A.RawSymmetric().Data, all.Factors[l].A.RawSymmetric().Data) ||
				!floats.Equal(kf.Factors[l].DD.RawSymmetric().Data, all.Factors[l].DD.RawSymmetric().Data) {
				t.Errorf("m = %d, block %d: not Kronecker's factors", n, l)
			}
		}
	}
	if _, err := pb.KroneckerSample(-1); !errors.Is(err, errs.ErrArgument) {
		t.Errorf("m = −1: error %v", err)
	}
}
