package native_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// imageCase is a model on 4-D images built with Gorgonia's own image ops:
// f maps the images x and the 4-D kernel k to the node whose sum of
// squares (of tanh, to keep it bounded) is the loss.
type imageCase struct {
	name   string
	x, k   tensor.Shape
	f      func(x, k *G.Node) *G.Node
	weight bool // the kernel is a weight (else x is, through a reshape)
}

var imageCases = []imageCase{
	{"Conv2d 3×3 pad 1", tensor.Shape{2, 2, 5, 6}, tensor.Shape{3, 2, 3, 3}, func(x, k *G.Node) *G.Node {
		return mustN(G.Conv2d(x, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	}, true},
	{"Conv2d 2×3 stride 2 pad (1, 0)", tensor.Shape{2, 2, 7, 6}, tensor.Shape{3, 2, 2, 3}, func(x, k *G.Node) *G.Node {
		return mustN(G.Conv2d(x, k, tensor.Shape{2, 3}, []int{1, 0}, []int{2, 2}, []int{1, 1}))
	}, true},
	{"Conv2d 3×2 dilation 2 stride (1, 2) pad 1", tensor.Shape{2, 1, 7, 8}, tensor.Shape{2, 1, 3, 2}, func(x, k *G.Node) *G.Node {
		return mustN(G.Conv2d(x, k, tensor.Shape{3, 2}, []int{1, 1}, []int{1, 2}, []int{2, 2}))
	}, true},
	{"MaxPool2D 2×2 stride 2 after a conv", tensor.Shape{2, 1, 6, 6}, tensor.Shape{2, 1, 3, 3}, func(x, k *G.Node) *G.Node {
		c := mustN(G.Conv2d(x, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
		return mustN(G.MaxPool2D(c, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	}, true},
	{"MaxPool2D 3×2 pad (1, 0) stride (2, 1), odd image", tensor.Shape{2, 1, 7, 5}, tensor.Shape{2, 1, 2, 2}, func(x, k *G.Node) *G.Node {
		c := mustN(G.Conv2d(x, k, tensor.Shape{2, 2}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
		return mustN(G.MaxPool2D(c, tensor.Shape{3, 2}, []int{1, 0}, []int{2, 1}))
	}, true},
	{"MaxPool2D explicit padding (n, s, w, e)", tensor.Shape{2, 1, 6, 5}, tensor.Shape{2, 1, 2, 2}, func(x, k *G.Node) *G.Node {
		c := mustN(G.Conv2d(x, k, tensor.Shape{2, 2}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
		return mustN(G.MaxPool2D(c, tensor.Shape{2, 3}, []int{0, 1, 1, 0}, []int{2, 2}))
	}, true},
	{"Sum of a 4-D over axes (1, 3), of a 3-D over axis 0", tensor.Shape{2, 3, 4, 5}, tensor.Shape{1, 1, 1, 1}, func(x, k *G.Node) *G.Node {
		a := mustN(G.Sum(mustN(G.Tanh(x)), 1, 3)) // (2, 4)
		b := mustN(G.Sum(mustN(G.Reshape(mustN(G.Square(x)), tensor.Shape{6, 4, 5})), 0))
		c := mustN(G.Sum(mustN(G.Tanh(x)), 0, 1, 2)) // (5)
		return mustN(G.Add(mustN(G.Sum(mustN(G.Mul(a, b)))), mustN(G.Sum(mustN(G.Square(c))))))
	}, false},
	{"Reshape 4-D → 3-D → matrix, Transpose of 4-D", tensor.Shape{2, 3, 2, 4}, tensor.Shape{1, 1, 1, 1}, func(x, k *G.Node) *G.Node {
		y := mustN(G.Transpose(mustN(G.Tanh(x)), 0, 2, 3, 1))
		r := mustN(G.Reshape(y, tensor.Shape{2, 8, 3}))
		return mustN(G.Reshape(r, tensor.Shape{4, 12}))
	}, false},
}

// Gorgonia's Conv2d, MaxPool2D, Reshape and Transpose of 4-D values, on
// odd shapes (stride 2, padding 1, dilation 2, non-square kernels and
// windows, explicit pooling pads), translated and checked against
// Gorgonia itself in float64 and float32: every translated node's value
// (Verify, at the first product: 1e-8 and 1e-3), and the gradient against
// G.Grad run by Gorgonia's TapeMachine (float64 1e-12: a backward pass in
// another order; float32 1e-4: Gorgonia's float32 rounding).
func TestImageOpsAgainstGorgonia(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, c := range imageCases {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, 4))
				g := G.NewGraph()
				x := G.NewTensor(g, dt, 4, G.WithShape(c.x...), G.WithName("x"), G.WithValue(randT(rng, dt, false, c.x...)))
				k := G.NewTensor(g, dt, 4, G.WithShape(c.k...), G.WithName("k"), G.WithValue(randT(rng, dt, false, c.k...)))
				out := c.f(x, k)
				loss := mustN(G.Sum(mustN(G.Square(mustN(G.Tanh(out))))))
				w := k
				if !c.weight {
					w = x
				}
				p, err := hvp.New(loss, w)
				if err != nil {
					t.Fatal(err)
				}
				lossN, grads, err := p.Gradient() // runs Verify first
				if err != nil {
					t.Fatal(err)
				}
				gg, err := G.Grad(loss, w)
				if err != nil {
					t.Fatal(err)
				}
				m := G.NewTapeMachine(g)
				defer m.Close()
				if err := m.RunAll(); err != nil {
					t.Fatal(err)
				}
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-4
				}
				if d := math.Abs(lossN-testnet.ScalarOf(loss.Value())) / math.Max(1, math.Abs(lossN)); d > tol {
					t.Errorf("loss %v, Gorgonia's %v", lossN, testnet.ScalarOf(loss.Value()))
				}
				if d := relDiff(grads.Weight(0), data(gg[0].Value().(*tensor.Dense))); !(d <= tol) {
					t.Errorf("gradient differs from G.Grad's by %.3g", d)
				}
				if s := grads.Tensors()[0].Shape(); !s.Eq(w.Shape()) {
					t.Errorf("gradient of shape %v for a weight of %v", s, w.Shape())
				}
			})
		}
	}
}
