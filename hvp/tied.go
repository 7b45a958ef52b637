package hvp

import (
	"fmt"
	"math"
	"slices"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// K-FAC's factors of a tied weight (issue 21 item 5): a weight W (m × n)
// used by U products of the data term — an RNN's weight at every step, an
// autoencoder's W in the encoder and Wᵀ in the decoder — or a bias b added
// U times. Its gradient is the sum of every use's, and each use's is one
// Kronecker-factored term in W's frame (rows m, columns n):
//
//	z = h·W   (h R×m):  ∇W = hᵀδ     input gram hᵀh on the rows, δᵀδ on the columns
//	z = W·x   (x n×c):  ∇W = δxᵀ     xxᵀ on the columns, δδᵀ on the rows
//	z = h·Wᵀ  (h R×n):  ∇W = δᵀh     roles swapped: δᵀδ on the rows, hᵀh on the columns
//	z = Wᵀ·x  (x m×c):  ∇W = xδᵀ     xxᵀ on the rows, δδᵀ on the columns
//	z = X + 1b, z = x + b (b of n):  W = b as 1 × n, the input a column of ones
//	z = W[i:j, :] (a slice, an embedding's lookup):  z = S·W, S one-hot rows, SᵀS on the rows
//	z = W[:, i:j]:  z = W·Sᵀ, SᵀS on the columns
//
// (δ_u the adjoint of use u's output in the gradient pass). The block's
// Gauss–Newton matrix sums every use's curvature and the cross terms
// between uses. The factors treat the uses like KFC treats a convolution's
// positions (Martens, Ba & Johnson 2018's independence across steps):
// the uses whose input lies on the same side of W are one group, its rows
// stacked, A_g = Σ_u in_u-gram / R_g (R_g the rows of the group's uses)
// and DD_g = Σ_u δ_u-gram, so A_g ⊗ DD_g models Σ_u in_u ⊗ E[δδᵀ] and
// drops the cross terms between uses — an approximation, exact for one
// use. When the uses of both sides are present (W and Wᵀ: an
// autoencoder's tie), the block is approximated by one Kronecker product
// of the two groups' sums per side of W (Grosse & Martens 2016 and Martens,
// Ba & Johnson 2018 approximate a sum of Kronecker products the same way,
// over positions and steps): each group's pair is first balanced,
// A_g/π_g and DD_g·π_g with π_g² = (tr A_g/dim A_g)/(tr DD_g/dim DD_g)
// (Martens & Grosse 2015's π, §6.3), which leaves A_g ⊗ DD_g unchanged and
// keeps an input's second moment from swamping an adjoint's on the same
// side; then, the first use's group g = 0 giving the orientation,
//
//	A = (A₀/π₀ + DD₁·π₁)/2,  DD = DD₀·π₀ + A₁/π₁,
//
// whose product is A₀ ⊗ DD₀ + DD₁ ⊗ A₁ (in W's frame) when the balanced
// factors of the two groups agree, and otherwise adds their cross
// products — a further approximation, stated in docs/optimizers.md. A bias
// has the input factor A = [1] (the mean of a column of ones) and
// DD = Σ_u δ_uᵀδ_u, its empirical Fisher's block over the uses; an
// embedding read by slices the input factor diag(counts)/R of the rows
// picked (Martens, Ba & Johnson's one-hot inputs). Uses of any other
// form (a weight of more dimensions, an elementwise op of W) have no such
// factors: the error names the use.

// tiedUse is one use of a tied weight: its input (nil for a bias: a
// column of ones) and the adjoint of its output.
type tiedUse struct {
	in, delta *G.Node
	// column: in and delta are columns (W or Wᵀ the left factor, charRNN's
	// convention), transposed into rows for their grams.
	column bool
	// rows: the input's gram lies on W's rows (h·W, Wᵀ·x, a bias), else on
	// its columns (W·x, h·Wᵀ).
	rows bool
	// picked: a slice's rows (or columns) of W, an embedding's lookup
	// S·W: its input is the selection S, one-hot rows, whose gram SᵀS is
	// the diagonal of the picked indices (dim W's size along the axis).
	picked []int
	dim    int
}

// tiedLayer is what K-FAC reads around a tied weight or a lone bias.
type tiedLayer struct {
	uses []tiedUse
	bias bool
	n    int      // a bias's length
	pen  *penalty // the penalty terms that read the weight, if any (folded as a kernel's, Factors)
}

// tiedLayerOf returns block l's tied structure, or why there is none,
// found once (Kronecker asks when the block has no per-sample route); nil,
// nil for a block that is not a single weight, or whose weight is used
// once by none of the forms above (the per-sample route's reason then
// stands). A weight used once by one of them (W·x in charRNN's column
// convention, a lone bias) has the factors of that one use: K-FAC's own.
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
	all := graph.UsesWithout(p.loss, p.pens...)
	uses := all[w]
	if len(uses) == 0 {
		return nil, nil
	}
	bias := isVector(w) && isAdd(uses[0])
	if len(uses) == 1 && !bias {
		if _, why := tiedUseOf(w, uses[0], false, all); why != "" {
			return nil, nil // one use of no form with factors: the per-sample route's reason stands
		}
	}
	name := errs.Label(p.userWeights[b.params[0]])
	refuse := func(n *G.Node, reason string) error {
		return &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", p.userLabel(n), n.Op()), Input: -1,
			Reason: fmt.Sprintf("K-FAC's factors for tied weight %s (used by %d nodes): %s", name, len(uses), reason)}
	}
	t := &tiedLayer{bias: bias, n: w.Shape().TotalSize()}
	for _, u := range uses {
		use, err := tiedUseOf(w, u, t.bias, all)
		if err != "" {
			return nil, refuse(u, err)
		}
		if use.delta = p.grad.Adjoints[use.delta]; use.delta == nil {
			return nil, refuse(u, "no adjoint in the gradient pass")
		}
		t.uses = append(t.uses, use)
	}
	pen, err := p.blockPenalty(b)
	if err != nil {
		return nil, err
	}
	t.pen = pen
	return t, nil
}

