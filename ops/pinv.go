package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/newtonia/newtonia/errs"

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
type PInvOp struct{ Unary }

var _ interface {
	G.Op
	VJPer
	JVPer
	Inverter
	Conditioner
} = PInvOp{}

// PInv returns the node a⁺.
func PInv(a *G.Node) (*G.Node, error) { return Apply(PInvOp{}, a) }

func (PInvOp) String() string          { return "A⁺" }
func (o PInvOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o PInvOp) Hashcode() uint32      { return Hashcode(o) }

func (o PInvOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := MatrixShapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0][1], s[0][0]}, nil
}

func (o PInvOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o PInvOp) do(v ...G.Value) (G.Value, error) {
	a, err := Matrix(v[0])
	if err != nil {
		return nil, err
	}
	y, _, err := pinv(a)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	return FromMatrix(mat.DenseCopyOf(y)), nil // the cache keeps its own
}

type pinvResult struct {
	y    *mat.Dense // A⁺
	rank int
	cond float64 // σ_max/σ_rank
	err  error
}

// pinv returns A⁺ (n×m for an m×n A) and the numerical rank of A, from
// the thin SVD: A⁺ = V_r Σ_r⁻¹ U_rᵀ over the singular values above
// max(m, n)·ε·σ_max. Results are cached by the matrix's contents.
func pinv(a *mat.Dense) (*mat.Dense, int, error) {
	v, _ := pinvCache.get(a, func() (any, error) { return computePinv(a), nil })
	res := v.(*pinvResult)
	return res.y, res.rank, res.err
}

func computePinv(a *mat.Dense) *pinvResult {
	if res := pinvQR(a); res != nil {
		return res
	}
	return pinvSVD(a)
}

// pinvQR computes A⁺ from a QR factorisation when A has full rank, which a
// condition estimate of R confirms: A = QR, A⁺ = R⁻¹Qᵀ for a tall A, and
// A⁺ = Q R⁻ᵀ from Aᵀ = QR for a wide one — several times cheaper than the
// SVD. It returns nil (use the SVD) when R's condition estimate exceeds
// 1/(max(m, n)·ε), where the rank is in doubt.
func pinvQR(a *mat.Dense) *pinvResult {
	m, n := a.Dims()
	wide := m < n
	var src mat.Matrix = a
	if wide {
		src = a.T()
	}
	var qr mat.QR
	qr.Factorize(src)
	cond := qr.Cond()
	if !(cond < 1/(float64(max(m, n))*0x1p-52)) {
		return nil
	}
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	k := min(m, n)
	qk := q.Slice(0, max(m, n), 0, k)
	rk := mat.NewTriDense(k, mat.Upper, nil)
	rk.Copy(r.Slice(0, k, 0, k))
	// X = R⁻¹ Qᵀ (k × max), by a triangular solve with Qᵀ as right-hand side.
	var x mat.Dense
	if err := x.Solve(rk, qk.T()); err != nil {
		return nil
	}
	var y mat.Dense
	if wide {
		y.CloneFrom(x.T()) // A⁺ = (Aᵀ⁺)ᵀ
	} else {
		y.CloneFrom(&x)
	}
	// The 2-norm condition of A equals R's; QR.Cond is the 1-norm estimate.
	return &pinvResult{y: &y, rank: k, cond: cond}
}

func pinvSVD(a *mat.Dense) *pinvResult {
	m, n := a.Dims()
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return &pinvResult{err: &errs.ConditionError{Block: -1, Reason: "SVD did not converge"}}
	}
	s := svd.Values(nil)
	rank := svd.Rank(float64(max(m, n)) * 0x1p-52)
	res := &pinvResult{rank: rank, cond: math.Inf(1)}
	if rank > 0 {
		res.cond = s[0] / s[rank-1]
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	// V_r Σ_r⁻¹: scale the first rank columns of V, then one product with U_rᵀ.
	vr := mat.DenseCopyOf(v.Slice(0, n, 0, max(rank, 1)))
	for j := 0; j < rank; j++ {
		col := vr.ColView(j).(*mat.VecDense)
		col.ScaleVec(1/s[j], col)
	}
	res.y = mat.NewDense(n, m, nil)
	if rank > 0 {
		res.y.Mul(vr, u.Slice(0, m, 0, rank).T())
	}
	return res
}

func (PInvOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	dA := tan[0]
	if dA == nil {
		return nil, nil
	}
	var b Builder
	a, y := in[0], out
	dAt := b.T(dA)
	yyt := b.MatMul(y, b.T(y))
	yty := b.MatMul(b.T(y), y)
	// Y Yᵀ Ȧᵀ (I − A Y) = Y Yᵀ Ȧᵀ − (Y Yᵀ Ȧᵀ A) Y
	left := b.MatMul(yyt, dAt)
	t2 := b.Sub(left, b.MatMul(b.MatMul(left, a), y))
	// (I − Y A) Ȧᵀ Yᵀ Y = Ȧᵀ Yᵀ Y − Y (A Ȧᵀ Yᵀ Y)
	right := b.MatMul(dAt, yty)
	t3 := b.Sub(right, b.MatMul(y, b.MatMul(a, right)))
	t1 := b.Scale(-1, b.MatMul(y, b.MatMul(dA, y)))
	return b.Add(t1, b.Add(t2, t3)), b.Err
}

func (PInvOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	a, y := in[0], out
	yt, gt := b.T(y), b.T(adj)
	t1 := b.Scale(-1, b.MatMul(yt, b.MatMul(adj, yt)))
	// (I − A Y) Ȳᵀ Y Yᵀ = Z − A (Y Z),  Z = Ȳᵀ Y Yᵀ
	z := b.MatMul(gt, b.MatMul(y, yt))
	t2 := b.Sub(z, b.MatMul(a, b.MatMul(y, z)))
	// Yᵀ Y Ȳᵀ (I − Y A) = W − (W Y) A,  W = Yᵀ Y Ȳᵀ
	w := b.MatMul(b.MatMul(yt, y), gt)
	t3 := b.Sub(w, b.MatMul(b.MatMul(w, y), a))
	return []*G.Node{b.Add(t1, b.Add(t2, t3))}, b.Err
}

func (PInvOp) Inverse(wrt int, in []*G.Node, out *G.Node) (*G.Node, error) {
	var b Builder
	return b.Apply(PInvOp{}, out), b.Err
}

func (PInvOp) InverseCondition(int) string {
	return "always ((A⁺)⁺ = A); derivatives assume the rank is locally constant"
}

// Condition reports the numerical rank of A and σ_max/σ_rank, the
// condition number of A on its range (from the cached SVD).
func (o PInvOp) Condition(in []G.Value) (MatrixCondition, error) {
	a, err := Matrix(in[0])
	if err != nil {
		return MatrixCondition{}, err
	}
	r, c := a.Dims()
	v, _ := pinvCache.get(a, func() (any, error) { return computePinv(a), nil })
	res := v.(*pinvResult)
	if res.err != nil {
		return MatrixCondition{}, fmt.Errorf("%v: %w", o, res.err)
	}
	return MatrixCondition{Rows: r, Cols: c, Rank: res.rank, Cond: res.cond, Method: "SVD (2-norm, on the range)"}, nil
}
