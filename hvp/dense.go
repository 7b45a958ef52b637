package hvp

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DefaultStep is the finite-difference step DenseBlockHessian and
// DenseHessian use when given r = 0.
const DefaultStep = 1e-3

// DenseBlockHessian returns the diagonal block H_ll (n×n, n the size of
// W_l) as a dense reference, independent of the R-pass: column j is the
// central difference of the block gradient g_l in coordinate j, with one
// Richardson step
//
//	H e_j ≈ (4 D(r/2) − D(r)) / 3,   D(h) = (g(w + h e_j) − g(w − h e_j)) / 2h
//
// (error O(r⁴) plus rounding). The step is halved for a coordinate, up to 30
// times, until no piecewise-constant node (the activation pattern) changes.
// For piecewise-linear nets the block map W_l ↦ g_l is then affine and the
// block exact up to rounding (method.md §8). r = 0 means DefaultStep.
func (p *Products) DenseBlockHessian(l int, r float64) (*mat.Dense, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	return p.denseFD([]int{l}, r)
}

// DenseHessian returns the full Hessian the same way, from all blocks'
// gradients. Across blocks the gradient is not affine in the weights, so
// this reference carries an O(r⁴) truncation error (method.md §8).
func (p *Products) DenseHessian(r float64) (*mat.Dense, error) {
	all := make([]int, len(p.Weights))
	for k := range all {
		all[k] = k
	}
	return p.denseFD(all, r)
}

func (p *Products) denseFD(blocks []int, r float64) (h *mat.Dense, err error) {
	defer recoverTo(&err)
	if r == 0 {
		r = DefaultStep
	}
	if !(r > 0) {
		return nil, fmt.Errorf("hvp: step r = %v, want r > 0", r)
	}
	base, err := p.weightValues()
	if err != nil {
		return nil, err
	}
	defer p.setWeights(base)
	if _, _, err := p.Gradient(); err != nil {
		return nil, err
	}
	pattern := p.pattern()
	n := 0
	for _, k := range blocks {
		n += base[k].Shape().TotalSize()
	}
	h = mat.NewDense(n, n, nil)
	col := 0
	for _, k := range blocks {
		for i := 0; i < base[k].Shape().TotalSize(); i++ {
			c, err := p.fdColumn(base, blocks, k, i, r, pattern)
			if err != nil {
				return nil, err
			}
			h.SetCol(col, c)
			col++
		}
	}
	return h, nil
}

// fdColumn returns the Richardson-extrapolated central difference of the
// selected blocks' gradients in coordinate i of block k.
func (p *Products) fdColumn(base []*tensor.Dense, blocks []int, k, i int, r float64, pattern [][]float64) ([]float64, error) {
	for try := 0; try < 30; try, r = try+1, r/2 {
		d1, ok1, err := p.centralDiff(base, blocks, k, i, r, pattern)
		if err != nil {
			return nil, err
		}
		d2, ok2, err := p.centralDiff(base, blocks, k, i, r/2, pattern)
		if err != nil {
			return nil, err
		}
		if !ok1 || !ok2 {
			continue
		}
		for j := range d1 {
			d1[j] = (4*d2[j] - d1[j]) / 3
		}
		return d1, nil
	}
	return nil, fmt.Errorf("hvp: the activation pattern changes for every step tried at %s[%d]", p.Weights[k].Name(), i)
}

// centralDiff returns (g(w + h e_i) − g(w − h e_i)) / 2h for the selected
// blocks, and whether the activation pattern stayed as at w.
func (p *Products) centralDiff(base []*tensor.Dense, blocks []int, k, i int, h float64, pattern [][]float64) ([]float64, bool, error) {
	var gs [2][]*tensor.Dense
	for s, sign := range []float64{1, -1} {
		w := base[k].Clone().(*tensor.Dense)
		data := denseData(w)
		data[i] += sign * h
		ws := append([]*tensor.Dense(nil), base...)
		ws[k] = newDense(w.Shape(), data)
		if err := p.setWeights(ws); err != nil {
			return nil, false, err
		}
		_, g, err := p.Gradient()
		if err != nil {
			return nil, false, err
		}
		if !samePattern(p.pattern(), pattern) {
			return nil, false, nil
		}
		gs[s] = g
	}
	var out []float64
	for _, b := range blocks {
		plus, minus := denseData(gs[0][b]), denseData(gs[1][b])
		for j := range plus {
			out = append(out, (plus[j]-minus[j])/(2*h))
		}
	}
	return out, true, nil
}

// pattern returns the current values of the piecewise-constant nodes.
func (p *Products) pattern() [][]float64 {
	out := make([][]float64, len(p.frozen))
	for i, n := range p.frozen {
		if t, ok := n.Value().(*tensor.Dense); ok {
			out[i] = append([]float64(nil), denseData(t)...)
		}
	}
	return out
}

func samePattern(a, b [][]float64) bool {
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// Flatten concatenates matrices in row-major order (the dense Hessians'
// parameter order).
func Flatten(ts []*tensor.Dense) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, denseData(t)...)
	}
	return out
}

// Unflatten splits x into matrices shaped like the given nodes (the
// inverse of Flatten).
func Unflatten(x []float64, like []*G.Node) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(like))
	off := 0
	for i, n := range like {
		sz := n.Shape().TotalSize()
		if off+sz > len(x) {
			return nil, fmt.Errorf("hvp: %d values for shapes needing more: %w", len(x), ErrShape)
		}
		out[i] = newDense(n.Shape(), append([]float64(nil), x[off:off+sz]...))
		off += sz
	}
	if off != len(x) {
		return nil, fmt.Errorf("hvp: %d values, shapes take %d: %w", len(x), off, ErrShape)
	}
	return out, nil
}
