package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ProductOp is the product of every element of a matrix, f(x) = Π_i x_i
// (the writeup's x₁x₂x₃), and by Order its derivatives:
//
//	Order 0:  f(x)    = Π_i x_i                                 (a scalar)
//	Order 1:  ∇f(x)_i = Π_{j≠i} x_j
//	Order 2:  K(x, t) = H(x) t,  (H t)_i = Σ_{j≠i} t_j Π_{k≠i,j} x_k
//	Order 3:  T(x, t, s) = ∇³f[t, s],  T_i = Σ_{j≠i} t_j (H_{−i} s_{−i})_j,
//	          H_{−i} the Hessian of the product of the elements but i
//
// Rules: f̄ → x̄ = f̄·∇f;  ḟ = ⟨∇f, ẋ⟩;  ∇f's JVP and VJP are K (H is
// symmetric); K is linear in t, its own adjoint, and its derivative in x
// along ẋ is T(x, t, ẋ) (the third derivative is symmetric, so that is
// its adjoint too); T is linear in t and s, symmetric in them; derivatives
// of T with respect to x (fourth order) are not provided and are errors
// if asked.
// Products are taken without division, so zeros are exact.
//
// Inverse of the whole gradient map (ops.GradientInverter; no op-by-op
// inverse exists, since every ∇f_i depends on all other inputs): with
// c = ∇f·f̄ the VJP contribution and G = c/f̄ = ∇f, n elements, m = n − 1,
//
//	Π_i G_i = P^m  with P = f(x),   x = P ⊘ G,
//	P = sign(Π G)|Π G|^(1/m) for an odd m; for an even m (n = 3) the sign
//	of P is frozen at the current point: P = sign(f(x₀))(Π G)^(1/m).
//
// For x₁x₂x₃: x₁ = ±√(g₂g₃/g₁), …, signs from the current point; it
// needs every g_i ≠ 0 (every x_i ≠ 0), where H, of determinant 2x₁x₂x₃,
// is invertible. The B-pass differentiates these nodes: H⁻¹v exactly.
type ProductOp struct {
	Pure
	Order int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	GradientInverter
	RowWiser
} = ProductOp{}

// Product returns the scalar node Π x.
func Product(x *G.Node) (*G.Node, error) { return Apply(ProductOp{}, x) }

func (o ProductOp) String() string {
	return [...]string{"Π", "Π′", "Π″", "Π‴"}[min(max(o.Order, 0), 3)]
}
func (o ProductOp) Arity() int            { return max(o.Order, 1) }
func (o ProductOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o ProductOp) Hashcode() uint32      { return Hashcode(o) }

func (o ProductOp) Type() hm.Type {
	if o.Order == 0 {
		return toScalar(1)
	}
	return sameType(o.Arity())
}

func (o ProductOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if o.Order < 0 || o.Order > 3 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("order %d, want 0, 1, 2 or 3", o.Order)}
	}
	s, err := EqualShapes(o, o.Arity(), in)
	if err != nil {
		return nil, err
	}
	if o.Order == 0 {
		return tensor.ScalarShape(), nil
	}
	return s, nil
}

func (o ProductOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o ProductOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	switch o.Order {
	case 0:
		p := 1.0
		for _, xi := range x {
			p *= xi
		}
		return G.NewF64(p), nil
	case 1:
		return newValue(s, productGrad(x)), nil
	}
	t, st, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	if len(t) != len(x) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shapes %v and %v", s, st)}
	}
	if o.Order == 2 {
		return newValue(s, productHess(x, t)), nil
	}
	u, su, err := floats(v[2])
	if err != nil {
		return nil, err
	}
	if len(u) != len(x) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shapes %v and %v", s, su)}
	}
	return newValue(s, productThird(x, t, u)), nil
}

// without returns x without its element i, in rest's memory.
func without(rest, x []float64, i int) []float64 {
	return append(append(rest[:0], x[:i]...), x[i+1:]...)
}

// productHess returns H(x) t: (H t)_i = ⟨∇(Π_{k≠i} x_k), t_{≠i}⟩.
func productHess(x, t []float64) []float64 {
	out := make([]float64, len(x))
	var rest, tr []float64
	for i := range x {
		rest = without(rest, x, i)
		tr = without(tr, t, i)
		for j, g := range productGrad(rest) {
			out[i] += tr[j] * g
		}
	}
	return out
}

// productThird returns ∇³f[t, s]: T_i = ⟨t_{≠i}, H_{−i}(x_{≠i}) s_{≠i}⟩.
func productThird(x, t, s []float64) []float64 {
	out := make([]float64, len(x))
	var rest, tr, sr []float64
	for i := range x {
		rest, tr, sr = without(rest, x, i), without(tr, t, i), without(sr, s, i)
		for j, h := range productHess(rest, sr) {
			out[i] += tr[j] * h
		}
	}
	return out
}

