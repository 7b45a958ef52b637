package hvp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/internal/budget"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
)

// Penalties (method.md §11). A penalty term is a scalar added to the loss
// (through sums, differences and weight-free scalings) that reads the
// weights but neither the net's output nor its inputs: weight decay
// λ·Σ W², Σ|W|, a prior ‖W − W₀‖². The loss is J = L(z(w)) + Σ_t c_t P_t(w)
// and its Hessian H = H_data + Σ_t c_t ∇²P_t. The terms are found once, by
// ggnOutput, and serve three products:
//
//   - blocks are made on the data term (graph.UsesWithout the terms): a
//     weight read by its layer and by its penalty still pairs with its bias
//     and keeps its per-sample route;
//   - GGNv adds the terms' exact Hessian (addPenaltyHessian); Hv has it
//     already (the R-pass of the whole loss);
//   - InvHv of a block with a penalty takes the penalized route: the
//     per-sample curvature of the data term, H_data = Aᵀ D A, plus the
//     penalty's Hessian, which must be constant on the diagonal of each of
//     the block's weights (L2: H_pen = c_p I on weight p, found by probing
//     H_pen with two directions), solved exactly by a dense LU of the
//     k·n block or by the push-through form on the B·n side, whichever
//     costs fewer flops, under Options.MaxFlops and the memory cap.

// DefaultMaxFlops is the default of Options.MaxFlops: about ten seconds
// of LU (measured on a 2-core machine: a 784-64 tanh layer with a bias at
// batch 32, push-through 2112 × 2112, 6.3·10⁹ flops, InvHv with its
// certificate in 0.47 s). For a 300 × 100 layer with
// a bias (k = 301, n = 100) the dense block (kn ≈ 3·10⁴, 1.8·10¹³ flops)
// is refused; its push-through form is solved at batch 32 (B·n = 3200,
// 2.2·10¹⁰ flops, 82 MB) and refused at batch 64 (1.7·10¹¹).
const DefaultMaxFlops = 1e11

// penalties splits the loss into additive terms, down through sums,
// differences and scalings by weight-free factors, and returns the terms
// that depend on the weights but not on the output z and read none of the
// net's inputs (weight decay λ·Σ W², any penalty of the weights alone):
// J = L(z(w)) + Σ_t c_t P_t(w), with constants c_t. A term that reads the
// net's data (a second output with a loss of its own) is no penalty.
func penalties(loss *G.Node, weightDep, zDep, data map[*G.Node]bool) []*G.Node {
	var out []*G.Node
	seen := map[*G.Node]bool{}
	var split func(n *G.Node)
	split = func(n *G.Node) {
		if seen[n] || !weightDep[n] {
			return
		}
		seen[n] = true
		if !zDep[n] {
			if !slices.ContainsFunc(graph.Inputs(n), func(x *G.Node) bool { return data[x] }) {
				out = append(out, n)
			}
			return
		}
		in := graph.Children(n)
		switch n.Op().(type) {
		case ops.AddOp, ops.SubOp:
			if n.Shape().IsScalar() {
				for _, c := range in {
					split(c)
				}
			}
		case ops.ScaleOp:
			split(in[0])
		case ops.ScalarMulOp:
			if !weightDep[in[0]] { // s·X or X/s with a weight-free s
				split(in[1])
			}
		}
	}
	split(loss)
	return out
}

// lossPenalties returns the penalty terms of loss for weights ws: those
// ggnOutput finds beside the net's output, none when the loss has no
// Gauss–Newton output (then nothing is recognised as a penalty, and a
// weight read twice is a weight used twice). A graph the search cannot
// read (a panic in it) has none either: recognising penalties must not
// make New fail.
func lossPenalties(loss *G.Node, ws []*G.Node) (pens []*G.Node) {
	defer func() {
		if recover() != nil {
			pens = nil
		}
	}()
	// Which node is the output does not change which terms read no output
	// (the curvature test only moves z back from a linear loss), so the
	// search runs before the gradient pass exists, every node taken curved.
	_, pens, err := ggnOutputs(loss, ws, func(*G.Node) bool { return true })
	if err != nil {
		return nil
	}
	return pens
}

