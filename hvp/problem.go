package hvp

import (
	"fmt"
	"sync"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Problem holds the passes built for one loss and its weights: the
// products over all weights (the gradient, the loss at trial weights, Hv,
// GGNv, InvHvAll, Kronecker) and, through Block, each block's.
//
// It is safe for concurrent use: the passes are built once (each block's
// on first use, under a lock) and every product evaluates them with its
// own values (graph.Program), binding directions and trial weights per
// call without touching the graph. The graph's inputs (data, targets,
// weights) are read from their nodes: change them with gorgonia.Let (or
// SetWeights) from one goroutine while no product runs, or pass weights
// explicitly (At, LossAt).
type Problem struct {
	*core
	stats *Stats   // where the products add their cost (WithStats), or nil
	tally *float64 // the flops of one call's programs (Result.Flops), or nil
}

// core is what the Problems made by WithStats share.
type core struct {
	userLoss    *G.Node   // the loss node given to New, in the user's graph
	userWeights []*G.Node // the weights given to New, in the user's graph
	layout      *params.Layout

	// The passes are built from loss and ws: the user's nodes, or, for a
	// graph of Gorgonia's own ops or float32 values, their private
	// translation (package native), whose passes live in a graph of their
	// own. model binds, checks and verifies the inputs of every run.
	model *native.Model
	loss  *G.Node
	ws    []*G.Node
	batch int64 // B: the rows of the data (Stats)

	// pens are the loss's penalty terms (penalty.go): scalars of the
	// weights alone added to it, such as weight decay λ·Σ W². Blocks are
	// made on the data term, the loss without them.
	pens []*G.Node

	grad     *graph.Gradient
	tangents []*G.Node // inputs V_l of the R-pass
	hv       []*G.Node // R{g_l}; a zeros node where the R-pass gives none
	frozen   []*G.Node // piecewise-constant nodes of the gradient pass: the activation pattern

	mu     sync.Mutex // guards the graph while blocks are built, blocks and progs
	blocks []*block   // their routes built on first use
	progs  map[string]*graph.Program
	reuse  map[string]*reused   // B-pass values kept for further directions (reuse.go)
	dense  map[int]*denseReused // dense routes' factorisations, by block (reuse.go)
	ggn    *ggn                 // the Gauss–Newton pass, on first use
	third  *third               // the third-order pass (third.go), on first use
}

// New builds, in loss's graph, the gradient pass and the R-pass for loss
// with respect to weights (input nodes, which must have values before any
// product runs, like every other input of the graph), and groups them into
// blocks: a layer's weight and its bias (a weight W used once, as h·W,
// whose product gets a bias b by ops.BiasAddOp, b also among the weights)
// form one block, every other weight a block alone. NewBlocks chooses the
// blocks. Each block's inverse pass, B-pass and certificate are built when
// first needed (InvHv, Conditions), so that New is linear in the size of
// the net. A block whose inverse cannot be built does not make anything
// else fail: Conditions reports it and its InvHv returns the reason.
func New(loss *G.Node, weights ...*G.Node) (*Problem, error) {
	return newProblem(loss, weights, nil)
}

// NewBlocks is New with the blocks given: each a weight, or a weight and
// its bias; together, every weight once. The weights are in the order of
// the blocks.
func NewBlocks(loss *G.Node, blocks ...[]*G.Node) (*Problem, error) {
	var weights []*G.Node
	var groups [][]int
	for _, b := range blocks {
		var g []int
		for _, w := range b {
			g = append(g, len(weights))
			weights = append(weights, w)
		}
		groups = append(groups, g)
	}
	return newProblem(loss, weights, groups)
}

func newProblem(userLoss *G.Node, userWeights []*G.Node, groups [][]int) (p *Problem, err error) {
	defer errs.Recover("hvp.New", &err)
	for i, w := range userWeights {
		if w == nil {
			return nil, &errs.ShapeError{What: fmt.Sprintf("weight %d", i), Reason: "nil"}
		}
	}
	for i, g := range groups {
		if len(g) == 0 || len(g) > 2 {
			return nil, &errs.ArgumentError{What: fmt.Sprintf("block %d", i), Value: len(g), Reason: "want a weight, or a weight and its bias"}
		}
	}
	if userLoss == nil {
		return nil, &errs.ShapeError{What: "loss", Reason: "nil"}
	}
	c := &core{userLoss: userLoss, userWeights: append([]*G.Node(nil), userWeights...), progs: map[string]*graph.Program{}}
	p = &Problem{core: c}
	if c.model, err = native.NewModel(userLoss, c.userWeights); err != nil {
		return nil, err
	}
	c.loss, c.ws = c.model.Loss(), c.model.Weights()
	loss, weights := c.loss, c.ws
	grad, err := graph.BuildGradient(loss, weights)
	if err != nil {
		return nil, c.model.UserError(err)
	}
	c.grad = grad
	g := loss.Graph()
	seeds := map[*G.Node]*G.Node{}
	for _, w := range weights {
		v := input(g, w, "v")
		c.tangents = append(c.tangents, v)
		seeds[w] = v
	}
	if c.hv, _, err = graph.JVP("R-pass", grad.Grads, seeds); err != nil {
		return nil, c.model.UserError(err)
	}
	for l := range c.hv {
		if c.hv[l], err = nonNil(c.hv[l], grad.Grads[l]); err != nil {
			return nil, err
		}
	}
	for _, n := range grad.Pass.Nodes {
		if ops.IsPiecewiseConstant(n.Op()) {
			c.frozen = append(c.frozen, n)
		}
	}
	c.pens = lossPenalties(loss, weights)
	if groups == nil {
		groups = groupBlocks(loss, weights, c.pens)
	}
	names := make([]string, len(weights))
	shapes := make([]tensor.Shape, len(weights))
	for k, w := range weights {
		names[k], shapes[k] = errs.Name(w), c.userWeights[k].Shape()
	}
	if c.layout, err = params.NewLayout(names, shapes, c.model.Dtype(), groups); err != nil {
		return nil, err
	}
	for l, g := range groups {
		c.blocks = append(c.blocks, &block{params: g, name: c.layout.BlockName(l)})
	}
	c.batch = batchOf(loss, weights)
	return p, nil
}

// batchOf returns B, the rows of the data the loss reads: the largest
// first dimension of an input matrix that is not a weight (1 for a loss of
// the weights alone).
func batchOf(loss *G.Node, weights []*G.Node) int64 {
	isWeight := map[*G.Node]bool{}
	for _, w := range weights {
		isWeight[w] = true
	}
	b := 1
	for _, n := range graph.Inputs(loss) {
		if s := n.Shape(); !isWeight[n] && len(s) >= 2 {
			b = max(b, s[0])
		}
	}
	return int64(b)
}

// nonNil returns t, or, for a nil (zero) tangent, a node of like's shape
// holding zeros: a loss linear in a weight has a zero Hessian block, and
// the product must be a real zero, not a missing node.
func nonNil(t, like *G.Node) (*G.Node, error) {
	if t != nil {
		return t, nil
	}
	return ops.ZerosLike(like)
}

// input adds a named input node shaped like w. Names keep Gorgonia's
// hash-consing from merging inputs of one shape (gorgonia.md).
func input(g *G.ExprGraph, w *G.Node, role string) *G.Node {
	return G.NewTensor(g, tensor.Float64, w.Dims(), G.WithShape(w.Shape()...),
		G.WithName(fmt.Sprintf("newtonia.%s[%s]", role, w.Name())))
}

// WithStats returns a Problem sharing every pass of p whose products add
// their cost to s (see Stats; nil: none). p itself is unchanged.
func (p *Problem) WithStats(s *Stats) *Problem {
	return &Problem{core: p.core, stats: s}
}

// counting returns p with a tally of its programs' flops, for one call.
func (p *Problem) counting() (*Problem, *float64) {
	t := new(float64)
	return &Problem{core: p.core, stats: p.stats, tally: t}, t
}

// program returns the compiled program for roots under key.
func (p *Problem) program(key string, roots []*G.Node, keep ...*G.Node) *graph.Program {
	p.mu.Lock()
	defer p.mu.Unlock()
	prog, ok := p.progs[key]
	if !ok {
		prog = graph.Compile(key, roots, keep...)
		p.progs[key] = prog
	}
	return prog
}

// run evaluates the program for key with bind, after checking every input
// of the loss (weights from bind where given): for a translated graph the
// inputs are read from the user's nodes, and the first run checks the
// translation against Gorgonia's own values (native.Model.Prepare). What
// the run costs (c, and the program's flops) is added to p's Stats.
func (p *Problem) run(key string, roots []*G.Node, bind graph.Values, c cost, keep ...*G.Node) (graph.Values, error) {
	if bind == nil {
		bind = graph.Values{}
	}
	if err := p.model.Prepare(bind); err != nil {
		return nil, err
	}
	prog := p.program(key, roots, keep...)
	vals, err := prog.Run(bind)
	p.add(c, prog.Flops())
	return vals, p.model.UserError(err)
}

// Loss returns the loss node given to New, in the user's graph.
func (p *Problem) Loss() *G.Node { return p.userLoss }

// Weights returns the weight nodes given to New, in the user's graph and
// in order (the order of Layout, and of every vector's values).
func (p *Problem) Weights() []*G.Node { return append([]*G.Node(nil), p.userWeights...) }

// Layout returns the layout of every vector over all weights: the
// weights' names, their shapes and dtype as the user's nodes have them,
// and their blocks. Layout().Block(l) is block l's.
func (p *Problem) Layout() *params.Layout { return p.layout }

// Blocks returns the number of blocks.
func (p *Problem) Blocks() int { return len(p.blocks) }

// Block returns block l's handle: its products (Hv, InvHv, Certify,
// Curvature, Gram, FunctionalInverse) and its conditions. Block panics
// with a message beginning "hvp: block" if l is out of range [0,
// Blocks()): a programmer's error, like a slice index.
func (p *Problem) Block(l int) *Block {
	if l < 0 || l >= len(p.blocks) {
		panic(fmt.Sprintf("hvp: block %d out of range [0, %d)", l, len(p.blocks)))
	}
	return &Block{p: p, l: l}
}

// Current returns the weights' current values (the values bound to the
// user's weight nodes, copied, in float64: a float32 model's exactly).
func (p *Problem) Current() (*params.Vector, error) {
	ts := make([]*tensor.Dense, len(p.userWeights))
	for k, w := range p.userWeights {
		t, ok := native.Dense(w.Value())
		if !ok {
			return nil, &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("no matrix value (got %T)", w.Value())}
		}
		ts[k] = t
	}
	return params.FromTensors(p.layout, ts, "weights")
}

