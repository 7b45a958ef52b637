package ops

import (
	"hash"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxOp is the softmax of each row of a matrix, p_i = e^{z_i} / Σ_j
// e^{z_ij}, or with Log its logarithm, log p_i = z_i − lse(z_i). With
// S = RowSumOp (Y ↦ Y 1 1ᵀ) and p the softmax:
//
//	softmax      backward:  Z̄ = p ⊙ Ȳ − p ⊙ S(p ⊙ Ȳ)
//	             JVP:       Ż ↦ p ⊙ Ż − p ⊙ S(p ⊙ Ż)   (the Jacobian diag p − ppᵀ is symmetric)
//	log-softmax  backward:  Z̄ = Ȳ − p ⊙ S(Ȳ)
//	             JVP:       Ẏ = Ż − S(p ⊙ Ż)
//	inverse:     none (a shift of a row leaves the softmax unchanged)
//
// The rules are built from ops that have rules of their own, so they can
// be differentiated again (the R-pass, the per-sample M_i). A softmax
// cross-entropy is better written as the fused SoftmaxCEOp. Row-wise.
type SoftmaxOp struct {
	Unary
	Log bool
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
} = SoftmaxOp{}

// Softmax returns the node softmax(z), row by row.
func Softmax(z *G.Node) (*G.Node, error) { return Apply(SoftmaxOp{}, z) }

// LogSoftmax returns the node log softmax(z), row by row.
func LogSoftmax(z *G.Node) (*G.Node, error) { return Apply(SoftmaxOp{Log: true}, z) }

func (o SoftmaxOp) String() string {
	if o.Log {
		return "logsoftmax"
	}
	return "softmax"
}
func (o SoftmaxOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o SoftmaxOp) Hashcode() uint32      { return Hashcode(o) }

func (o SoftmaxOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return matrixShape(o, in) }

func (o SoftmaxOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o SoftmaxOp) do(v ...G.Value) (G.Value, error) {
	z, err := Matrix(v[0])
	if err != nil {
		return nil, err
	}
	r, c := z.Dims()
	out := make([]float64, r*c)
	for i := 0; i < r; i++ {
		row, y := z.RawRowView(i), out[i*c:(i+1)*c]
		lse := softmax(y, row) // softmaxce.go: the shifted, overflow-free form
		if o.Log {
			for j, zij := range row {
				y[j] = zij - lse
			}
		}
	}
	return newValue(tensor.Shape{r, c}, out), nil
}

// p returns the softmax node of the op's input.
func (o SoftmaxOp) p(b *Builder, in []*G.Node, out *G.Node) *G.Node {
	if o.Log {
		return b.Apply(SoftmaxOp{}, in[0])
	}
	return out
}

// kernel applies the softmax Jacobian diag p − ppᵀ row by row to t.
func kernel(b *Builder, p, t *G.Node) *G.Node {
	g := b.Mul(p, t)
	return b.Sub(g, b.Mul(p, b.Apply(RowSumOp{}, g)))
}

func (o SoftmaxOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	p := o.p(&b, in, out)
	if o.Log {
		return []*G.Node{b.Sub(adj, b.Mul(p, b.Apply(RowSumOp{}, adj)))}, b.Err
	}
	return []*G.Node{kernel(&b, p, adj)}, b.Err
}

func (o SoftmaxOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	p := o.p(&b, in, out)
	if o.Log {
		return b.Sub(tan[0], b.Apply(RowSumOp{}, b.Mul(p, tan[0]))), b.Err
	}
	return kernel(&b, p, tan[0]), b.Err
}

// RowWise: each row's softmax.
func (SoftmaxOp) RowWise(in []*G.Node, marked []bool) bool { return true }
