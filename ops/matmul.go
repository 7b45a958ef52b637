package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"

	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MatMulOp is the matrix product C = A·B of an m×k and a k×n matrix.
//
//	backward:  Ā = C̄ Bᵀ,  B̄ = Aᵀ C̄
//	JVP:       Ċ = Ȧ B + A Ḃ
//	inverse:   B = A⁻¹ C  (A square, LU)   else  B = A⁺ C  (SVD)
//	           A = C B⁻¹  (B square, LU)   else  A = C B⁺  (SVD)
//
// The pseudo-inverse branch is an exact inverse when the known factor has
// full rank on the side being solved (A full column rank, B full row rank);
// otherwise it returns the minimum-norm least-squares solution.
type MatMulOp struct{ Binary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	InverseKinder
	RowWiser
	FlopCounter
	TransposeFuser
} = MatMulOp{}

// MatMul returns the node a·b.
func MatMul(a, b *G.Node) (*G.Node, error) { return Apply(MatMulOp{}, a, b) }

func (MatMulOp) String() string          { return "A×B" }
func (o MatMulOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o MatMulOp) Hashcode() uint32      { return Hashcode(o) }

func (o MatMulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 2, in)
	if err != nil {
		return nil, err
	}
	if s[0][1] != s[1][0] {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("inner dimensions differ: %v × %v", s[0], s[1])}
	}
	return tensor.Shape{s[0][0], s[1][1]}, nil
}

func (o MatMulOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

// DoTransposed multiplies with either factor read transposed: the flags
// reach the BLAS product, no transpose is formed (TransposeFuser).
func (o MatMulOp) DoTransposed(trans []bool, v ...G.Value) (G.Value, error) {
	out, err := o.doT(trans, v...)
	return checked(o, out, err)
}

func (o MatMulOp) do(v ...G.Value) (G.Value, error) { return o.doT(nil, v...) }

func (o MatMulOp) doT(trans []bool, v ...G.Value) (G.Value, error) {
	a, b, err := matrices(v)
	if err != nil {
		return nil, err
	}
	var x, y mat.Matrix = a, b
	if len(trans) == 2 && trans[0] {
		x = a.T()
	}
	if len(trans) == 2 && trans[1] {
		y = b.T()
	}
	if _, k := x.Dims(); k != first(y.Dims()) {
		return nil, &errs.ShapeError{What: o.String(), Reason: "inner dimensions differ"}
	}
	r, _ := x.Dims()
	_, cols := y.Dims()
	c := mat.NewDense(r, cols, alloc(r*cols)) // Mul overwrites every element
	c.Mul(x, y)
	return FromMatrix(c), nil
}

func first(a, _ int) int { return a }

// Flops: 2mkn for an m×k times a k×n matrix.
func (MatMulOp) Flops(in []tensor.Shape) float64 {
	if len(in) != 2 || len(in[0]) != 2 || len(in[1]) != 2 {
		return 0
	}
	return 2 * float64(in[0][0]) * float64(in[0][1]) * float64(in[1][1])
}

// matMulRule: Ċ = Ȧ B + A Ḃ;  Ā = C̄ Bᵀ,  B̄ = Aᵀ C̄.
var matMulRule = Bilinear{
	F:    (*Builder).MatMul,
	AdjA: func(b *Builder, adj, y *G.Node) *G.Node { return b.MatMul(adj, b.T(y)) },
	AdjC: func(b *Builder, x, adj *G.Node) *G.Node { return b.MatMul(b.T(x), adj) },
}

func (MatMulOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	return matMulRule.VJP(in, out, adj, needs)
}

func (MatMulOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	return matMulRule.JVP(in, out, tan)
}

func (MatMulOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	var r *G.Node
	switch wrt {
	case 1: // B from C = A·B
		a := in[0]
		if s := a.Shape(); s[0] == s[1] {
			if at, ok := transposed(a); ok { // solve with Aᵀ's LU: shared with A's
				r = b.Apply(SolveOp{Trans: true}, at, out)
			} else {
				r = b.Apply(SolveOp{}, a, out)
			}
		} else if at, ok := transposed(a); ok { // (Xᵀ)⁺ = (X⁺)ᵀ: one SVD for X and Xᵀ
			r = b.MatMul(b.T(b.Apply(PInvOp{}, at)), out)
		} else {
			r = b.MatMul(b.Apply(PInvOp{}, a), out)
		}
	case 0: // A from C = A·B
		bm := in[1]
		if s := bm.Shape(); s[0] == s[1] {
			if bt, ok := transposed(bm); ok {
				r = b.Apply(SolveOp{Right: true, Trans: true}, bt, out)
			} else {
				r = b.Apply(SolveOp{Right: true}, bm, out)
			}
		} else if bt, ok := transposed(bm); ok {
			r = b.MatMul(out, b.T(b.Apply(PInvOp{}, bt)))
		} else {
			r = b.MatMul(out, b.Apply(PInvOp{}, bm))
		}
	default:
		return nil, noInverse(MatMulOp{}, wrt, "no such input")
	}
	return r, b.Err
}

func (MatMulOp) InverseCondition(wrt int) string {
	if wrt == 1 {
		return "A square and nonsingular (B = A⁻¹C); otherwise B = A⁺C, exact when A has full column rank, minimum-norm when A has full row rank"
	}
	return "B square and nonsingular (A = CB⁻¹); otherwise A = CB⁺, exact when B has full row rank, minimum-norm when B has full column rank"
}

// InverseKind classifies the inverse by the known factor's shape: solving
// C = A·B for B is injective when A has at least as many rows as columns
// (full column rank), and solving for A when B has at least as many
// columns as rows.
func (MatMulOp) InverseKind(wrt int, in []*G.Node, out *G.Node) (InverseKind, string) {
	var s []int
	var r, c int
	if wrt == 1 {
		s = in[0].Shape()
		r, c = s[0], s[1]
	} else {
		s = in[1].Shape()
		r, c = s[1], s[0] // A ↦ A·B behaves like Bᵀ acting on Aᵀ
	}
	factor := map[int]string{1: "A", 0: "B"}[wrt]
	switch {
	case r == c:
		return Bijective, fmt.Sprintf("%s is %v, square", factor, s)
	case r > c:
		return LeftInverse, fmt.Sprintf("%s is %v: the map is injective but not onto; exact on its range", factor, s)
	}
	var hint string
	if wrt == 1 {
		hint = fmt.Sprintf("%s has more columns (%d) than rows (%d)", factor, s[1], s[0])
	} else {
		hint = fmt.Sprintf("%s has more rows (%d) than columns (%d)", factor, s[0], s[1])
	}
	return MinNorm, hint + ": the map is not injective, the inverse is the minimum-norm preimage"
}

// transposed returns X when n is the node Xᵀ (a TransposeOp).
func transposed(n *G.Node) (*G.Node, bool) {
	if _, ok := n.Op().(TransposeOp); !ok {
		return nil, false
	}
	it := n.Graph().From(n.ID())
	if it == nil || !it.Next() {
		return nil, false
	}
	return it.Node().(*G.Node), true
}

// RowWise: row i of A·B is row i of A times the shared B.
func (MatMulOp) RowWise(in []*G.Node, marked []bool) bool { return !marked[1] }
