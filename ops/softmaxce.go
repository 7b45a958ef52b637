package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCEOp is the fused row-wise softmax cross-entropy and, by Order,
// its derivatives with respect to the logits Z (B×n), targets Y (B×n,
// rows one-hot or probabilities; s_i = Σ_j y_ij, 1 for distributions),
// p_i = softmax(z_i):
//
//	Order 0:  J(Z, Y)    = −Σ_i Σ_j y_ij log p_ij = Σ_i (s_i lse(z_i) − y_iᵀz_i)   (a scalar)
//	Order 1:  δ(Z, Y)    = ∂J/∂Z:  δ_i = s_i p_i − y_i
//	Order 2:  K(Z, T, Y) = (∂δ/∂Z) T:  K_i = s_i (p_i ⊙ t_i − p_i (p_iᵀ t_i))
//	Order 3:  L(Z, T, S, Y) = (∂K/∂Z) S:  L_i = s_i (p_i ⊙ a_i − p_i (p_iᵀ a_i)),
//	          a_i = (t_i − p_iᵀt_i) ⊙ (s_i − p_iᵀs_i)   (s_i the row of S)
//
// Rules: J̄ → Z̄ = J̄·δ;  δ̄ → Z̄ = K(Z, δ̄, Y) (the per-row Jacobian
// s(diag p − ppᵀ) is symmetric);  K is linear in T, its own adjoint;
// δ is linear in Y: δ̇ = K(Z, Ż, Y) + δ(Z, Ẏ); K and L are linear in the
// row sums of Y: K̇ = L(Z, T, Ż, Y) + K(Z, Ṫ, Ẏ), and K̄ → Z̄ = L(Z, T, K̄, Y)
// (the third derivative is symmetric); L is linear in T and S, symmetric
// in them. Derivatives of L with respect to Z (fourth order), and the
// adjoint with respect to Y (targets are data), are not provided and are
// errors if asked for.
// The gradient is not injective in Z (softmax ignores a shift of a row),
// so there is no op-by-op inverse: the per-sample route (method.md §9)
// solves with M_i = s_i(diag p_i − p_i p_iᵀ), which is singular — a block
// ending in softmax cross-entropy is Newton-only unless damped.
type SoftmaxCEOp struct {
	Pure
	Order int
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SoftmaxCEOp{}

// SoftmaxCE returns the scalar node −Σ y ⊙ log softmax(z) (rows of z and y
// are samples).
func SoftmaxCE(z, y *G.Node) (*G.Node, error) { return Apply(SoftmaxCEOp{}, z, y) }

func (o SoftmaxCEOp) String() string {
	return [...]string{"softmaxCE", "softmaxCE′", "softmaxCE″", "softmaxCE‴"}[min(max(o.Order, 0), 3)]
}
func (o SoftmaxCEOp) Arity() int            { return max(o.Order, 1) + 1 }
func (o SoftmaxCEOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SoftmaxCEOp) Hashcode() uint32      { return Hashcode(o) }

func (o SoftmaxCEOp) Type() hm.Type {
	if o.Order == 0 {
		return toScalar(2)
	}
	return sameType(o.Arity())
}

func (o SoftmaxCEOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if o.Order < 0 || o.Order > 3 {
		return nil, &errs.ShapeError{What: "softmaxCE", Reason: fmt.Sprintf("order %d, want 0, 1, 2 or 3", o.Order)}
	}
	ss, err := MatrixShapes(o, o.Arity(), in)
	if err != nil {
		return nil, err
	}
	for i, s := range ss[1:] {
		if !s.Eq(ss[0]) {
			return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input %d has shape %v, input 0 has %v", i+1, s, ss[0])}
		}
	}
	if o.Order == 0 {
		return tensor.ScalarShape(), nil
	}
	return ss[0].Clone(), nil
}

func (o SoftmaxCEOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o SoftmaxCEOp) do(v ...G.Value) (G.Value, error) {
	z, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	y, sy, err := floats(v[len(v)-1])
	if err != nil {
		return nil, err
	}
	if len(s) != 2 || !s.Eq(sy) {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("shapes %v and %v", s, sy)}
	}
	var t, u []float64
	if o.Order >= 2 {
		if t, _, err = floats(v[1]); err != nil {
			return nil, err
		}
	}
	if o.Order == 3 {
		if u, _, err = floats(v[2]); err != nil {
			return nil, err
		}
	}
	a := make([]float64, s[1])
	r, c := s[0], s[1]
	out := make([]float64, r*c)
	p := make([]float64, c)
	var loss float64
	for i := 0; i < r; i++ {
		zi, yi := z[i*c:(i+1)*c], y[i*c:(i+1)*c]
		lse := softmax(p, zi)
		var si, ptt float64
		for j := range c {
			si += yi[j]
		}
		switch o.Order {
		case 0:
			loss += si * lse
			for j := range c {
				loss -= yi[j] * zi[j]
			}
		case 1:
			for j := range c {
				out[i*c+j] = si*p[j] - yi[j]
			}
		case 2:
			ti := t[i*c : (i+1)*c]
			for j := range c {
				ptt += p[j] * ti[j]
			}
			for j := range c {
				out[i*c+j] = si * p[j] * (ti[j] - ptt)
			}
		case 3:
			ti, ui := t[i*c:(i+1)*c], u[i*c:(i+1)*c]
			var ptu, pta float64
			for j := range c {
				ptt += p[j] * ti[j]
				ptu += p[j] * ui[j]
			}
			for j := range c {
				a[j] = (ti[j] - ptt) * (ui[j] - ptu)
				pta += p[j] * a[j]
			}
			for j := range c {
				out[i*c+j] = si * p[j] * (a[j] - pta)
			}
		}
	}
	if o.Order == 0 {
		return G.NewF64(loss), nil
	}
	return newValue(s, out), nil
}

