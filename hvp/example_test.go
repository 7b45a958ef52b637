package hvp_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
)

// A block Newton direction H_ll⁻¹ g_l for each layer of a small leaky-ReLU
// net, certified by its residual.
func ExampleBlock_InvHv() {
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