// isVector reports whether w has at most one dimension above 1 (a bias:
// a vector, a row or a column).
func isVector(w *G.Node) bool {
	return w.Shape().TotalSize() == max(1, slices.Max(w.Shape()))
}

// isAdd reports whether n is a bias add or an add.
func isAdd(n *G.Node) bool {
	switch n.Op().(type) {
	case ops.BiasAddOp, ops.AddOp:
		return true
	}
	return false
}

// tiedUseOf returns use u of weight w as a tiedUse whose delta is the
// node whose adjoint it needs, or why u has no factors.
func tiedUseOf(w, u *G.Node, bias bool, uses map[*G.Node][]*G.Node) (tiedUse, string) {
	kids := graph.Children(u)
	switch u.Op().(type) {
	case ops.BiasAddOp, ops.AddOp:
		if !bias || kids[1] != w && kids[0] != w || kids[0] == kids[1] {
			return tiedUse{}, "an add of a weight that is not a vector (a bias)"
		}
		return tiedUse{delta: u, rows: true}, ""
	case ops.TransposeOp: // Wᵀ, the factor of one product
		if len(uses[u]) != 1 {
			return tiedUse{}, fmt.Sprintf("the weight's transpose is used by %d nodes, want one product", len(uses[u]))
		}
		prod := uses[u][0]
		pk := graph.Children(prod)
		if _, ok := prod.Op().(ops.MatMulOp); !ok || pk[0] == pk[1] {
			return tiedUse{}, "the weight's transpose is not a factor of a product h·Wᵀ or Wᵀ·x"
		}
		if pk[1] == u {
			return tiedUse{in: pk[0], delta: prod}, ""
		}
		return tiedUse{in: pk[1], delta: prod, column: true, rows: true}, ""
	case ops.SliceOp:
		o := u.Op().(ops.SliceOp)
		if bias || w.Dims() != 2 || o.Axis > 1 {
			return tiedUse{}, "a slice of a weight that is not a matrix"
		}
		step := max(o.Step, 1)
		use := tiedUse{delta: u, rows: o.Axis == 0, column: o.Axis == 1, dim: w.Shape()[o.Axis]}
		for i := o.From; i < o.To; i += step {
			use.picked = append(use.picked, i)
		}
		return use, ""
	case ops.MatMulOp:
		if bias || w.Dims() != 2 || kids[0] == kids[1] {
			return tiedUse{}, "a product of a weight that is not a matrix, or of the weight by itself"
		}
		if kids[1] == w {
			return tiedUse{in: kids[0], delta: u, rows: true}, ""
		}
		return tiedUse{in: kids[1], delta: u, column: true}, ""
	}
	return tiedUse{}, "a use that is neither a product (h·W, W·x, h·Wᵀ, Wᵀ·x), a slice nor a bias add"
}