// SetWeights binds w to the user's weight nodes (gorgonia.Let), as new
// tensors in their shapes and dtype (float32 rounded to nearest; a scalar
// weight as Gorgonia's scalar value). A w of another layout is an
// *errs.ShapeError, a non-finite value an *errs.NotFiniteError, naming
// the weight; nothing is bound then.
func (p *Problem) SetWeights(w *params.Vector) error {
	if err := p.checkVec(w, p.layout, "weights"); err != nil {
		return err
	}
	vs := userValues(p.userWeights, w)
	for k, n := range p.userWeights {
		if err := G.Let(n, vs[k]); err != nil {
			return &errs.ShapeError{What: "weight " + errs.Name(n), Reason: err.Error()}
		}
	}
	return nil
}

// Point is the loss, its gradient and the activation pattern at some
// weights.
type Point struct {
	Loss float64
	Grad *params.Vector
	// Pattern holds the values of the gradient pass's piecewise-constant
	// nodes (the derivative masks of piecewise-linear activations), in a
	// fixed order: two points share an activation pattern when their
	// Patterns are equal.
	Pattern [][]float64
}

// At returns the loss, gradient and activation pattern at weights w (nil:
// the weights' current values), leaving the graph untouched.
func (p *Problem) At(w *params.Vector) (pt *Point, err error) {
	defer errs.Recover("hvp.At", &err)
	bind, err := p.bindWeights(w)
	if err != nil {
		return nil, err
	}
	roots := append([]*G.Node{p.loss}, p.grad.Grads...)
	vals, err := p.run("gradient", roots, bind, cost{rows: p.batch, gradients: 1}, p.frozen...)
	if err != nil {
		return nil, err
	}
	pt = &Point{}
	if pt.Loss, err = scalarValue(vals, p.loss); err != nil {
		return nil, err
	}
	if pt.Grad, err = p.vector(p.layout, vals, p.grad.Grads); err != nil {
		return nil, err
	}
	pt.Grad.Round()
	for _, n := range p.frozen {
		d, err := flatValue(vals, n)
		if err != nil {
			return nil, err
		}
		pt.Pattern = append(pt.Pattern, d)
	}
	return pt, nil
}