// softmax writes softmax(z) into p and returns log Σ exp(z), shifted by
// the maximum so that nothing overflows.
func softmax(p, z []float64) float64 {
	m := math.Inf(-1)
	for _, x := range z {
		m = math.Max(m, x)
	}
	var sum float64
	for j, x := range z {
		p[j] = math.Exp(x - m)
		sum += p[j]
	}
	for j := range p {
		p[j] /= sum
	}
	return m + math.Log(sum)
}

func (o SoftmaxCEOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	g := make([]*G.Node, len(in))
	y := in[len(in)-1]
	switch o.Order {
	case 0:
		if need(needs, 0) {
			g[0] = b.ScalarMul(adj, b.Apply(SoftmaxCEOp{Order: 1}, in[0], y))
		}
	case 1:
		if need(needs, 0) {
			g[0] = b.Apply(SoftmaxCEOp{Order: 2}, in[0], adj, y)
		}
	case 2:
		if need(needs, 0) {
			g[0] = b.Apply(SoftmaxCEOp{Order: 3}, in[0], in[1], adj, y)
		}
		if need(needs, 1) {
			g[1] = b.Apply(o, in[0], adj, y)
		}
	case 3:
		if need(needs, 0) {
			return nil, o.fourth()
		}
		if need(needs, 1) {
			g[1] = b.Apply(o, in[0], in[2], adj, y)
		}
		if need(needs, 2) {
			g[2] = b.Apply(o, in[0], in[1], adj, y)
		}
	}
	if need(needs, len(in)-1) {
		return nil, &errs.NoRuleError{Op: o, Rule: "VJP with respect to the targets (data)"}
	}
	return g, b.Err
}

func (o SoftmaxCEOp) fourth() error {
	return &errs.NoRuleError{Op: o, Rule: "derivative with respect to the logits (fourth order)"}
}

func (o SoftmaxCEOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	var b Builder
	y, ty := in[len(in)-1], tan[len(tan)-1]
	var r *G.Node
	switch o.Order {
	case 0:
		if ty != nil {
			return nil, &errs.NoRuleError{Op: o, Rule: "JVP with respect to the targets (data)"}
		}
		if tan[0] != nil {
			r = b.Inner(b.Apply(SoftmaxCEOp{Order: 1}, in[0], y), tan[0])
		}
	case 1:
		if tan[0] != nil {
			r = b.Apply(SoftmaxCEOp{Order: 2}, in[0], tan[0], y)
		}
		if ty != nil {
			r = b.Add(r, b.Apply(o, in[0], ty))
		}
	case 2:
		if tan[0] != nil {
			r = b.Apply(SoftmaxCEOp{Order: 3}, in[0], in[1], tan[0], y)
		}
		if tan[1] != nil {
			r = b.Add(r, b.Apply(o, in[0], tan[1], y))
		}
		if ty != nil {
			r = b.Add(r, b.Apply(o, in[0], in[1], ty))
		}
	case 3:
		if tan[0] != nil {
			return nil, o.fourth()
		}
		if tan[1] != nil {
			r = b.Apply(o, in[0], tan[1], in[2], y)
		}
		if tan[2] != nil {
			r = b.Add(r, b.Apply(o, in[0], in[1], tan[2], y))
		}
		if ty != nil {
			r = b.Add(r, b.Apply(o, in[0], in[1], in[2], ty))
		}
	}
	return r, b.Err
}

// RowWise: every order acts row by row (order 0 is a sum over rows).
func (SoftmaxCEOp) RowWise(in []*G.Node, marked []bool) bool { return true }