// productGrad returns ∇(Π x)_i = Π_{j≠i} x_j from prefix and suffix
// products (no division).
func productGrad(x []float64) []float64 {
	g := make([]float64, len(x))
	p := 1.0
	for i := range x {
		g[i] = p
		p *= x[i]
	}
	p = 1
	for i := len(x) - 1; i >= 0; i-- {
		g[i] *= p
		p *= x[i]
	}
	return g
}

func (o ProductOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	switch o.Order {
	case 0:
		return []*G.Node{b.ScalarMul(adj, b.Apply(ProductOp{Order: 1}, in[0]))}, b.Err
	case 1:
		return []*G.Node{b.Apply(ProductOp{Order: 2}, in[0], adj)}, b.Err
	case 2:
		g := make([]*G.Node, 2)
		if need(needs, 0) { // ⟨adj, T(x, t, ẋ)⟩ = ⟨T(x, t, adj), ẋ⟩
			g[0] = b.Apply(ProductOp{Order: 3}, in[0], in[1], adj)
		}
		if need(needs, 1) {
			g[1] = b.Apply(ProductOp{Order: 2}, in[0], adj)
		}
		return g, b.Err
	}
	if need(needs, 0) {
		return nil, &errs.NoRuleError{Op: o, Rule: "VJP with respect to x (fourth order)"}
	}
	g := make([]*G.Node, 3)
	if need(needs, 1) {
		g[1] = b.Apply(ProductOp{Order: 3}, in[0], in[2], adj)
	}
	if need(needs, 2) {
		g[2] = b.Apply(ProductOp{Order: 3}, in[0], in[1], adj)
	}
	return g, b.Err
}

func (o ProductOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	switch {
	case o.Order == 3 && tan[0] != nil:
		return nil, &errs.NoRuleError{Op: o, Rule: "JVP with respect to x (fourth order)"}
	case o.Order == 3:
		var r *G.Node
		if tan[1] != nil {
			r = b.Apply(o, in[0], tan[1], in[2])
		}
		if tan[2] != nil {
			r = b.Add(r, b.Apply(o, in[0], in[1], tan[2]))
		}
		return r, b.Err
	case o.Order == 2:
		var r *G.Node
		if tan[0] != nil {
			r = b.Apply(ProductOp{Order: 3}, in[0], in[1], tan[0])
		}
		if tan[1] != nil {
			r = b.Add(r, b.Apply(ProductOp{Order: 2}, in[0], tan[1]))
		}
		return r, b.Err
	case tan[0] == nil:
		return nil, nil
	case o.Order == 1:
		return b.Apply(ProductOp{Order: 2}, in[0], tan[0]), b.Err
	}
	return b.Inner(b.Apply(ProductOp{Order: 1}, in[0]), tan[0]), b.Err
}

// InverseGradient is the inverse of the whole gradient map (see the type).
func (o ProductOp) InverseGradient(wrt int, in []*G.Node, adj, value, at *G.Node) (*G.Node, error) {
	if o.Order != 0 {
		return nil, noInverse(o, wrt, "only the product itself has a gradient inverse")
	}
	n := at.Shape().TotalSize()
	if n < 2 {
		return nil, noInverse(o, wrt, "a product of one element has a constant gradient")
	}
	m := n - 1
	var b Builder
	g := b.Apply(ScalarMulOp{Divide: true}, adj, value) // ∇f = c / f̄
	q := b.Apply(ProductOp{}, g)                        // Π G = P^m
	root := b.Apply(ElementwiseOp{F: PowFunc{1 / float64(m)}}, b.Apply(ElementwiseOp{F: AbsFunc{}}, q))
	branch := q // the sign of P: of Π G for an odd m
	if m%2 == 0 {
		branch = b.Apply(ProductOp{}, at) // of f(x₀): frozen
	}
	p := b.Mul(b.Apply(ElementwiseOp{F: AbsFunc{}, Order: 1}, branch), root)
	return b.ScalarMul(p, b.Apply(ElementwiseOp{F: PowFunc{-1}}, g)), b.Err
}

func (o ProductOp) InverseGradientCondition(int) string {
	return "every ∇f_i ≠ 0 (every x_i ≠ 0 for three or more factors); for an odd number of factors the sign of Π x is that of the current point"
}

// RowWise: a product mixes every element, and so does H(x)t in t (each
// (Ht)_i reads every t_j but t_i): row-wise only when nothing is marked.
func (o ProductOp) RowWise(in []*G.Node, marked []bool) bool {
	for i := range in {
		if marked[i] {
			return false
		}
	}
	return true
}
