package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/ops/opcheck"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Both ops pass the library's shared checker: rules against central
// differences and the adjoint identity, inverses by a round trip, the
// inverse kinds and the row-wise claims.
func TestOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 2))
	x := nets.Randn(rng, 4, 5, 0)
	for i, v := range x.Float64s() { // clear of the kink at 0
		x.Float64s()[i] = math.Copysign(0.5+math.Abs(v), v)
	}
	for _, c := range []struct {
		op G.Op
		in []*tensor.Dense
	}{
		{ops.ElementwiseOp{F: ScaledLeaky{C: 1.5, Alpha: 0.3}}, []*tensor.Dense{x}},
		{Linear{}, []*tensor.Dense{nets.Randn(rng, 4, 4, 3), nets.Randn(rng, 4, 4, 3)}}, // square: both inverses
	} {
		rep, err := opcheck.Check(c.op, c.in, opcheck.Tolerances{}, rng)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Inverse) != len(c.in) {
			t.Errorf("%v: inverses checked for %v, want every input", c.op, rep.Inverse)
		}
		t.Logf("%v: JVP vs FD %.1e, VJP adjoint %.1e, inverse %v", c.op, rep.JVP, rep.VJP, rep.Inverse)
	}
}

// InvHv through the custom ops matches the dense block solve. The
// reference is central differences of the gradient (exact up to rounding
// for a piecewise-linear net with squared error, method.md §8), whose
// rounding (about 1e-14 relative in H) is amplified by cond(H_ll) like the
// B-pass's own: hence a bound of 1e3·ε·cond rather than the 100·ε·cond
// used against closed forms.
func TestInvHv(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	p, err := newNet(rng)
	if err != nil {
		t.Fatal(err)
	}
	for l := range p.Blocks() {
		b := p.Block(l)
		v := params.FromFlat(b.Layout(), nets.Randn(rng, 6, 6, 0).Float64s())
		u, err := b.InvHv(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		hb, err := reference.DenseBlockFD(p, l, 1e-2, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ref mat.VecDense
		if err := ref.SolveVec(hb, mat.NewVecDense(v.Len(), v.Flat())); err != nil {
			t.Fatal(err)
		}
		cond := mat.Cond(hb, 2)
		e := params.RelDiff(u.U, params.FromFlat(u.U.Layout(), ref.RawVector().Data))
		t.Logf("%s: cond(H_ll) %.3g, rel. error %.3g, residual %.3g (%v)", b.Name(), cond, e, u.Residual, u.Method)
		if e > 1e3*0x1p-52*cond {
			t.Errorf("%s: InvHv error is %.3g·ε·cond(H_ll), want ≤ 1e3", b.Name(), e/(0x1p-52*cond))
		}
	}
}
