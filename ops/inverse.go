package ops

import (
	"hash"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// InvOp is the matrix inverse Y = A⁻¹ of a square nonsingular matrix (by LU;
// a numerically singular A is a *SingularError). Prefer SolveOp to
// multiplying by an inverse.
//
//	backward:  Ā = −Yᵀ Ȳ Yᵀ
//	JVP:       Ẏ = −Y Ȧ Y
//	inverse:   A = Y⁻¹  (always, Y being nonsingular)
type InvOp struct{ pure }

// Inv returns the node a⁻¹.
func Inv(a *G.Node) (*G.Node, error) { return Apply(InvOp{}, a) }

func (InvOp) String() string          { return "A⁻¹" }
func (InvOp) Arity() int              { return 1 }
func (InvOp) Type() hm.Type           { return sameType(1) }
func (o InvOp) WriteHash(h hash.Hash) { writeHash(h, o) }
func (o InvOp) Hashcode() uint32      { return hashcode(o) }

func (o InvOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := matrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	if s[0][0] != s[0][1] {
		return nil, noInverse(o, 0, "shape %v is not square", s[0])
	}
	return s[0].Clone(), nil
}

func (o InvOp) Do(v ...G.Value) (G.Value, error) {
	out, err := o.do(v...)
	return checked(o, out, err)
}

func (o InvOp) do(v ...G.Value) (G.Value, error) {
	a, err := matrix(v[0])
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
	return fromMatrix(&y), wrapCond(o, err)
}

func eye(n int) *mat.DiagDense {
	d := make([]float64, n)
	for i := range d {
		d[i] = 1
	}
	return mat.NewDiagDense(n, d)
}

func (InvOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b builder
	yt := b.t(out)
	return []*G.Node{b.scale(-1, b.mm(yt, b.mm(adj, yt)))}, b.err
}

func (InvOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b builder
	return b.scale(-1, b.mm(out, b.mm(tan[0], out))), b.err
}

func (InvOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b builder
	return b.apply(InvOp{}, out), b.err
}

func (InvOp) InverseCondition(int) string { return "always (A⁻¹ is nonsingular)" }

// Condition reports the rank and 1-norm condition estimate of A.
func (o InvOp) Condition(in []G.Value) (MatrixCondition, error) { return luCondition(o, in[0]) }