// penaltyHessian builds Σ_t c_t ∇²P_t d for the terms (c_t their adjoints
// in the gradient pass, constants), restricted to the weights ws and
// with tangents seeds (weight → direction): one output per weight of ws,
// nil where it is zero.
func (p *Problem) penaltyHessian(terms, ws []*G.Node, seeds map[*G.Node]*G.Node) ([]*G.Node, error) {
	var sur *G.Node
	for _, t := range terms {
		c := p.grad.Adjoints[t]
		if c == nil {
			return nil, &errs.NoRuleError{Node: t, Op: t.Op(), Rule: "penalty Hessian", Err: fmt.Errorf("no adjoint")}
		}
		sc, err := ops.Stop(c)
		if err != nil {
			return nil, err
		}
		term, err := ops.ScalarMul(sc, t)
		if err != nil {
			return nil, err
		}
		if sur == nil {
			sur = term
		} else if sur, err = ops.Add(sur, term); err != nil {
			return nil, err
		}
	}
	order := graph.Sorted(sur)
	out := make([]*G.Node, len(ws))
	var read []*G.Node
	var idx []int
	for k, w := range ws {
		if dependents(order, map[*G.Node]bool{w: true})[sur] {
			read, idx = append(read, w), append(idx, k)
		}
	}
	if len(read) == 0 {
		return out, nil
	}
	back, err := graph.BuildGradient(sur, read)
	if err != nil {
		return nil, err
	}
	sd := map[*G.Node]*G.Node{}
	for _, w := range read {
		if s := seeds[w]; s != nil {
			sd[w] = s
		}
	}
	hp, _, err := graph.JVP("penalty Hessian", back.Grads, sd)
	if err != nil {
		return nil, err
	}
	for i, k := range idx {
		out[k] = hp[i]
	}
	return out, nil
}

// addPenaltyHessian adds to G v the exact Hessian of the penalty terms:
// with J = L(z(w)) + Σ_t c_t P_t(w), G = J_zᵀ ∇²L J_z + Σ_t c_t ∇²P_t
// (method.md §11: the Gauss–Newton matrix adds a weight decay's λI
// exactly). The product is the R-pass of the gradient of Σ_t stop(c_t)·P_t.
func (p *Problem) addPenaltyHessian(gg *ggn) error {
	if len(gg.pens) == 0 {
		return nil
	}
	seeds := map[*G.Node]*G.Node{}
	for k, w := range p.ws {
		seeds[w] = p.tangents[k]
	}
	hp, err := p.penaltyHessian(gg.pens, p.ws, seeds)
	if err != nil {
		return err
	}
	for k, h := range hp {
		if h == nil { // a penalty linear in w_k (L1 away from 0), or none: no curvature
			continue
		}
		if gg.out[k] == nil {
			gg.out[k] = h
		} else if gg.out[k], err = ops.Add(gg.out[k], h); err != nil {
			return err
		}
	}
	return nil
}

// penalty is what a block with penalty terms adds to its per-sample
// route: the terms, and the graph that probes their Hessian on the block.
type penalty struct {
	terms []*G.Node // the penalty terms reading the block's weights
	reads []bool    // whether they read each parameter of the block
	dirs  []*G.Node // inputs: a probe direction, one per parameter of the block
	out   []*G.Node // H_pen d on the block, one per parameter (nil: zero)
}

// penaltyNames labels pen's terms for messages: the user's nodes where
// the graph is a translation.
func (p *Problem) penaltyNames(pen *penalty) string {
	s := make([]string, len(pen.terms))
	for i, t := range pen.terms {
		s[i] = p.userLabel(t)
	}
	var ws []string
	for k, w := range p.ws { // the weights the terms read, as the user named them
		if slices.ContainsFunc(pen.terms, func(t *G.Node) bool { return slices.Contains(graph.Inputs(t), w) }) {
			ws = append(ws, errs.Name(p.userWeights[k]))
		}
	}
	return strings.Join(s, ", ") + " (of " + strings.Join(ws, ", ") + ")"
}

