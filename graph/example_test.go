package graph_test

import (
	"fmt"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
)

// The inverse pass of the first block of a two-layer leaky-ReLU net: the
// ops of the gradient pass, then of the forward pass, inverted one at a
// time from g_1 back to W_1.
// (H − Y, inside the loss's backward rule, does not depend on the seed and
// so counts as forward.)
func ExampleBuildInverse() {
	net, _ := nets.NewMLP(3, 3, []nets.Layer{
		{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}},
		{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}},
	})
	grad, _ := graph.BuildGradient(net.Loss, net.Weights)
	inv, _ := graph.BuildInverse(grad, 0, grad.Grads[0], false)
	for _, s := range inv.Steps {
		pass := "forward "
		if s.Backward {
			pass = "gradient"
		}
		fmt.Printf("%s %-10v solved for input %d\n", pass, s.Node.Op(), s.Wrt)
	}
	// Output:
	// gradient A×B        solved for input 1
	// gradient A⊙B        solved for input 0
	// gradient A×B        solved for input 0
	// gradient A⊙B        solved for input 0
	// gradient s·X        solved for input 1
	// forward  A−B        solved for input 0
	// forward  leaky(0.5) solved for input 0
	// forward  A×B        solved for input 0
	// forward  leaky(0.5) solved for input 0
	// forward  A×B        solved for input 1
}
