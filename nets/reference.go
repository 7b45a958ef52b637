package nets

import (
	"fmt"

	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// BlockHessian returns the diagonal block H_ll (l counted from 0) of the
// loss Hessian in closed form, for nets whose activations are all piecewise
// linear. With the activation pattern fixed, h_L is linear in W_l, so
//
//	H_ll = J_lᵀ J_l,   J_l = ∂vec(h_L)/∂vec(W_l)
//
// and column (i, j) of J_l is M_L, where M_l = D_l ⊙ (h_{l−1} E_ij),
// M_k = D_k ⊙ (M_{k−1} W_k), D_k = a_k'(net_k). It is computed from the
// bound values of x and the weights with plain gonum arithmetic — no graph
// and no rules — as an oracle exact up to rounding (method.md §8), which
// finite differences of the gradient are not (their rounding, about
// 1e-14 relative, is amplified by the block's condition number).
func (m *MLP) BlockHessian(l int) (*mat.Dense, error) {
	if l < 0 || l >= len(m.Weights) {
		return nil, fmt.Errorf("nets: block %d out of range", l)
	}
	for k, a := range m.Acts {
		if p, ok := a.(ops.PiecewiseLinearFunc); !ok || !p.PiecewiseLinear() {
			return nil, fmt.Errorf("nets: layer %d activation %v is not piecewise linear: no closed form", k+1, a)
		}
	}
	h, err := asMat(m.X.Value())
	if err != nil {
		return nil, fmt.Errorf("nets: x: %w", err)
	}
	ws := make([]*mat.Dense, len(m.Weights))
	hs := []*mat.Dense{h} // h_0 … h_L
	ds := make([]*mat.Dense, len(m.Weights))
	for k, w := range m.Weights {
		if ws[k], err = asMat(w.Value()); err != nil {
			return nil, fmt.Errorf("nets: %s: %w", w.Name(), err)
		}
		var net mat.Dense
		net.Mul(hs[k], ws[k])
		hk, dk := mat.DenseCopyOf(&net), mat.DenseCopyOf(&net)
		hk.Apply(func(_, _ int, x float64) float64 { y, _ := m.Acts[k].Deriv(0, x); return y }, &net)
		dk.Apply(func(_, _ int, x float64) float64 { y, _ := m.Acts[k].Deriv(1, x); return y }, &net)
		hs, ds[k] = append(hs, hk), dk
	}
	in, out := ws[l].Dims()
	batch, _ := hs[0].Dims()
	_, nL := hs[len(hs)-1].Dims()
	jac := mat.NewDense(batch*nL, in*out, nil)
	for i := 0; i < in; i++ {
		for j := 0; j < out; j++ {
			mk := mat.NewDense(batch, out, nil)
			for b := 0; b < batch; b++ {
				mk.Set(b, j, hs[l].At(b, i)*ds[l].At(b, j))
			}
			for k := l + 1; k < len(ws); k++ {
				var next mat.Dense
				next.Mul(mk, ws[k])
				next.MulElem(&next, ds[k])
				mk = &next
			}
			jac.SetCol(i*out+j, mk.RawMatrix().Data)
		}
	}
	var hess mat.Dense
	hess.Mul(jac.T(), jac)
	return &hess, nil
}

func asMat(v any) (*mat.Dense, error) {
	t, ok := v.(*tensor.Dense)
	if !ok || t.Dtype() != tensor.Float64 || t.Dims() != 2 {
		return nil, fmt.Errorf("want a float64 matrix value, have %T", v)
	}
	if t.IsView() {
		t = t.Materialize().(*tensor.Dense)
	}
	s := t.Shape()
	return mat.NewDense(s[0], s[1], append([]float64(nil), t.Float64s()...)), nil
}