// blockPenalty returns the penalty terms reading block b's weights, with
// their probe built, or nil when no penalty reads them (p.mu held).
func (p *Problem) blockPenalty(b *block) (*penalty, error) {
	if len(p.pens) == 0 {
		return nil, nil
	}
	ws := make([]*G.Node, len(b.params))
	roots := map[*G.Node]bool{}
	for i, k := range b.params {
		ws[i] = p.ws[k]
		roots[p.ws[k]] = true
	}
	pen := &penalty{reads: make([]bool, len(ws))}
	for _, t := range p.pens {
		order := graph.Sorted(t)
		if !dependents(order, roots)[t] {
			continue
		}
		pen.terms = append(pen.terms, t)
		for i, w := range ws {
			if dependents(order, map[*G.Node]bool{w: true})[t] {
				pen.reads[i] = true
			}
		}
	}
	if len(pen.terms) == 0 {
		return nil, nil
	}
	seeds := map[*G.Node]*G.Node{}
	for _, w := range ws {
		d := input(w.Graph(), w, "penalty probe")
		pen.dirs = append(pen.dirs, d)
		seeds[w] = d
	}
	var err error
	if pen.out, err = p.penaltyHessian(pen.terms, ws, seeds); err != nil {
		return nil, err
	}
	return pen, nil
}

// penaltyKind is what a probe found a block's penalty Hessian to be.
type penaltyKind int

const (
	penaltyL2    penaltyKind = iota // c_p I on each weight p, some c_p ≠ 0
	penaltyZero                     // 0 at this point: Σ|W| (piecewise linear)
	penaltyOther                    // not a constant diagonal: Σ W⁴, (Σ W)², …
)

// userLabel labels node t of the passes' graph: as the user's node it
// computes, or, for a node of the translation with none (a scalar product
// the translation rewrote), as the user's nodes it reads ("λ·Σ(W²)" reads
// as "… of Σ(…)").
func (p *Problem) userLabel(t *G.Node) string {
	if !p.model.Translated() {
		return errs.Label(t)
	}
	if u := p.model.UserNode(t); u != nil {
		return errs.Label(u)
	}
	var in []string
	for _, c := range graph.Children(t) {
		if u := p.model.UserNode(c); u != nil && u.Op() != nil {
			in = append(in, errs.Label(u))
		}
	}
	if len(in) == 0 {
		return errs.Label(t)
	}
	return fmt.Sprintf("%v of %s", t.Op(), strings.Join(in, ", "))
}

// probe is a penalty's Hessian on a block at the current weights.
type probe struct {
	kind penaltyKind
	c    []float64 // H_pen ≈ c_p I on parameter p (the Rayleigh quotient for penaltyOther)
	dev  float64   // the largest relative deviation of H_pen d from c_p d seen
	zero []int     // the parameters a penalty reads with no curvature (penaltyZero)
}

// probeTol is the largest relative deviation ‖H_pen d − c d‖/‖H_pen d‖
// of an L2 penalty's Hessian: 2λ·d computed by the R-pass is exact up to
// a few roundings (1e-16 each); a Hessian that is not a multiple of the
// identity on a weight moves a random direction by O(1) of itself.
const probeTol = 1e-10

