package hvp_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// model is a small net written with Gorgonia's own API, as its users
// write one: three samples of two features, a tanh layer of two units
// with a bias, a linear output, mean squared error. Its values are fixed,
// so the examples print the same numbers everywhere.
func model() (loss *G.Node, weights []*G.Node) {
	g := G.NewGraph()
	mat := func(name string, r, c int, v ...float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(v))))
	}
	x := mat("x", 3, 2, 1, 0.5, -0.5, 1, 0.25, -1)
	y := mat("y", 3, 1, 0.5, -0.25, 1)
	w1 := mat("W1", 2, 2, 0.8, -0.4, 0.3, 0.9)
	b1 := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("b1"), G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{0.1, -0.2}))))
	w2 := mat("W2", 2, 1, 1.2, -0.7)
	h := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
	loss = G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(h, w2)), y))))))
	return loss, []*G.Node{w1, b1, w2}
}

// printVec prints a vector weight by weight, at %.4g.
func printVec(what string, p *hvp.Problem, v interface{ Weight(int) []float64 }) {
	for k := range p.Layout().Weights() {
		fmt.Printf("%s %s: %.4g\n", what, p.Layout().Name(k), v.Weight(k))
	}
}

// The exact Hessian-vector product of a Gorgonia model, by the R-pass,
// along its gradient.
func ExampleProblem_Hv() {
	loss, weights := model()
	p, err := hvp.New(loss, weights...)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Layout())
	_, g, err := p.Gradient()
	if err != nil {
		panic(err)
	}
	hv, err := p.Hv(g)
	if err != nil {
		panic(err)
	}
	printVec("H g", p, hv)
	// Output:
	// W1 (2×2) + b1 (2) | W2 (2×1): 8 values
	// H g W1: [0.1627 -0.1752 0.512 -0.1168]
	// H g b1: [-0.6201 -0.0332]
	// H g W2: [0.435 0.08347]
}

// The generalised Gauss–Newton product of the same model: positive
// semi-definite, ⟨g, G g⟩ ≥ 0.
func ExampleProblem_GGNv() {
	loss, weights := model()
	p, err := hvp.New(loss, weights...)
	if err != nil {
		panic(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		panic(err)
	}
	gg, err := p.GGNv(g)
	if err != nil {
		panic(err)
	}
	printVec("G g", p, gg)
	fmt.Printf("⟨g, G g⟩ = %.4g\n", g.Dot(gg))
	// Output:
	// G g W1: [0.1001 -0.2234 0.4516 -0.1612]
	// G g b1: [-0.5528 -0.08091]
	// G g W2: [0.2558 0.2282]
	// ⟨g, G g⟩ = 0.4931
}

// The conditions report: which route each block's inverse product takes
// and what it computes, decided from the graph and the shapes before
// anything runs.
func ExampleProblem_Conditions() {
	loss, weights := model()
	p, err := hvp.New(loss, weights...)
	if err != nil {
		panic(err)
	}
	fmt.Print(p.Conditions())
	// Output:
	// block 0 (W1+b1, per-sample route): exact inverse — InvHv gives H_ll⁻¹ v
	//     per-sample route: batch 3 = fan-in 3 (2 inputs + 1 for the bias): h̃ is square
	//     per-sample route: exact inverse when h̃ has full rank and every M_i (2×2, from 2 JVPs) is nonsingular; a rank-deficient h̃ makes it a pseudo-inverse, a singular M_i Newton-only (checked when run)
	// block 1 (W2, dense route): exact inverse — InvHv gives H_ll⁻¹ v
	//     chain route: node newtonia's square⁽1⁾(%c - false(%b, %1 y)): inverse rule of op square⁽1⁾ failed: op square⁽1⁾ has no inverse with respect to input 0: a derivative of an activation is not inverted
	//     per-sample route: batch 3 > fan-in 2: the per-sample shortcut needs batch ≤ fan-in (it solves with h̃ᵀ, which has more columns than rows and is not injective), so its B-pass is not the inverse of the block in general; the block H_ll itself may still be invertible (a squared-error output layer's H_ll = h̃ᵀh̃ ⊗ I is) — so the dense route solves it (its size and cost below), or take the curvature on a subsample of at most 2 rows
	//     dense route: no structured route inverts this block, so H_ll is formed as a dense matrix and factorised (Cholesky where positive definite, else LU): exact up to the factorisation's rounding, certified by its residual; refused above Options.MaxFlops or Options.MaxBytes before running, or above Options.MaxCond when run
	//     dense route: 2×2 from the per-sample curvature, est. 29.3 flops, 488 B
}

// The exact block Newton direction H_ll⁻¹ g_l of the first layer (its
// weight and bias, fan-in 2 + 1 = batch 3), by the per-sample B-pass,
// certified by its residual.
func ExampleBlock_InvHv() {
	loss, weights := model()
	p, err := hvp.New(loss, weights...)
	if err != nil {
		panic(err)
	}
	_, g, err := p.Gradient()
	if err != nil {
		panic(err)
	}
	b := p.Block(0)
	u, err := b.InvHv(g.Block(0), nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("block %s: %v by the %v route, certified %v, residual below 1e-12: %v\n",
		b.Name(), u.Kind, u.Method, u.Certified, u.Residual < 1e-12)
	for k := range b.Layout().Weights() {
		fmt.Printf("u %s: %.4g\n", b.Layout().Name(k), u.U.Weight(k))
	}
	// Output:
	// block W1+b1: exact inverse by the per-sample route, certified true, residual below 1e-12: true
	// u W1: [0.3144 -0.6754 0.1867 -0.2533]
	// u b1: [-0.239 -0.08443]
}

// A block Newton direction H_ll⁻¹ g_l for each layer of a small leaky-ReLU
// net, certified by its residual: the chain route.
func ExampleBlock_InvHv_chain() {
	net, _ := nets.NewMLP(4, 4, []nets.Layer{
		{Out: 4, Act: ops.LeakyReLUFunc{Alpha: 0.5}},
		{Out: 4, Act: ops.LeakyReLUFunc{Alpha: 0.5}},
	})
	_ = net.Randomize(rand.New(rand.NewPCG(1, 2)), 0.5, 1) // x, y, W ~ 0.5·N(0,1) + I

	p, err := hvp.New(net.Loss, net.Weights...)
	if err != nil {
		panic(err)
	}
	_, g, _ := p.Gradient()
	for l := range net.Weights {
		u, err := p.Block(l).InvHv(g.Block(l), nil)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s by the B-pass (%s route), certified %v, residual below 1e-12: %v\n",
			net.Weights[l].Name(), u.Kind, u.Method, u.Certified, u.Residual < 1e-12)
	}
	// Output:
	// W1: exact inverse by the B-pass (chain route), certified true, residual below 1e-12: true
	// W2: exact inverse by the B-pass (chain route), certified true, residual below 1e-12: true
}
