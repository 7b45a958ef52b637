package ops

import (
	"hash"

	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MatInvOp is the matrix inverse Y = A⁻¹ of a square nonsingular matrix (by LU;
// a numerically singular A is an *errs.ConditionError). Prefer SolveOp to
// multiplying by an inverse.
//
//	backward:  Ā = −Yᵀ Ȳ Yᵀ
//	JVP:       Ẏ = −Y Ȧ Y
//	inverse:   A = Y⁻¹  (always, Y being nonsingular)
type MatInvOp struct{ Unary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	Conditioner
} = MatInvOp{}

// MatInv returns the node a⁻¹ (the matrix inverse).
func MatInv(a *G.Node) (*G.Node, error) { return Apply(MatInvOp{}, a) }

func (MatInvOp) String() string          { return "A⁻¹" }
func (o MatInvOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o MatInvOp) Hashcode() uint32      { return Hashcode(o) }

func (o MatInvOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if s[0][0] != s[0][1] {
		return nil, noInverse(o, 0, "shape %v is not square", s[0])
	}
	return s[0].Clone(), nil
}

func (o MatInvOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o MatInvOp) do(v ...G.Value) (G.Value, error) {
	a, err := Matrix(v[0])
	if err != nil {
		return nil, err
	}
	lu, err := cachedLU(o, a)
	if err != nil {
		return nil, err
	}
	n, _ := a.Dims()
	var y mat.Dense
	err = lu.SolveTo(&y, false, eye(n))
	return FromMatrix(&y), wrapCond(o, err)
}

func eye(n int) *mat.DiagDense {
	d := make([]float64, n)
	for i := range d {
		d[i] = 1
	}
	return mat.NewDiagDense(n, d)
}

func (MatInvOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	yt := b.T(out)
	return []*G.Node{b.Scale(-1, b.MatMul(yt, b.MatMul(adj, yt)))}, b.Err
}

func (MatInvOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Scale(-1, b.MatMul(out, b.MatMul(tan[0], out))), b.Err
}

func (MatInvOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Apply(MatInvOp{}, out), b.Err
}

func (MatInvOp) InverseCondition(int) string { return "always (A⁻¹ is nonsingular)" }

// Condition reports the rank and 1-norm condition estimate of A.
func (o MatInvOp) Condition(in []G.Value) (MatrixCondition, error) { return luCondition(o, in[0]) }
