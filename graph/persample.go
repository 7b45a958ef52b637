package graph

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PerSample is the per-sample route of method.md §9 for one block: a
// layer's weight W, or W and its bias b jointly (W̃ = [W; bᵀ]). With every
// other weight fixed the loss is Σ_i ℓ_i(net_i), net = h̃ W̃, h̃ = h or
// [h, 1], so
//
//	H_ll = Aᵀ blockdiag(M_i) A,   A = h̃ ⊗ I,   M_i = ∂²ℓ_i/∂net_i²
//
// and the B-pass is (H_ll + λ h̃ᵀh̃ ⊗ I)⁻¹ v:
//
//	X = (h̃ᵀ)⁺ V̂        Y_i = (M_i + λI)⁺ X_i        Û = h̃⁺ Y
//
// (V̂ = v_W, or v_W over v_b). Column j of every M_i is row i of the JVP
// of δ = ∂J/∂net along 1e_jᵀ at net: n_l JVPs of the gradient pass from
// the layer to the loss, each built by the ops' JVP rules.
type PerSample struct {
	Pass
	Params []*G.Node // W, or W and its bias b
	Net    *G.Node   // the pre-activation h̃ W̃
	Rows   *G.Node   // h̃: h, or [h, 1] with a bias (B × k)
	Delta  *G.Node   // ∂J/∂net in the gradient pass
	Cols   []*G.Node // R_j{δ} along 1e_jᵀ: column j of every M_i
	// Columns says how the Cols were formed: by JVPs over replicated rows
	// (ReplayRows, Chunk columns a pass) or one JVP a column, and why;
	// Fallback, when the replay was asked for (ChunkBytes > 0) and
	// refused, says why (and is a line of the block's conditions).
	Columns, Fallback string
	Chunk             int       // columns of M per replayed JVP; 0: one JVP a column
	Stacked           []*G.Node // with Chunk > 0: the replayed JVPs, Chunk columns each (ops.RowSolveOp's layout)
	Lambda            *G.Node   // input: the damping λ, a scalar (bind 0 for none)
	Dirs              []*G.Node // inputs: the direction, one per parameter
	U                 []*G.Node // the B-pass, one per parameter
	Damp              []*G.Node // (h̃ᵀh̃ ⊗ I) U, one per parameter: the damping term of the certificate
	Solve             *G.Node   // the per-sample solve (its Condition describes the M_i)
	Pinv              *G.Node   // h̃⁺ (its Condition describes h̃)
	Batch             int       // B, the rows of net
	FanIn             int       // k, the columns of h̃
}