// probePenalty measures block l's penalty Hessian at the current weights:
// H_pen d for two fixed pseudo-random directions d. It is c_p I on
// parameter p exactly when both come back as c_p d on every parameter
// with the same c_p (two random directions are both eigenvectors of one
// eigenvalue only for a multiple of the identity).
func (p *Problem) probePenalty(l int, pen *penalty) (*probe, error) {
	b := p.blocks[l]
	rng := rand.New(rand.NewPCG(uint64(l)+1, 0x9e3779b97f4a7c15))
	var outs []*G.Node
	var at []int
	for i, o := range pen.out {
		if o != nil {
			outs, at = append(outs, o), append(at, i)
		}
	}
	pr := &probe{c: make([]float64, len(b.params))}
	if len(outs) == 0 { // no curvature at all (Σ|W|)
		pr.kind = penaltyZero
		for i, r := range pen.reads {
			if r {
				pr.zero = append(pr.zero, i)
			}
		}
		return pr, nil
	}
	var ds [2][][]float64
	var hs [2][][]float64
	for s := range 2 {
		bind := graph.Values{}
		ds[s] = make([][]float64, len(pen.dirs))
		for i, d := range pen.dirs {
			x := make([]float64, d.Shape().TotalSize())
			for j := range x {
				x[j] = rng.NormFloat64()
			}
			ds[s][i] = x
			bind[d] = valueOf(d, x)
		}
		vals, err := p.run(fmt.Sprintf("penalty probe/%d", l), outs, bind, cost{rows: 1, other: 1})
		if err != nil {
			return nil, err
		}
		hs[s] = make([][]float64, len(pen.dirs))
		for j, i := range at {
			if hs[s][i], err = flatValue(vals, outs[j]); err != nil {
				return nil, err
			}
		}
	}
	for i := range pen.dirs {
		if hs[0][i] == nil {
			continue
		}
		d, h := ds[0][i], hs[0][i]
		pr.c[i] = dotF(h, d) / dotF(d, d)
		for s := range 2 {
			d, h := ds[s][i], hs[s][i]
			var num, den float64
			for j := range d {
				num += (h[j] - pr.c[i]*d[j]) * (h[j] - pr.c[i]*d[j])
				den += h[j] * h[j]
			}
			if den > 0 {
				pr.dev = math.Max(pr.dev, math.Sqrt(num/den))
			}
		}
	}
	pr.kind = penaltyL2
	for i := range pr.c {
		if pen.reads[i] && pr.c[i] == 0 { // read, without curvature: Σ|W| on this weight
			pr.kind, pr.zero = penaltyZero, append(pr.zero, i)
		}
	}
	if pr.dev > probeTol {
		pr.kind = penaltyOther
	}
	return pr, nil
}

