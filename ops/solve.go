package ops

import (
	"errors"
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SingularCond is the condition-number estimate (1-norm, from the LU
// factorisation) above which SolveOp and MatInvOp refuse a matrix as
// numerically singular, returning an *errs.ConditionError whose Value is
// the estimate (+Inf when exactly singular). It is gonum's
// mat.ConditionTolerance: past it no digit of the solution can be trusted.
const SingularCond = mat.ConditionTolerance

// singular is the error of an LU-based op given a numerically singular
// matrix.
func singular(op fmt.Stringer, cond float64) error {
	return &errs.ConditionError{Block: -1, Op: op.String(), Value: cond,
		Reason: fmt.Sprintf("matrix is numerically singular (condition estimate %.3g > %.0e)", cond, SingularCond)}
}

// SolveOp solves a linear system with the LU factorisation of its first
// input A (square), writing Â for A, or Aᵀ when Trans is set:
//
//	X = Â⁻¹ C   (Right unset)        X = C Â⁻¹   (Right set)
//
// Rules (left form; the right form mirrors them):
//
//	backward:  C̄ = Â⁻ᵀ X̄,  Â̄ = −C̄ Xᵀ
//	JVP:       Ẋ = Â⁻¹ (Ċ − Â̇ X)
//	inverse:   C = Â X  (always);  Â = C X⁻¹  (X square and nonsingular)
type SolveOp struct {
	Binary
	Right, Trans bool
}

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	FlopCounter
	Conditioner
} = SolveOp{}

// Solve returns the node a⁻¹c, solved with the LU factorisation of a.
func Solve(a, c *G.Node) (*G.Node, error) { return Apply(SolveOp{}, a, c) }

func (o SolveOp) String() string {
	a := "A"
	if o.Trans {
		a = "Aᵀ"
	}
	if o.Right {
		return "C" + a + "⁻¹"
	}
	return a + "⁻¹C"
}
func (o SolveOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SolveOp) Hashcode() uint32      { return Hashcode(o) }

func (o SolveOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	a, c := s[0], s[1]
	if a[0] != a[1] {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("A has shape %v, want square", a)}
	}
	if (!o.Right && c[0] != a[0]) || (o.Right && c[1] != a[0]) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("C has shape %v, incompatible with A %v", c, a)}
	}
	return c.Clone(), nil
}

func (o SolveOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o SolveOp) do(v ...G.Value) (G.Value, error) {
	a, c, err := matrices(v)
	if err != nil {
		return nil, err
	}
	lu, err := heldLU(o, a)
	if err != nil {
		return nil, err
	}
	defer lu.done()
	r, cols := c.Dims()
	if !o.Right { // SolveTo copies C into X, then solves in place
		x := mat.NewDense(r, cols, alloc(r*cols))
		err = lu.SolveTo(x, o.Trans, c)
		return FromMatrix(x), wrapCond(o, err)
	}
	x := mat.NewDense(r, cols, alloc(r*cols)) // X Â = C, solved on the right
	err = lu.SolveRightTo(x, o.Trans, c)
	return FromMatrix(x), wrapCond(o, err)
}

// Flops: the LU factorisation of the n×n matrix, 2n³/3 (counted although
// the cache may serve it), and the two triangular solves, 2n² per column
// of C.
func (SolveOp) Flops(in []tensor.Shape) float64 {
	if len(in) != 2 || len(in[0]) != 2 {
		return 0
	}
	n := float64(in[0][0])
	return 2*n*n*n/3 + 2*n*float64(in[1].TotalSize())
}

func wrapCond(op fmt.Stringer, err error) error {
	if c, ok := err.(mat.Condition); ok {
		return singular(op, float64(c))
	}
	return err
}

// hat returns Â = A or Aᵀ, as a node (for a tangent, nil stays nil).
func (o SolveOp) hat(a *G.Node, b *Builder) *G.Node {
	if a == nil || !o.Trans {
		return a
	}
	return b.T(a)
}

func (o SolveOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	adjoint := SolveOp{Right: o.Right, Trans: !o.Trans}
	gc := b.Apply(adjoint, in[0], adj) // Â⁻ᵀ X̄  or  X̄ Â⁻ᵀ
	g := []*G.Node{nil, gc}
	if need(needs, 0) {
		var ghat *G.Node
		if o.Right {
			ghat = b.Scale(-1, b.MatMul(b.T(out), gc)) // −Xᵀ C̄
		} else {
			ghat = b.Scale(-1, b.MatMul(gc, b.T(out))) // −C̄ Xᵀ
		}
		g[0] = o.hat(ghat, &b)
	}
	return g, b.Err
}

func (o SolveOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil && tan[1] == nil {
		return nil, nil
	}
	var b Builder
	var r *G.Node
	if dA := o.hat(tan[0], &b); dA != nil {
		if o.Right {
			r = b.MatMul(out, dA)
		} else {
			r = b.MatMul(dA, out)
		}
	}
	return b.Apply(o, in[0], b.Sub(tan[1], r)), b.Err
}

func (o SolveOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	if wrt == 1 {
		ahat := o.hat(in[0], &b)
		if o.Right {
			return b.MatMul(out, ahat), b.Err
		}
		return b.MatMul(ahat, out), b.Err
	}
	if s := out.Shape(); s[0] != s[1] {
		return nil, noInverse(o, wrt, "X is %v, not square: A is not determined by X and C", s)
	}
	// Left: Â X = C ⇒ Â = C X⁻¹.  Right: X Â = C ⇒ Â = X⁻¹ C.
	ahat := b.Apply(SolveOp{Right: !o.Right}, out, in[1])
	return o.hat(ahat, &b), b.Err
}

func (o SolveOp) InverseCondition(wrt int) string {
	if wrt == 1 {
		return "always"
	}
	return "X square and nonsingular"
}

// Condition reports the rank and 1-norm condition estimate of A from its
// LU factorisation.
func (o SolveOp) Condition(in []G.Value) (MatrixCondition, error) { return luCondition(o, in[0]) }

func luCondition(op fmt.Stringer, v G.Value) (MatrixCondition, error) {
	a, err := Matrix(v)
	if err != nil {
		return MatrixCondition{}, err
	}
	r, c := a.Dims()
	mc := MatrixCondition{Rows: r, Cols: c, Rank: r, Method: "LU (1-norm estimate)"}
	lu, err := heldLU(op, a)
	var s *errs.ConditionError
	if errors.As(err, &s) {
		mc.Cond, mc.Rank = s.Value, r-1 // at most: the estimate says singular
		return mc, nil
	}
	if err != nil {
		return mc, err
	}
	mc.Cond = lu.Cond()
	lu.done()
	return mc, nil
}