// roots are the nodes whose values the factors need.
func (t *tiedLayer) roots() []*G.Node {
	var out []*G.Node
	for _, u := range t.uses {
		if u.in != nil {
			out = append(out, u.in)
		}
		out = append(out, u.delta)
	}
	return out
}

// rowsOf returns node n's value as the rows of its grams: r × c with c
// its last dimension (a bias's length n for a bias's adjoint), transposed
// for a column use.
func rowsOf(vals graph.Values, n *G.Node, column bool, width int) ([]float64, int, int, error) {
	x, err := flatValue(vals, n)
	if err != nil {
		return nil, 0, 0, err
	}
	s := n.Shape()
	r, c := s[0], s.TotalSize()/s[0]
	switch {
	case width > 0:
		r, c = len(x)/width, width
	case column:
		x, r, c = transposed(x, r, c), c, r
	}
	return x, r, c, nil
}

// factors computes A and DD from the uses' values (the comment above).
func (t *tiedLayer) factors(vals graph.Values) (*Factors, error) {
	var a, dd [2]*mat.SymDense
	var rows [2]int
	add := func(acc **mat.SymDense, g *mat.SymDense) {
		if *acc == nil {
			*acc = g
		} else {
			(*acc).AddSym(*acc, g)
		}
	}
	first := t.uses[0].rows
	for _, u := range t.uses {
		grp := 0
		if u.rows != first {
			grp = 1
		}
		width := 0
		if t.bias {
			width = t.n
		}
		d, r, n, err := rowsOf(vals, u.delta, u.column, width)
		if err != nil {
			return nil, err
		}
		add(&dd[grp], gram(r, n, d))
		rows[grp] += r
		switch {
		case u.picked != nil: // S·W: SᵀS the picked indices' diagonal
			sel := mat.NewSymDense(u.dim, nil)
			for _, i := range u.picked {
				sel.SetSym(i, i, sel.At(i, i)+1)
			}
			add(&a[grp], sel)
			continue
		case u.in == nil:
			add(&a[grp], mat.NewSymDense(1, []float64{float64(r)}))
			continue
		}
		h, hr, hc, err := rowsOf(vals, u.in, u.column, 0)
		if err != nil {
			return nil, err
		}
		add(&a[grp], gram(hr, hc, h))
	}
	for g := range a {
		if a[g] != nil {
			a[g].ScaleSym(1/float64(rows[g]), a[g])
		}
	}
	f := &Factors{A: a[0], DD: dd[0], Positions: len(t.uses), Transposed: t.bias || !first}
	if a[1] != nil {
		f.A, f.DD = balancedSum(a, dd)
	}
	return f, nil
}

// balancedSum returns the one Kronecker product of two groups of uses on
// opposite sides of W (the comment above): A = (A₀/π₀ + DD₁·π₁)/2,
// DD = DD₀·π₀ + A₁/π₁. A group whose product is zero (a zero trace: no
// input or no adjoint) adds nothing.
func balancedSum(a, dd [2]*mat.SymDense) (*mat.SymDense, *mat.SymDense) {
	sa := mat.NewSymDense(a[0].SymmetricDim(), nil)
	sd := mat.NewSymDense(dd[0].SymmetricDim(), nil)
	groups := 0
	for g := range a {
		ta := mat.Trace(a[g]) / float64(a[g].SymmetricDim())
		td := mat.Trace(dd[g]) / float64(dd[g].SymmetricDim())
		if !(ta > 0 && td > 0) {
			continue
		}
		groups++
		pi := math.Sqrt(ta / td)
		in, out := scaled(1/pi, a[g]), scaled(pi, dd[g])
		if g == 1 { // its input on the other side of W
			in, out = out, in
		}
		sa.AddSym(sa, in)
		sd.AddSym(sd, out)
	}
	if groups == 0 { // no curvature on either side: the first group's factors
		return a[0], dd[0]
	}
	sa.ScaleSym(1/float64(groups), sa)
	return sa, sd
}

func scaled(c float64, m *mat.SymDense) *mat.SymDense {
	var out mat.SymDense
	out.ScaleSym(c, m)
	return &out
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