// Gradient returns the loss and its gradient at the inputs as bound.
func (p *Problem) Gradient() (loss float64, g *params.Vector, err error) {
	pt, err := p.At(nil)
	if err != nil {
		return 0, nil, err
	}
	return pt.Loss, pt.Grad, nil
}

// LossAt returns the loss at weights w (nil: the current weights), by the
// forward pass alone.
func (p *Problem) LossAt(w *params.Vector) (loss float64, err error) {
	defer errs.Recover("hvp.LossAt", &err)
	bind, err := p.bindWeights(w)
	if err != nil {
		return 0, err
	}
	vals, err := p.run("loss", []*G.Node{p.loss}, bind, cost{rows: (p.batch + 1) / 2, losses: 1})
	if err != nil {
		return 0, err
	}
	return scalarValue(vals, p.loss)
}

// Hv returns the exact product of the full Hessian with v (of Layout), by
// the R-pass. The product is computed for v/‖v‖ and scaled back, so that
// directions near the ends of the float64 range neither overflow nor
// underflow inside the pass; v = 0 gives zeros.
func (p *Problem) Hv(v *params.Vector) (hv *params.Vector, err error) {
	defer errs.Recover("hvp.Hv", &err)
	if err := p.checkVec(v, p.layout, "direction"); err != nil {
		return nil, err
	}
	if hv, err = p.hvChecked(v); err != nil {
		return nil, err
	}
	hv.Round()
	return hv, nil
}

