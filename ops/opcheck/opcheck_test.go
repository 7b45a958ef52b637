package opcheck_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/ops/opcheck"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// wrongJVP is 2·x with a JVP of 3·ẋ, a VJP of 2·ȳ and an inverse of y/3.
type wrongJVP struct{ ops.ScaleOp }

func (wrongJVP) String() string { return "wrong" }
func (wrongJVP) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return ops.Scale(3, tan[0])
}
func (wrongJVP) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	return ops.Scale(1.0/3, out)
}

// The checker must fail on wrong rules, or a passing op test means nothing.
func TestCheckerCatchesWrongRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, -2, 3, 0.5, 4, -1}))
	_, err := opcheck.Check(wrongJVP{ops.ScaleOp{C: 2}}, []*tensor.Dense{x}, opcheck.Tolerances{}, rng)
	if err == nil {
		t.Fatal("a wrong JVP and a wrong inverse passed the check")
	}
	for _, want := range []string{"JVP vs finite differences", "VJP adjoint identity", "inverse round trip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}
