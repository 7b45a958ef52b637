package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PInvOp is the Moore–Penrose pseudo-inverse Y = A⁺ of an m×n matrix, by
// the SVD. Singular values at or below max(m, n)·ε·σ_max are treated as
// zero (LAPACK's and NumPy's convention).
//
// Where the rank of A is locally constant (Golub & Pereyra 1973):
//
//	JVP:       Ẏ = −Y Ȧ Y + Y Yᵀ Ȧᵀ (I − A Y) + (I − Y A) Ȧᵀ Yᵀ Y
//	backward:  Ā = −Yᵀ Ȳ Yᵀ + (I − A Y) Ȳᵀ Y Yᵀ + Yᵀ Y Ȳᵀ (I − Y A)
//	inverse:   A = Y⁺  (always: (A⁺)⁺ = A)
//
// The I − P terms are expanded (Z − P Z) so that no identity matrix node
// is needed.
type PInvOp struct{ pure }

// PInv returns the node a⁺.
func PInv(a *G.Node) (*G.Node, error) { return Apply(PInvOp{}, a) }

func (PInvOp) String() string          { return "A⁺" }
func (PInvOp) Arity() int              { return 1 }
func (PInvOp) Type() hm.Type           { return sameType(1) }
func (o PInvOp) WriteHash(h hash.Hash) { writeHash(h, o) }
func (o PInvOp) Hashcode() uint32      { return hashcode(o) }

func (o PInvOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := matrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0][1], s[0][0]}, nil
}

func (o PInvOp) Do(v ...G.Value) (G.Value, error) {
	out, err := o.do(v...)
	return checked(o, out, err)
}

func (o PInvOp) do(v ...G.Value) (G.Value, error) {
	a, err := matrix(v[0])
	if err != nil {
		return nil, err
	}
	y, _, err := pinv(a)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	return fromMatrix(y), nil
}

// pinv returns A⁺ and the numerical rank of A.
func pinv(a *mat.Dense) (*mat.Dense, int, error) {
	m, n := a.Dims()
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, 0, fmt.Errorf("SVD did not converge")
	}
	s := svd.Values(nil)
	rcond := float64(max(m, n)) * 0x1p-52
	rank := svd.Rank(rcond)
	var u, vt mat.Dense
	svd.UTo(&u)
	svd.VTo(&vt)
	// A⁺ = V Σ⁺ Uᵀ over the first rank singular triples.
	y := mat.NewDense(n, m, nil)
	for k := 0; k < rank; k++ {
		var outer mat.Dense
		outer.Outer(1/s[k], vt.ColView(k), u.ColView(k))
		y.Add(y, &outer)
	}
	return y, rank, nil
}

func (PInvOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	dA := tan[0]
	if dA == nil {
		return nil, nil
	}
	var b builder
	a, y := in[0], out
	dAt := b.t(dA)
	yyt := b.mm(y, b.t(y))
	yty := b.mm(b.t(y), y)
	// Y Yᵀ Ȧᵀ (I − A Y) = Y Yᵀ Ȧᵀ − (Y Yᵀ Ȧᵀ A) Y
	left := b.mm(yyt, dAt)
	t2 := b.sub(left, b.mm(b.mm(left, a), y))
	// (I − Y A) Ȧᵀ Yᵀ Y = Ȧᵀ Yᵀ Y − Y (A Ȧᵀ Yᵀ Y)
	right := b.mm(dAt, yty)
	t3 := b.sub(right, b.mm(y, b.mm(a, right)))
	t1 := b.scale(-1, b.mm(y, b.mm(dA, y)))
	return b.add(t1, b.add(t2, t3)), b.err
}

func (PInvOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b builder
	a, y := in[0], out
	yt, gt := b.t(y), b.t(adj)
	t1 := b.scale(-1, b.mm(yt, b.mm(adj, yt)))
	// (I − A Y) Ȳᵀ Y Yᵀ = Z − A (Y Z),  Z = Ȳᵀ Y Yᵀ
	z := b.mm(gt, b.mm(y, yt))
	t2 := b.sub(z, b.mm(a, b.mm(y, z)))
	// Yᵀ Y Ȳᵀ (I − Y A) = W − (W Y) A,  W = Yᵀ Y Ȳᵀ
	w := b.mm(b.mm(yt, y), gt)
	t3 := b.sub(w, b.mm(b.mm(w, y), a))
	return []*G.Node{b.add(t1, b.add(t2, t3))}, b.err
}

func (PInvOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b builder
	return b.apply(PInvOp{}, out), b.err
}

func (PInvOp) InverseCondition(int) string {
	return "always ((A⁺)⁺ = A); derivatives assume the rank is locally constant"
}

// Condition reports the numerical rank of A and σ_max/σ_rank, the
// condition number of A on its range.
func (o PInvOp) Condition(in []G.Value) (MatrixCondition, error) {
	a, err := matrix(in[0])
	if err != nil {
		return MatrixCondition{}, err
	}
	r, c := a.Dims()
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		return MatrixCondition{}, fmt.Errorf("%v: SVD did not converge", o)
	}
	s := svd.Values(nil)
	rank := svd.Rank(float64(max(r, c)) * 0x1p-52)
	mc := MatrixCondition{Rows: r, Cols: c, Rank: rank, Cond: math.Inf(1), Method: "SVD (2-norm, on the range)"}
	if rank > 0 {
		mc.Cond = s[0] / s[rank-1]
	}
	return mc, nil
}
