package hvp

import (
	"fmt"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// K-FAC's factors of a tied weight (issue 21 item 5): a weight W used by
// U products h_u·W of the data term — an RNN's weight at every step — or
// a bias b added by U bias adds X_u + 1b. Its gradient is Σ_u h̃_uᵀ δ_u
// (δ_u the adjoint of use u's product or bias add); its Gauss–Newton block
// sums every use's curvature and the cross terms between uses. The factors
// treat the uses like KFC treats a convolution's positions (Martens, Ba &
// Johnson 2018's independence across steps): the rows of every use
// stacked, A = Σ_u h̃_uᵀh̃_u / R (R the rows of all uses) and
// DD = Σ_u δ_uᵀδ_u, so A ⊗ DD models Σ_u h̃_uᵀh̃_u ⊗ E[δδᵀ] and drops the
// cross terms between uses — an approximation, exact for one use. A bias
// has h̃_u = 1 (A = 1). Uses of any other form (Wᵀ, W as a left factor,
// a weight of more dimensions) have no such factors: the error names the
// use.

// tiedLayer is what K-FAC reads around a tied weight: each use's input
// rows (nil for a bias: a column of ones) and the adjoint of its output.
type tiedLayer struct {
	ins, deltas []*G.Node
	bias        bool
	// column: the uses are W·x_u (W the left factor, charRNN's column
	// convention): the inputs and adjoints are columns, and W's values are
	// W̃ᵀ of the factors' order (Factors.Transposed).
	column bool
}

// tiedLayerOf returns block l's tied structure, or why there is none,
// found once; nil, nil for a block that is not a single weight used more
// than once.
func (p *Problem) tiedLayerOf(l int) (*tiedLayer, error) {
	b := p.blocks[l]
	p.mu.Lock()
	defer p.mu.Unlock()
	if !b.tiedTried {
		b.tiedTried = true
		b.tied, b.tiedErr = p.findTiedLayer(b)
	}
	return b.tied, b.tiedErr
}

// findTiedLayer finds block b's tied structure (p.mu held).
func (p *Problem) findTiedLayer(b *block) (*tiedLayer, error) {
	if len(b.params) != 1 {
		return nil, nil
	}
	w := p.ws[b.params[0]]
	uses := graph.UsesWithout(p.loss, p.pens...)[w]
	if len(uses) < 2 {
		return nil, nil
	}
	name := errs.Label(p.userWeights[b.params[0]])
	refuse := func(n *G.Node, reason string) error {
		return &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", p.userLabel(n), n.Op()), Input: -1,
			Reason: fmt.Sprintf("K-FAC's factors for tied weight %s (used by %d nodes): %s", name, len(uses), reason)}
	}
	_, isBias := uses[0].Op().(ops.BiasAddOp)
	t := &tiedLayer{bias: isBias, column: !isBias && graph.Children(uses[0])[0] == w}
	for _, u := range uses {
		kids := graph.Children(u)
		switch u.Op().(type) {
		case ops.MatMulOp:
			switch {
			case t.bias || w.Dims() != 2:
				return nil, refuse(u, "a product of a weight that is not a matrix")
			case !t.column && (kids[1] != w || kids[0].Dims() != 2):
				return nil, refuse(u, "a use that is not a product h·W with the weight as its right factor, like its first use (a transposed use, as an autoencoder's Wᵀ, has no factors of this form)")
			case t.column && (kids[0] != w || kids[1] == w):
				return nil, refuse(u, "a use that is not a product W·x with the weight as its left factor, like its first use (a transposed use, as an autoencoder's Wᵀ, has no factors of this form)")
			}
			if t.column {
				t.ins = append(t.ins, kids[1])
			} else {
				t.ins = append(t.ins, kids[0])
			}
		case ops.BiasAddOp:
			if !t.bias || kids[1] != w {
				return nil, refuse(u, "a use that is not a bias add X + 1b of the weight")
			}
			t.ins = append(t.ins, nil)
		default:
			return nil, refuse(u, "a use that is neither a product h·W nor a bias add X + 1b")
		}
		delta := p.grad.Adjoints[u]
		if delta == nil {
			return nil, refuse(u, "no adjoint in the gradient pass")
		}
		t.deltas = append(t.deltas, delta)
	}
	return t, nil
}

// roots are the nodes whose values the factors need.
func (t *tiedLayer) roots() []*G.Node {
	var out []*G.Node
	for u, in := range t.ins {
		if in != nil {
			out = append(out, in)
		}
		out = append(out, t.deltas[u])
	}
	return out
}

// factors computes A and DD from the uses' values.
func (t *tiedLayer) factors(vals graph.Values) (*Factors, error) {
	var a, dd *mat.SymDense
	rows := 0
	add := func(acc **mat.SymDense, g *mat.SymDense) {
		if *acc == nil {
			*acc = g
		} else {
			(*acc).AddSym(*acc, g)
		}
	}
	for u, in := range t.ins {
		d, err := flatValue(vals, t.deltas[u])
		if err != nil {
			return nil, err
		}
		ds := t.deltas[u].Shape()
		r, n := ds[0], ds.TotalSize()/ds[0]
		if t.column { // δ_u is n × c (or n): its c columns are the rows
			d, r, n = transposed(d, r, n), n, r
		}
		add(&dd, gram(r, n, d))
		rows += r
		if in == nil {
			add(&a, mat.NewSymDense(1, []float64{float64(r)}))
			continue
		}
		h, err := flatValue(vals, in)
		if err != nil {
			return nil, err
		}
		hs := in.Shape()
		hr, hc := hs[0], hs.TotalSize()/hs[0]
		if t.column {
			h, hr, hc = transposed(h, hr, hc), hc, hr
		}
		add(&a, gram(hr, hc, h))
	}
	a.ScaleSym(1/float64(rows), a)
	return &Factors{A: a, DD: dd, Positions: len(t.ins), Transposed: t.column}, nil
}

// transposed returns the r × c row-major x as its c × r transpose.
func transposed(x []float64, r, c int) []float64 {
	out := make([]float64, len(x))
	for i := range r {
		for j := range c {
			out[j*r+i] = x[i*c+j]
		}
	}
	return out
}