func dotF(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// describe says what the probe found, for reports and refusals.
func (pr *probe) describe(p *Problem, l int, pen *penalty) string {
	names := p.penaltyNames(pen)
	var cs []string
	for i, k := range p.blocks[l].params {
		cs = append(cs, fmt.Sprintf("%.6g·I on %s", pr.c[i], errs.Name(p.userWeights[k])))
	}
	switch pr.kind {
	case penaltyL2:
		msg := fmt.Sprintf("penalty %s: L2, its Hessian is %s (probed by two directions, deviation %.2g)", names, strings.Join(cs, ", "), pr.dev)
		if bs := p.blocks[l].params; len(bs) == 2 && pr.c[1] == 0 {
			msg += fmt.Sprintf("; %s is not decayed, so its curvature is the data term's alone: where the layer feeds a shift-invariant loss directly (softmax cross-entropy) the block is singular, and only damping makes it invertible", errs.Name(p.userWeights[bs[1]]))
		}
		return msg
	case penaltyZero:
		var zs []string
		for _, i := range pr.zero {
			zs = append(zs, errs.Name(p.userWeights[p.blocks[l].params[i]]))
		}
		return fmt.Sprintf("penalty %s: its Hessian on %s is 0 here (piecewise linear, like Σ|W|, not twice differentiable where a weight is 0): the Newton step of a penalty without curvature ignores it, so InvHv refuses; Hv and GGNv are exact", names, strings.Join(zs, ", "))
	}
	return fmt.Sprintf("penalty %s: not L2 — its Hessian on the block is not a constant multiple of the identity on each weight (deviation %.2g of a probe direction, tolerance %.0e): the penalized route solves only H_data + c·I; Hv and GGNv are exact, and an inverse takes conjugate gradients on Hv or a dense block from the R-pass (reference.DenseBlock)", names, pr.dev, probeTol)
}

// penSolve is the size of a penalized solve: the dense LU of the k·n
// block, or the push-through LU on the B'·n side (B' = B plus a row per
// row of W̃ whose penalty constant differs from the largest).
type penSolve struct {
	push         bool
	dim          int // of the matrix factorised
	flops, bytes float64
}

func (s penSolve) String() string {
	how := "dense LU of H_ll (k·n side)"
	if s.push {
		how = "push-through LU (B·n side)"
	}
	return fmt.Sprintf("%s, %d×%d: %.3g flops, %s", how, s.dim, s.dim, s.flops, errs.Amount(s.bytes, "B"))
}

// plan chooses the cheaper solve for batch B, fan-in k (rows of W̃), n
// outputs and extra push-through rows; c0, the push-through's base, must
// be positive for it (else the dense form).
func plan(batch, k, n, extra int, c0 float64) penSolve {
	kn := float64(k * n)
	dense := penSolve{dim: k * n, flops: float64(batch)*kn*kn + 2*kn*kn*kn/3, bytes: 8 * kn * kn}
	bp := float64(batch + extra)
	bn := bp * float64(n)
	push := penSolve{push: true, dim: (batch + extra) * n, flops: bp*bp*(float64(k)+float64(n*n)) + 2*bn*bn*bn/3 + 4*bp*kn, bytes: 8 * bn * bn}
	switch {
	case forceSolve == "push" && c0 > 0:
		return push
	case forceSolve == "dense":
		return dense
	case c0 > 0 && push.flops < dense.flops:
		return push
	}
	return dense
}

// forceSolve, set by tests only, makes plan take one form ("dense",
// "push") whatever it costs.
var forceSolve string

// rowConstants returns the penalty's constant on each row of W̃ (k rows:
// W's, then the bias's), from the probe's c_p.
func rowConstants(pr *probe, k int, bias bool) []float64 {
	cr := make([]float64, k)
	for a := range cr {
		cr[a] = pr.c[0]
	}
	if bias {
		cr[k-1] = pr.c[1]
	}
	return cr
}

// extraRows counts the rows whose constant differs from the largest (the
// push-through's base).
func extraRows(cr []float64) (c0 float64, extra int) {
	c0 = slices.Max(cr)
	for _, c := range cr {
		if c != c0 {
			extra++
		}
	}
	return c0, extra
}

// penSystem is H_ll + λ·h̃ᵀh̃ ⊗ I = Σ_i h̃_iᵀh̃_i ⊗ (M_i + λI) + diag(c_a) for a
// block with an L2 penalty, c_a the penalty's constant on row a of W̃
// (vectorised row-major, entry (a, j) of W̃ at a·n + j).
type penSystem struct {
	b, k, n int
	rows    []float64   // h̃, B × k
	m       [][]float64 // M_i + λI, n × n row-major, one per sample
	c       []float64   // c_a, one per row of W̃
}

// dense returns the kn × kn matrix.
func (s *penSystem) dense() *mat.Dense {
	kn := s.k * s.n
	h := mat.NewDense(kn, kn, nil)
	raw := h.RawMatrix().Data
	for i := range s.b {
		hi := s.rows[i*s.k : (i+1)*s.k]
		for a := range s.k {
			if hi[a] == 0 {
				continue
			}
			for c := range s.k {
				w := hi[a] * hi[c]
				if w == 0 {
					continue
				}
				for j := range s.n {
					row := raw[(a*s.n+j)*kn+c*s.n:]
					mj := s.m[i][j*s.n : (j+1)*s.n]
					for l, x := range mj {
						row[l] += w * x
					}
				}
			}
		}
	}
	for a := range s.k {
		for j := range s.n {
			raw[(a*s.n+j)*kn+a*s.n+j] += s.c[a]
		}
	}
	return h
}

// solveDense solves by LU of the dense block; it returns u and the LU's
// condition estimate (1-norm).
func (s *penSystem) solveDense(v []float64) ([]float64, float64, error) {
	var lu mat.LU
	lu.Factorize(s.dense())
	cond := lu.Cond()
	kn := s.k * s.n
	u := mat.NewVecDense(kn, nil)
	if err := lu.SolveVecTo(u, false, mat.NewVecDense(kn, append([]float64(nil), v...))); err != nil && math.IsInf(cond, 1) {
		return nil, cond, err
	}
	return u.RawVector().Data, cond, nil
}

// solvePush solves by the push-through form (method.md §11):
//
//	(c₀I + A'ᵀD'A')⁻¹ v = c₀⁻¹ [v − A'ᵀ (c₀I + D'·A'A'ᵀ)⁻¹ D'·A' v]
//
// with A' = h̃' ⊗ I_n, h̃' = h̃ over one row e_aᵀ for each row a of W̃
// whose constant c_a differs from the largest c₀ (its M = (c_a − c₀)I),
// and D' = blockdiag(M'_i). A'A'ᵀ = (h̃'h̃'ᵀ) ⊗ I_n, A'v = h̃'V, A'ᵀY = h̃'ᵀY.
func (s *penSystem) solvePush(v []float64) ([]float64, float64, error) {
	k, n := s.k, s.n
	c0, _ := extraRows(s.c)
	rows := append([]float64(nil), s.rows...)
	ms := append([][]float64(nil), s.m...)
	for a, c := range s.c {
		if c == c0 {
			continue
		}
		e := make([]float64, k)
		e[a] = 1
		rows = append(rows, e...)
		m := make([]float64, n*n)
		for j := range n {
			m[j*n+j] = c - c0
		}
		ms = append(ms, m)
	}
	bp := len(ms)
	r := mat.NewDense(bp, k, rows)
	var gram mat.Dense
	gram.Mul(r, r.T())
	// K = c₀I + D'(G ⊗ I): block (i, j) = c₀δ_ij I + G_ij M'_i.
	dim := bp * n
	kk := mat.NewDense(dim, dim, nil)
	raw := kk.RawMatrix().Data
	for i := range bp {
		for j := range bp {
			g := gram.At(i, j)
			for a := range n {
				row := raw[(i*n+a)*dim+j*n:]
				for b := range n {
					row[b] = g * ms[i][a*n+b]
				}
				if i == j {
					row[a] += c0
				}
			}
		}
	}
	// D'·A'v: row i of h̃'V times M'_i.
	vm := mat.NewDense(k, n, append([]float64(nil), v...))
	var av mat.Dense
	av.Mul(r, vm)
	rhs := make([]float64, dim)
	for i := range bp {
		for a := range n {
			var x float64
			for b := range n {
				x += ms[i][a*n+b] * av.At(i, b)
			}
			rhs[i*n+a] = x
		}
	}
	var lu mat.LU
	lu.Factorize(kk)
	cond := lu.Cond()
	y := mat.NewVecDense(dim, nil)
	if err := lu.SolveVecTo(y, false, mat.NewVecDense(dim, rhs)); err != nil && math.IsInf(cond, 1) {
		return nil, cond, err
	}
	var aty mat.Dense
	aty.Mul(r.T(), mat.NewDense(bp, n, y.RawVector().Data))
	u := make([]float64, k*n)
	for i := range u {
		u[i] = (v[i] - aty.RawMatrix().Data[i]) / c0
	}
	return u, cond, nil
}

// penalizedRoute builds the route of a block with penalty terms pen: the
// per-sample route of its data term, whose curvature the penalized solve
// reads (p.mu held). A block without one (a tied weight, a loss that is
// not row-separable) has no route: the error says why.
func (p *Problem) penalizedRoute(b *block, pen *penalty) (*route, error) {
	ps, err := p.perSampleRoute(b)
	if err != nil {
		return nil, fmt.Errorf("penalty %s on the block: the penalized solve needs the data term's per-sample curvature: %w", p.penaltyNames(pen), err)
	}
	r := &route{method: MethodPenalized, kind: KindExact, rows: ps.rows, delta: ps.delta, cols: ps.cols,
		bytes: ps.bytes, passes: ps.passes, pen: pen, bias: len(b.params) == 2,
		reasons: []string{fmt.Sprintf("penalized route: H_ll = Aᵀ D A (the data term's per-sample curvature) + the Hessian of penalty %s, solved exactly when that Hessian is c·I on each weight (L2), checked when run", p.penaltyNames(pen))}}
	return r, nil
}

// penaltyReport returns block l's penalty as its conditions report states
// it, probing the penalty's Hessian at the current weights; nil for a
// block without a penalty.
func (p *Problem) penaltyReport(l int, r *route) (*PenaltyConditions, *probe, error) {
	if r == nil || r.pen == nil {
		return nil, nil, nil
	}
	pr, err := p.probePenalty(l, r.pen)
	if err != nil {
		return nil, nil, err
	}
	pc := &PenaltyConditions{Node: p.penaltyNames(r.pen), Kind: []string{"L2", "zero Hessian (L1-like)", "other"}[pr.kind], C: pr.c}
	pc.Reason = pr.describe(p, l, r.pen)
	rs := r.rows.Shape()
	cr := rowConstants(pr, rs[1], r.bias)
	c0, extra := extraRows(cr)
	s := plan(rs[0], rs[1], len(r.cols), extra, c0)
	pc.Solve, pc.Flops, pc.Bytes = s.String(), s.flops, s.bytes+r.bytes
	return pc, pr, nil
}

// penalizedResult64 solves block l's penalized system for v (scale its
// norm) exactly, from one run of the data term's per-sample curvature,
// and certifies the result by the exact R-pass of the whole loss (penalty
// included).
func (p *Problem) penalizedResult64(l int, r *route, v *params.Vector, scale float64, o Options) (*Result, error) {
	b := p.blocks[l]
	bl := p.layout.Block(l)
	res := &Result{Kind: r.kind, Method: MethodPenalized, Damping: o.Damping, Residual: math.NaN(), Reasons: append([]string(nil), r.reasons...)}
	pc, pr, err := p.penaltyReport(l, r)
	if err != nil {
		return nil, err
	}
	res.Reasons = append(res.Reasons, pc.Reason)
	if pr.kind != penaltyL2 {
		res.Kind = KindRefused
		if !o.BestEffort {
			return nil, &errs.ConditionError{Block: l, Weight: b.name, Node: pc.Node, Reason: "refused before running: " + pc.Reason}
		}
	}
	if scale == 0 {
		return p.zeroResult(l, res, o)
	}
	rs := r.rows.Shape()
	bsz, k, n := rs[0], rs[1], len(r.cols)
	cr := rowConstants(pr, k, r.bias)
	c0, extra := extraRows(cr)
	s := plan(bsz, k, n, extra, c0)
	what := fmt.Sprintf("block %d (%s), penalty %s: %s", l, b.name, pc.Node, s)
	if s.flops > o.MaxFlops {
		return nil, &errs.LimitError{What: what, Resource: "flops", Estimate: s.flops, Limit: o.MaxFlops,
			Hint: fmt.Sprintf("the cap is Options.MaxFlops, 0 for the default %.0e; a smaller batch makes the push-through form cheaper", float64(DefaultMaxFlops))}
	}
	if err := budget.Check(what, s.bytes+r.bytes, o.MaxBytes, capHint("the factorised matrix and the values of the per-sample pass", "Options.MaxBytes")); err != nil {
		return nil, err
	}
	roots := append([]*G.Node{r.rows}, r.cols...)
	vals, err := p.run(fmt.Sprintf("penalized/%d", l), roots, nil, cost{rows: p.batch * int64(n+1), invhv: 1})
	if err != nil {
		return nil, err
	}
	sys := &penSystem{b: bsz, k: k, n: n, c: cr}
	if sys.rows, err = flatValue(vals, r.rows); err != nil {
		return nil, err
	}
	sys.m = make([][]float64, bsz)
	for i := range sys.m {
		sys.m[i] = make([]float64, n*n)
	}
	for j, col := range r.cols {
		d, err := flatValue(vals, col) // B × n: row i is column j of M_i
		if err != nil {
			return nil, err
		}
		for i := range bsz {
			for a := range n {
				sys.m[i][a*n+j] = d[i*n+a]
			}
		}
	}
	for i := range sys.m {
		for a := range n {
			sys.m[i][a*n+a] += o.Damping
		}
	}
	vu := unitOf(v, scale)
	flat := vu.Flat() // W over b: W̃ row-major
	var uf []float64
	var cond float64
	if s.push {
		uf, cond, err = sys.solvePush(flat)
	} else {
		uf, cond, err = sys.solveDense(flat)
	}
	if p.tally != nil {
		*p.tally += s.flops
	}
	if p.stats != nil {
		p.stats.Add(Stats{Flops: s.flops})
	}
	op := "dense LU of H_ll"
	if s.push {
		op = "push-through LU of c·I + D·AAᵀ"
	}
	if err != nil || math.IsInf(cond, 1) || math.IsNaN(cond) {
		return nil, &errs.ConditionError{Block: l, Weight: b.name, Node: pc.Node, Op: op, Value: cond,
			Reason: fmt.Sprintf("%s: the %d×%d matrix is singular (condition estimate %.3g): H_data + H_pen is singular here", op, s.dim, s.dim, cond)}
	}
	res.Factorizations = []Factorization{{Node: pc.Node, Op: op, MatrixCondition: ops.MatrixCondition{Rows: s.dim, Cols: s.dim, Rank: s.dim, Cond: cond, Method: "LU (1-norm estimate)"}}}
	return p.certifySolved(l, params.FromFlat(bl, uf), vu, scale, res, o)
}
