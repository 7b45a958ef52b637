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

// rowWiseTranspose is Aᵀ claiming to act row by row: false for a square A.
type rowWiseTranspose struct{ ops.TransposeOp }

func (rowWiseTranspose) String() string                 { return "claims row-wise" }
func (rowWiseTranspose) RowWise([]*G.Node, []bool) bool { return true }

// notRowWiseScale is 2·x denying that it acts row by row.
type notRowWiseScale struct{ ops.ScaleOp }

func (notRowWiseScale) String() string                 { return "denies row-wise" }
func (notRowWiseScale) RowWise([]*G.Node, []bool) bool { return false }

// bijectiveMatMul claims every inverse of A·B is bijective.
type bijectiveMatMul struct{ ops.MatMulOp }

func (bijectiveMatMul) String() string { return "claims bijective" }
func (bijectiveMatMul) InverseKind(int, []*G.Node, *G.Node) (ops.InverseKind, string) {
	return ops.Bijective, "wrong on purpose"
}

// The claims the conditions report trusts are checked, both ways.
func TestCheckerCatchesWrongClaims(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	sq := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking([]float64{4, 1, 0, -1, 3, 1, 0.5, 0, 5}))
	tall := tensor.New(tensor.WithShape(4, 2), tensor.WithBacking([]float64{1, 2, -1, 0.5, 3, 1, 0, 2}))
	wide := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, -2, 0.5, 2, 1, 1}))
	for _, c := range []struct {
		op   G.Op
		in   []*tensor.Dense
		want string
	}{
		{rowWiseTranspose{}, []*tensor.Dense{sq}, "claims row by row, but"},
		{notRowWiseScale{ops.ScaleOp{C: 2}}, []*tensor.Dense{sq}, "denies row by row, but"},
		{bijectiveMatMul{}, []*tensor.Dense{tall, wide}, "InverseKind says bijective"},
	} {
		_, err := opcheck.Check(c.op, c.in, opcheck.Tolerances{}, rng)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.op, err, c.want)
		}
	}
}