// BuildPerSample builds the per-sample route for params (a weight W used
// once, as the right factor of a product h·W, and optionally its bias b,
// added once to that product by ops.BiasAddOp) of gradient gp. It returns
// an error naming the node when the structure is not that of a layer or
// the loss is not row-separable from the layer's pre-activation on
// (RowSeparable). pens are the penalty terms added to the loss (weight
// decay λ·Σ W²: terms of the weights alone, see UsesWithout): their uses
// of the weights do not count, so a weight read by its layer and by its
// penalty is still a layer's weight. The route is that of the data term;
// the penalty's Hessian is the caller's to add (H_ll = Aᵀ D A + H_pen).
func BuildPerSample(gp *Gradient, params []*G.Node, pens ...*G.Node) (*PerSample, error) {
	if len(params) == 0 || len(params) > 2 {
		return nil, &errs.ArgumentError{What: "per-sample block", Value: len(params), Reason: "want a weight, or a weight and its bias"}
	}
	order := topo(gp.Loss)
	uses := UsesWithout(gp.Loss, pens...)
	w := params[0]
	layer, err := LayerOf(uses, w)
	if err != nil {
		return nil, err
	}
	h, net := layer.In, layer.Prod
	if len(params) == 2 {
		b := params[1]
		if layer.Bias != b || len(uses[b]) != 1 {
			return nil, &errs.NoInverseError{Op: "bias " + errs.Label(b), Input: -1,
				Reason: fmt.Sprintf("not added once to %s by a bias add (X+1b)", errs.Label(layer.Prod))}
		}
		net = layer.Add
	}
	if dep := dependents(order, params...); dep[h] {
		return nil, &errs.NoInverseError{Op: "layer input " + errs.Label(h), Input: -1, Reason: "depends on the block's own parameters"}
	}
	if err := RowSeparable(gp.Loss, net); err != nil {
		return nil, err
	}
	delta := gp.Adjoints[net]
	if delta == nil {
		return nil, &errs.NoInverseError{Op: "node " + errs.Label(net), Input: -1, Reason: "has no adjoint in the gradient pass"}
	}
	s := net.Shape()
	ps := &PerSample{Params: params, Net: net, Delta: delta, Batch: s[0]}
	g := net.Graph()
	ps.Pass, err = record(g, "per-sample "+w.Name(), func() error { return ps.build(g, h, s) })
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// Layer is the structure of a dense layer around a weight W: its
// pre-activation Prod = In·W, and, when Prod's only use adds a row to it
// (ops.BiasAddOp), that node Add = Prod + 1·Bias.
type Layer struct {
	In, Prod  *G.Node
	Add, Bias *G.Node // nil without a bias add
}

// LayerOf finds the layer of weight w from the uses of every node (Uses,
// or UsesWithout the penalty terms): w must be used once, as the right
// factor of a product h·W (rows are samples); otherwise the error names the
// node. A weight used more than once (other than by a penalty) is tied —
// an autoencoder's W and Wᵀ, an RNN's weight at every step — and its
// block is no layer: H_ll sums the uses' curvature and their cross terms.
func LayerOf(uses map[*G.Node][]*G.Node, w *G.Node) (Layer, error) {
	if s := w.Shape(); s.Dims() > 2 {
		return Layer{}, &errs.NoInverseError{Op: "parameter " + errs.Label(w), Input: -1,
			Reason: fmt.Sprintf("a weight of shape %v (a convolution kernel): the per-sample route is built for dense layers h·W, not yet for kernels (issue 21 item 6)", s)}
	}
	if n := len(uses[w]); n != 1 {
		reason := "not used by the loss"
		if n > 1 {
			users := make([]string, n)
			for i, u := range uses[w] {
				users[i] = errs.Label(u)
			}
			reason = fmt.Sprintf("tied: used by %d nodes of the data term (%s): its block sums the curvature of every use and their cross terms, which no per-sample solve of one layer inverts; Hv and GGNv are exact, and an inverse takes conjugate gradients on Hv or a dense block from the R-pass (reference.DenseBlock)",
				n, strings.Join(users, ", "))
		}
		return Layer{}, &errs.NoInverseError{Op: "parameter " + errs.Label(w), Input: -1,
			Reason: reason + " (the per-sample route needs a weight used once, by its layer)"}
	}
	prod := uses[w][0]
	kids := Children(prod)
	if _, ok := prod.Op().(ops.MatMulOp); !ok || kids[1] != w {
		return Layer{}, &errs.NoInverseError{Op: fmt.Sprintf("node %s (op %v)", errs.Label(prod), prod.Op()), Input: -1,
			Reason: "the per-sample route needs the weight as the right factor of a product h·W (rows are samples)"}
	}
	layer := Layer{In: kids[0], Prod: prod}
	if len(uses[prod]) == 1 {
		add := uses[prod][0]
		if _, ok := add.Op().(ops.BiasAddOp); ok && Children(add)[0] == prod {
			layer.Add, layer.Bias = add, Children(add)[1]
		}
	}
	return layer, nil
}

func (ps *PerSample) build(g *G.ExprGraph, h *G.Node, s tensor.Shape) error {
	n := s[1]
	k0 := h.Shape()[1]
	bias := len(ps.Params) == 2
	var b ops.Builder
	ones := b.Apply(ops.FillOp{C: 1}, b.Apply(ops.SliceOp{Axis: 1, From: 0, To: 1}, h)) // 1: B × 1
	ps.Rows = h
	if bias { // h̃ = [h, 1]
		ps.Rows = b.Apply(ops.AddOp{}, b.Apply(ops.PadOp{Axis: 1, After: 1}, h), b.Apply(ops.PadOp{Axis: 1, Before: k0}, ones))
	}
	ps.FanIn = k0
	if bias {
		ps.FanIn++
	}
	if err := ps.columns(&b, ones, n); err != nil {
		return err
	}
	ps.Lambda = G.NewScalar(g, tensor.Float64, G.WithName("newtonia.λ["+ps.Params[0].Name()+"]"))
	for _, p := range ps.Params {
		ps.Dirs = append(ps.Dirs, G.NewTensor(g, tensor.Float64, p.Dims(), G.WithShape(p.Shape()...), G.WithName("newtonia.ps.d["+p.Name()+"]")))
	}
	v := ps.Dirs[0]
	if bias { // V̂ = v_W over v_b
		v = b.Apply(ops.AddOp{}, b.Apply(ops.PadOp{Axis: 0, After: 1}, ps.Dirs[0]), b.Apply(ops.PadOp{Axis: 0, Before: k0}, ps.Dirs[1]))
	}
	ps.Pinv = b.Apply(ops.PInvOp{}, ps.Rows)
	x := b.Apply(ops.MatMulOp{}, b.Apply(ops.TransposeOp{}, ps.Pinv), v)
	cols := ps.Cols
	if ps.Chunk > 1 {
		cols = ps.Stacked
	}
	ps.Solve = b.Apply(ops.RowSolveOp{N: n, Chunk: ps.Chunk}, append([]*G.Node{ps.Lambda, x}, cols...)...)
	u := b.Apply(ops.MatMulOp{}, ps.Pinv, ps.Solve)
	damp := b.Apply(ops.MatMulOp{}, b.Apply(ops.TransposeOp{}, ps.Rows), b.Apply(ops.MatMulOp{}, ps.Rows, u))
	split := func(x *G.Node) []*G.Node {
		if !bias {
			return []*G.Node{x}
		}
		return []*G.Node{b.Apply(ops.SliceOp{Axis: 0, From: 0, To: k0}, x), b.Apply(ops.SliceOp{Axis: 0, From: k0, To: k0 + 1}, x)}
	}
	ps.U, ps.Damp = split(u), split(damp)
	return b.Err
}

// notReplayed begins the Fallback of a route whose replay ChunkBytes asked
// for and did not get.
const notReplayed = "per-sample route: the M_i's columns by one JVP each, not replayed on replicated rows as graph.ChunkBytes asks: "

// ChunkBytes is the size a replayed JVP's values aim at (each B·c × n_l):
// c = ChunkBytes / (8·B·n_l) columns per pass, at most n_l; below 2, one
// JVP a column. The default, 0, is one JVP a column: the replay measured
// no cheaper (docs/benchmarks.md, "The per-sample route": the elementwise
// work is the same either way, and the loop's B × n_l values stay in
// cache). Set it before building problems, never while another goroutine
// builds one (it is read, unsynchronised, when a route is built).
var ChunkBytes = 0

// columns builds Cols: column j of every M_i is the JVP of δ along 1e_jᵀ
// at net. One such JVP (column 0) is built by the ops' rules and replayed
// (ReplayRows) on c·B rows for each chunk of c columns, its seed the c
// seeds 1e_jᵀ stacked; Cols[j] is then rows t·B … (t+1)·B − 1 of its
// chunk's result (Stacked, which the solve reads directly; the Cols
// are for other readers, and cost nothing unless one asks for them). Where the replay is refused the columns are n_l JVPs and
// Columns says why. The seeds are made when the pass runs
// (ops.OneHotRowsOp): building the route allocates nothing of size B·n.
func (ps *PerSample) columns(b *ops.Builder, ones *G.Node, n int) error {
	seed := func(j int) *G.Node { return b.Apply(ops.OneHotRowsOp{N: n, From: j, Copies: 1}, ones) }
	jvp := func(j int) (col, s *G.Node, err error) { // column j and its seed
		if s = seed(j); b.Err != nil {
			return nil, nil, b.Err
		}
		cols, _, err := JVP(fmt.Sprintf("M column %d", j), []*G.Node{ps.Delta}, map[*G.Node]*G.Node{ps.Net: s})
		if err != nil {
			return nil, nil, err
		}
		return cols[0], s, nil
	}
	col0, seed0, err := jvp(0)
	if err != nil {
		return err
	}
	if col0 == nil { // δ does not depend on net: M = 0
		z := b.Apply(ops.FillOp{C: 0}, ps.Delta)
		for range n {
			ps.Cols = append(ps.Cols, z)
		}
		ps.Columns = "the M_i are 0: δ does not depend on the pre-activation"
		return b.Err
	}
	rows := ps.Batch
	c := min(max(ChunkBytes/(8*rows*n), 1), n)
	why := "graph.ChunkBytes = 0, the default: the replay on replicated rows measured no cheaper"
	if ChunkBytes > 0 {
		why = fmt.Sprintf("two columns a pass (%d bytes a value) would exceed graph.ChunkBytes = %d", 16*rows*n, ChunkBytes)
		if c <= 1 { // asked for and not done: said where fallbacks are read
			ps.Fallback = notReplayed + why
		}
	}
	if c > 1 {
		stacked, cols, err := ps.replayed(b, ones, seed0, col0, c, n)
		if err == nil {
			ps.Cols, ps.Stacked, ps.Chunk = cols, stacked, c
			passes := (n + c - 1) / c
			ps.Columns = fmt.Sprintf("the %d columns of the M_i by JVPs replayed on replicated rows: %d columns (%d rows) a pass, %d pass", n, c, c*rows, passes)
			if passes > 1 {
				ps.Columns += "es"
			}
			return nil
		}
		why = fmt.Sprintf("the replay on replicated rows is refused: %v", err)
		ps.Fallback = notReplayed + err.Error()
	}
	ps.Columns = fmt.Sprintf("the %d columns of the M_i by %d JVPs, one a column: %s", n, n, why)
	if n == 1 {
		ps.Columns = "the 1×1 M_i by one JVP"
	}
	ps.Cols = []*G.Node{col0}
	for j := 1; j < n; j++ {
		col, _, err := jvp(j)
		if err != nil {
			return err
		}
		ps.Cols = append(ps.Cols, col)
	}
	return nil
}

// replayed returns the n columns of M from col0, the JVP along s0 = 1e_0ᵀ,
// replayed on c·B rows per chunk of c columns (the last chunk may be
// shorter).
func (ps *PerSample) replayed(b *ops.Builder, ones, s0, col0 *G.Node, c, n int) (stacked, cols []*G.Node, err error) {
	rows := ps.Batch
	reps := map[int]map[*G.Node]*G.Node{} // by chunk length
	for j0 := 0; j0 < n; j0 += c {
		k := min(c, n-j0)
		tiled := b.Apply(ops.OneHotRowsOp{N: n, From: j0, Copies: k}, ones)
		if b.Err != nil {
			return nil, nil, b.Err
		}
		if reps[k] == nil {
			reps[k] = map[*G.Node]*G.Node{}
		}
		out, err := ReplayRows(col0, s0, tiled, k, reps[k])
		if err != nil {
			return nil, nil, err
		}
		stacked = append(stacked, out)
		for t := range k {
			cols = append(cols, b.Apply(ops.SliceOp{Axis: 0, From: t * rows, To: (t + 1) * rows}, out))
		}
	}
	return stacked, cols, b.Err
}
