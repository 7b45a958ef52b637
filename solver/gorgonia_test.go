package solver_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/solver"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gval is a tensor of the given shape and dtype with entries scale·N(0, 1).
func gval(rng *rand.Rand, dt tensor.Dtype, scale float64, shape ...int) tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * rng.NormFloat64()
	}
	return gtensor(dt, x, shape...)
}

// gtensor is x as a tensor of dtype dt (float32: rounded).
func gtensor(dt tensor.Dtype, x []float64, shape ...int) tensor.Tensor {
	if dt == tensor.Float32 {
		y := make([]float32, len(x))
		for i := range x {
			y[i] = float32(x[i])
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(y))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}

// gconst is a scalar constant of dtype dt.
func gconst(dt tensor.Dtype, v float64, name string) *G.Node {
	if dt == tensor.Float32 {
		return G.NewConstant(float32(v), G.WithName(name))
	}
	return G.NewConstant(v, G.WithName(name))
}

// l2Net is a 5-6-3 tanh net written with Gorgonia's API, as its users
// write one: mean squared error over a batch of 16, plus, when decay > 0,
// weight decay decay·(ΣW1² + ΣW2²) built from G.Square and G.Sum — each
// weight matrix is then used twice, by its layer and by the penalty.
func l2Net(t *testing.T, dt tensor.Dtype, decay float64) *hvp.Products {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	B, in, hid, out := 16, 5, 6, 3
	x := G.NewMatrix(g, dt, G.WithShape(B, in), G.WithName("x"), G.WithValue(gval(rng, dt, 1, B, in)))
	y := G.NewMatrix(g, dt, G.WithShape(B, out), G.WithName("y"), G.WithValue(gval(rng, dt, 1, B, out)))
	w1 := G.NewMatrix(g, dt, G.WithShape(in, hid), G.WithName("W1"), G.WithValue(gval(rng, dt, 0.5, in, hid)))
	b1 := G.NewVector(g, dt, G.WithShape(hid), G.WithName("b1"), G.WithValue(gval(rng, dt, 0.1, hid)))
	w2 := G.NewMatrix(g, dt, G.WithShape(hid, out), G.WithName("W2"), G.WithValue(gval(rng, dt, 0.5, hid, out)))
	b2 := G.NewVector(g, dt, G.WithShape(out), G.WithName("b2"), G.WithValue(gval(rng, dt, 0.1, out)))
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
	o := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w2)), b2, nil, []byte{0}))
	cost := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(o, y))))))
	if decay > 0 {
		pen := G.Must(G.Add(G.Must(G.Sum(G.Must(G.Square(w1)))), G.Must(G.Sum(G.Must(G.Square(w2))))))
		cost = G.Must(G.Add(cost, G.Must(G.Mul(gconst(dt, decay, "decay"), pen))))
	}
	p, err := hvp.New(cost, w1, b1, w2, b2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A block whose damped B-pass fails, and whose undamped one fails for the
// same reason, says that reason once in BlockStep.Replaced, followed by
// what replaced the step (issue 19 item 13: it was repeated). The reason's
// text is the error of an independent undamped InvHv call.
func TestNewtonReplacedSaysReasonOnce(t *testing.T) {
	for _, decay := range []float64{1e-3} { // weight decay: no per-sample route, and no op-by-op inverse
		p := l2Net(t, tensor.Float64, decay)
		_, g, err := p.Gradient()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := solver.NewNewton(p, nil).Iterate()
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for l, bs := range rec.Blocks {
			_, err := p.InvHv(l, p.BlockOf(l, g), nil)
			if err == nil || bs.Replaced == "" || strings.Contains(bs.Replaced, "dense per-sample solve") {
				continue
			}
			checked++
			if n := strings.Count(bs.Replaced, err.Error()); n != 1 {
				t.Errorf("decay %g, block %d: the reason appears %d times in Replaced %q", decay, l, n, bs.Replaced)
			}
			if !strings.HasSuffix(bs.Replaced, "conjugate gradients") && !strings.HasSuffix(bs.Replaced, "gradient step") {
				t.Errorf("decay %g, block %d: Replaced %q does not say what replaced the step", decay, l, bs.Replaced)
			}
		}
		if checked == 0 {
			t.Errorf("decay %g: no block fell back past the dense solve: %+v", decay, rec.Blocks)
		}
	}
}
