package nets

import (
	"fmt"
	"math"

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

// PerSampleHessian returns the diagonal block H_ll (l counted from 0) of
// the loss Hessian for block l — the weight W_l, and its bias b_l jointly
// when the layer has one — by the per-sample formula of method.md §9,
// written with plain gonum arithmetic from the bound values, independently
// of the graph and of every op rule:
//
//	H_ll = Σ_i (h̃_iᵀ h̃_i) ⊗ M_i,   h̃ = h_{l−1} or [h_{l−1}, 1]
//	M⁽ᴸ⁾ = D_L L″ D_L + diag(e_L ⊙ a_L″(net_L))
//	M⁽ᵏ⁾ = D_k W_{k+1} M⁽ᵏ⁺¹⁾ W_{k+1}ᵀ D_k + diag(e_k ⊙ a_k″(net_k))
//
// per sample, with D_k = diag(a_k′(net_k)), e_k = ∂ℓ_i/∂h_k and L″ the
// loss's Hessian with respect to h_L (I for squared error,
// s(diag p − ppᵀ) for softmax cross-entropy, diag σ(1 − σ) for sigmoid
// cross-entropy), divided by the batch for the mean reduction. Parameters
// are ordered as params.Vector orders block l's weights: W_l row-major, then
// b_l. Activations need their second derivative (every ScalarFunc of
// package ops has it).
func (m *MLP) PerSampleHessian(l int) (*mat.Dense, error) {
	if l < 0 || l >= len(m.Weights) {
		return nil, fmt.Errorf("nets: block %d out of range", l)
	}
	x, err := asMat(m.X.Value())
	if err != nil {
		return nil, fmt.Errorf("nets: x: %w", err)
	}
	y, err := asMat(m.Y.Value())
	if err != nil {
		return nil, fmt.Errorf("nets: y: %w", err)
	}
	ws := make([]*mat.Dense, len(m.Weights))
	bs := make([][]float64, len(m.Weights))
	for k, w := range m.Weights {
		if ws[k], err = asMat(w.Value()); err != nil {
			return nil, fmt.Errorf("nets: %s: %w", w.Name(), err)
		}
		if m.Biases[k] != nil {
			b, err := asMat(m.Biases[k].Value())
			if err != nil {
				return nil, fmt.Errorf("nets: %s: %w", m.Biases[k].Name(), err)
			}
			bs[k] = b.RawRowView(0)
		}
	}
	deriv := func(k, order int, z float64) (float64, error) {
		d, ok := m.Acts[k].Deriv(order, z)
		if !ok {
			return 0, fmt.Errorf("nets: layer %d activation %v has no derivative of order %d", k+1, m.Acts[k], order)
		}
		return d, nil
	}
	batch, _ := x.Dims()
	L := len(ws)
	in, n := ws[l].Dims()
	k := in
	if bs[l] != nil {
		k++
	}
	hess := mat.NewDense(k*n, k*n, nil)
	scale := 1.0
	if m.Spec.Reduction == ReductionMean {
		scale = 1 / float64(batch)
	}
	for i := 0; i < batch; i++ {
		// Forward: pre-activations and activations of sample i.
		hs := [][]float64{x.RawRowView(i)}
		nets := make([][]float64, L)
		for q := 0; q < L; q++ {
			_, c := ws[q].Dims()
			z := make([]float64, c)
			for j := 0; j < c; j++ {
				for a, ha := range hs[q] {
					z[j] += ha * ws[q].At(a, j)
				}
				if bs[q] != nil {
					z[j] += bs[q][j]
				}
			}
			h := make([]float64, c)
			for j := range z {
				if h[j], err = deriv(q, 0, z[j]); err != nil {
					return nil, err
				}
			}
			nets[q], hs = z, append(hs, h)
		}
		// The loss's gradient e_L and Hessian with respect to h_L.
		hL, yi := hs[L], y.RawRowView(i)
		c := len(hL)
		e := make([]float64, c)
		lh := mat.NewDense(c, c, nil)
		switch m.Spec.Loss {
		case HalfSquaredError:
			for j := range c {
				e[j] = hL[j] - yi[j]
				lh.Set(j, j, 1)
			}
		case SoftmaxCrossEntropy:
			p := make([]float64, c)
			mx := math.Inf(-1)
			for _, z := range hL {
				mx = math.Max(mx, z)
			}
			var sum, s float64
			for j, z := range hL {
				p[j] = math.Exp(z - mx)
				sum += p[j]
				s += yi[j]
			}
			for j := range p {
				p[j] /= sum
			}
			for j := range c {
				e[j] = s*p[j] - yi[j]
				for q := range c {
					v := -s * p[j] * p[q]
					if j == q {
						v += s * p[j]
					}
					lh.Set(j, q, v)
				}
			}
		case SigmoidCrossEntropy:
			for j, z := range hL {
				sg := 1 / (1 + math.Exp(-z))
				e[j] = sg - yi[j]
				lh.Set(j, j, sg*(1-sg))
			}
		default:
			return nil, fmt.Errorf("nets: no closed form for loss %q", m.Spec.Loss)
		}
		// Back from M⁽ᴸ⁾ (in h_L coordinates first) to M⁽ˡ⁾.
		mk := lh
		for q := L - 1; q >= l; q-- {
			c := len(nets[q])
			d1, d2 := make([]float64, c), make([]float64, c)
			for j, z := range nets[q] {
				if d1[j], err = deriv(q, 1, z); err != nil {
					return nil, err
				}
				if d2[j], err = deriv(q, 2, z); err != nil {
					return nil, err
				}
			}
			next := mat.NewDense(c, c, nil) // M⁽q⁾ = D M_h D + diag(e ⊙ a″)
			for a := range c {
				for b := range c {
					v := d1[a] * mk.At(a, b) * d1[b]
					if a == b {
						v += e[a] * d2[a]
					}
					next.Set(a, b, v)
				}
			}
			if q == l {
				mk = next
				break
			}
			// To h_{q−1} coordinates: W_q M W_qᵀ, and e_{q−1} = (e ⊙ a′) W_qᵀ.
			var t, mh mat.Dense
			t.Mul(ws[q], next)
			mh.Mul(&t, ws[q].T())
			rows, _ := ws[q].Dims()
			ep := make([]float64, rows)
			for a := range rows {
				for j := range c {
					ep[a] += ws[q].At(a, j) * e[j] * d1[j]
				}
			}
			mk, e = &mh, ep
		}
		ht := append(append([]float64(nil), hs[l]...), 1)[:k] // h̃_i
		for a := range k {
			for b := range n {
				for c2 := range k {
					for d := range n {
						hess.Set(a*n+b, c2*n+d, hess.At(a*n+b, c2*n+d)+scale*ht[a]*ht[c2]*mk.At(b, d))
					}
				}
			}
		}
	}
	return hess, nil
}

// LayerInput returns h̃ for block l: the layer's input h_{l−1} for the
// bound values, with a column of ones appended when the layer has a bias
// (plain gonum arithmetic, no graph): the metric h̃ᵀh̃ ⊗ I of the exact
// damping.
func (m *MLP) LayerInput(l int) (*mat.Dense, error) {
	if l < 0 || l >= len(m.Weights) {
		return nil, fmt.Errorf("nets: block %d out of range", l)
	}
	h, err := asMat(m.X.Value())
	if err != nil {
		return nil, fmt.Errorf("nets: x: %w", err)
	}
	for q := 0; q < l; q++ {
		w, err := asMat(m.Weights[q].Value())
		if err != nil {
			return nil, err
		}
		var z mat.Dense
		z.Mul(h, w)
		if m.Biases[q] != nil {
			b, err := asMat(m.Biases[q].Value())
			if err != nil {
				return nil, err
			}
			r, c := z.Dims()
			for i := 0; i < r; i++ {
				for j := 0; j < c; j++ {
					z.Set(i, j, z.At(i, j)+b.At(0, j))
				}
			}
		}
		act := m.Acts[q]
		z.Apply(func(_, _ int, x float64) float64 { y, _ := act.Deriv(0, x); return y }, &z)
		h = &z
	}
	if m.Biases[l] == nil {
		return h, nil
	}
	r, c := h.Dims()
	out := mat.NewDense(r, c+1, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.Set(i, j, h.At(i, j))
		}
		out.Set(i, c, 1)
	}
	return out, nil
}