// hvChecked is Hv for directions already checked, unrounded.
func (p *Problem) hvChecked(v *params.Vector) (*params.Vector, error) {
	return p.linear("hv", p.hv, v, "H v", cost{rows: 2 * p.batch, hv: 1})
}

// linear evaluates roots (one per weight), linear in the R-pass's tangents,
// for a direction v over all weights, already checked: at v/‖v‖, scaled
// back, so that directions near the ends of the float64 range neither
// overflow nor underflow inside the pass; v = 0 gives zeros. what names
// the product in errors.
func (p *Problem) linear(key string, roots []*G.Node, v *params.Vector, what string, c cost) (*params.Vector, error) {
	s := v.Norm()
	if s == 0 {
		if err := p.model.Check(); err != nil {
			return nil, err
		}
		return params.New(p.layout), nil
	}
	u := unitOf(v, s)
	bind := graph.Values{}
	for k, n := range p.tangents {
		bind[n] = valueOf(n, u.Weight(k))
	}
	vals, err := p.run(key, roots, bind, c)
	if err != nil {
		return nil, err
	}
	out, err := p.vector(p.layout, vals, roots)
	if err != nil {
		return nil, err
	}
	return out, scaledFinite(s, out, func(k int) string { return what + " for " + p.layout.Name(k) })
}

// blockHv returns H_ll v for a direction v of block l's layout, already
// checked (unrounded): the full product of v on block l, zero elsewhere.
func (p *Problem) blockHv(l int, v *params.Vector) (*params.Vector, error) {
	whole := params.New(p.layout)
	whole.Block(l).CopyFrom(v)
	hv, err := p.hvChecked(whole)
	if err != nil {
		return nil, err
	}
	return hv.Block(l).Clone(), nil
}
