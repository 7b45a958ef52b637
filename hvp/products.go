package hvp

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Products holds the passes built for one loss and its weights.
//
// It is safe for concurrent use: the passes are built once (each block's
// on first use, under a lock) and every product evaluates them with its
// own values (graph.Program), binding directions and trial weights per
// call without touching the graph. The graph's inputs (data, targets,
// weights) are read from their nodes: change them with gorgonia.Let from
// one goroutine while no product runs, or pass weights explicitly
// (Evaluate, LossAt).
type Products struct {
	Loss    *G.Node   // the loss node given to New, in the user's graph
	Weights []*G.Node // the weights given to New, in the user's graph

	// The passes are built from loss and ws: Loss and Weights themselves,
	// or, for a graph of Gorgonia's own ops or float32 values, their
	// private translation (tr; package native), whose passes live in a
	// graph of their own.
	loss     *G.Node
	ws       []*G.Node
	tr       *native.Translation
	vmu      sync.Mutex // guards verified and badTr
	verified bool       // the translation was checked at the first inputs with values
	badTr    error      // Verify's verdict

	grad     *graph.Gradient
	inputs   []*G.Node // every input the loss reads
	tangents []*G.Node // inputs V_l of the R-pass
	hv       []*G.Node // R{g_l}; a zeros node where the R-pass gives none
	rpass    graph.Pass
	frozen   []*G.Node // piecewise-constant nodes of the gradient pass: the activation pattern

	mu     sync.Mutex // guards the graph while blocks are built, blocks and progs
	blocks []*block   // their routes built on first use
	progs  map[string]*graph.Program
	ggn    *ggn // the Gauss–Newton pass, on first use

	lastFlops atomic.Uint64 // float64 bits: LastFlops
}

// LastFlops returns the floating-point operations of the last program a
// product ran (graph.Program.Flops: matrix products, factorisations and
// solves from their shapes, other ops one per element) — one program per
// Gradient, Hv or InvHvAll call, the last of several for a product that
// runs more. For reporting speed in GFlop/s.
func (p *Products) LastFlops() float64 { return math.Float64frombits(p.lastFlops.Load()) }

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
func New(loss *G.Node, weights ...*G.Node) (*Products, error) {
	return newProducts(loss, weights, nil)
}

// NewBlocks is New with the blocks given: each a weight, or a weight and
// its bias; together, every weight once.
func NewBlocks(loss *G.Node, blocks ...[]*G.Node) (*Products, error) {
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
	return newProducts(loss, weights, groups)
}

func newProducts(userLoss *G.Node, userWeights []*G.Node, groups [][]int) (p *Products, err error) {
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
	p = &Products{Loss: userLoss, Weights: userWeights, loss: userLoss, ws: userWeights, progs: map[string]*graph.Program{}}
	if native.Needed(userLoss) {
		if p.tr, err = native.Translate(userLoss, userWeights); err != nil {
			return nil, err
		}
		p.loss, p.ws = p.tr.Loss, p.tr.Weights
	}
	loss, weights := p.loss, p.ws
	grad, err := graph.BuildGradient(loss, weights)
	if err != nil {
		return nil, p.userError(err)
	}
	p.grad, p.inputs = grad, graph.Inputs(loss)
	g := loss.Graph()
	seeds := map[*G.Node]*G.Node{}
	for _, w := range weights {
		v := input(g, w, "v")
		p.tangents = append(p.tangents, v)
		seeds[w] = v
	}
	if p.hv, p.rpass, err = graph.JVP("R-pass", grad.Grads, seeds); err != nil {
		return nil, p.userError(err)
	}
	for l := range p.hv {
		if p.hv[l], err = nonNil(p.hv[l], grad.Grads[l]); err != nil {
			return nil, err
		}
	}
	for _, n := range grad.Pass.Nodes {
		if ops.IsPiecewiseConstant(n.Op()) {
			p.frozen = append(p.frozen, n)
		}
	}
	if groups == nil {
		groups = groupBlocks(loss, weights)
	}
	for _, g := range groups {
		ps := make([]*G.Node, len(g))
		for i, k := range g {
			ps[i] = weights[k]
		}
		p.blocks = append(p.blocks, &block{params: g, name: blockName(ps)})
	}
	return p, nil
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

// program returns the compiled program for roots under key.
func (p *Products) program(key string, roots []*G.Node, keep ...*G.Node) *graph.Program {
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
// of the loss (weights from bind where given). For a translated graph the
// inputs are read from the user's nodes, and the first run checks the
// translation against Gorgonia's own values (native.Translation.Verify).
func (p *Products) run(key string, roots []*G.Node, bind graph.Values, keep ...*G.Node) (graph.Values, error) {
	if p.tr != nil {
		if bind == nil {
			bind = graph.Values{}
		}
		if err := p.tr.Bind(bind); err != nil {
			return nil, err
		}
		p.vmu.Lock()
		if !p.verified && p.checkInputs(bind) == nil {
			var re *errs.RunError // an op failing at these values (log of a negative) is no verdict on the translation: the product's own run reports it
			if err := p.tr.Verify(bind); !errors.As(err, &re) {
				p.badTr, p.verified = p.userError(err), true
			}
		}
		bad := p.badTr
		p.vmu.Unlock()
		if bad != nil {
			return nil, bad
		}
	}
	if err := p.checkInputs(bind); err != nil {
		return nil, err
	}
	prog := p.program(key, roots, keep...)
	p.lastFlops.Store(math.Float64bits(prog.Flops()))
	vals, err := prog.Run(bind)
	return vals, p.userError(err)
}

// checkBound checks the inputs' own values (read from the user's graph
// when translated).
func (p *Products) checkBound() error {
	bind := graph.Values{}
	if p.tr != nil {
		if err := p.tr.Bind(bind); err != nil {
			return err
		}
	}
	return p.checkInputs(bind)
}

// Dtype returns the dtype of the user's graph: products come back in it.
func (p *Products) Dtype() tensor.Dtype {
	if p.tr != nil {
		return p.tr.Dtype
	}
	return tensor.Float64
}

// userError puts err in the user's terms: nodes of the private
// translation re-pointed to the user's nodes they compute, messages
// rewritten (native.Translation.UserError; errors.As still finds the
// typed error).
func (p *Products) userError(err error) error {
	if err == nil || p.tr == nil {
		return err
	}
	return p.tr.UserError(err)
}

// Blocks returns the number of blocks.
func (p *Products) Blocks() int { return len(p.blocks) }

// Block returns the indices (into Weights) of block l's weights: a weight,
// or a weight and its bias. Block panics if l is out of range [0, Blocks()).
func (p *Products) Block(l int) []int { return append([]int(nil), p.blockAt(l).params...) }

// BlockName returns block l's name: its weights' names joined by "+".
// BlockName panics if l is out of range [0, Blocks()).
func (p *Products) BlockName(l int) string { return p.blockAt(l).name }

// BlockOf returns the matrices of block l among all (one per weight, in
// the order of Weights), not copied; a weight beyond the end of all gets
// nil. BlockOf panics if l is out of range [0, Blocks()).
func (p *Products) BlockOf(l int, all []*tensor.Dense) []*tensor.Dense {
	ks := p.blockAt(l).params
	out := make([]*tensor.Dense, len(ks))
	for i, k := range ks {
		if k < len(all) {
			out[i] = all[k]
		}
	}
	return out
}

// blockAt returns block l for the accessors that return no error (Block,
// BlockName, BlockOf, Scatter): an index out of range is a programmer's
// error, like a slice's, and panics with a message naming the package.
// Every method that returns an error returns an *errs.ArgumentError
// instead (checkBlock).
func (p *Products) blockAt(l int) *block {
	if l < 0 || l >= len(p.blocks) {
		panic(fmt.Sprintf("newtonia: hvp: block %d out of range [0, %d)", l, len(p.blocks)))
	}
	return p.blocks[l]
}

// Passes returns every pass built so far (call Conditions first to build
// every block's), for printing.
func (p *Products) Passes() []graph.Pass {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := []graph.Pass{p.grad.Pass, p.rpass}
	for _, b := range p.blocks {
		for _, r := range []*route{b.main, b.ps} {
			if r != nil && (r != b.ps || b.ps != b.main) {
				ps = append(ps, r.passes...)
			}
		}
	}
	return ps
}

// InverseSteps returns the ops that block l's inverse pass inverts, from
// g_l back to W_l, or the reason there is no inverse pass.
func (p *Products) InverseSteps(l int) ([]graph.Step, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	b := p.block(l)
	if b.chain == nil {
		if b.err != nil {
			return nil, b.err
		}
		return nil, &errs.NoInverseError{Op: "block " + b.name, Input: -1, Reason: "takes the per-sample route: no op-by-op inverse pass"}
	}
	return b.chain.Steps, nil
}

// CurrentWeights returns the weights' current values (the tensors bound
// to the user's weight nodes, not copies: float32 for a float32 graph, a
// bias vector of its own shape, a scalar weight's value as a new tensor of
// shape ()).
func (p *Products) CurrentWeights() ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(p.Weights))
	for k, w := range p.Weights {
		t, ok := native.Dense(w.Value())
		if !ok {
			return nil, &errs.ShapeError{What: "weight " + errs.Name(w), Reason: fmt.Sprintf("no matrix value (got %T)", w.Value())}
		}
		out[k] = t
	}
	return out, nil
}

// Point is the loss, its gradient and the activation pattern at some
// weights.
type Point struct {
	Loss  float64
	Grads []*tensor.Dense
	// Pattern holds the values of the gradient pass's piecewise-constant
	// nodes (the derivative masks of piecewise-linear activations), in a
	// fixed order: two points share an activation pattern when their
	// Patterns are equal.
	Pattern [][]float64
}

// Evaluate returns the loss, gradient and activation pattern at weights ws
// (nil: the weights' current values), leaving the graph untouched.
func (p *Products) Evaluate(ws []*tensor.Dense) (pt *Point, err error) {
	defer errs.Recover("hvp.Evaluate", &err)
	bind, err := p.bindWeights(ws)
	if err != nil {
		return nil, err
	}
	roots := append([]*G.Node{p.loss}, p.grad.Grads...)
	vals, err := p.run("gradient", roots, bind, p.frozen...)
	if err != nil {
		return nil, err
	}
	pt = &Point{}
	if pt.Loss, err = scalarValue(vals, p.loss); err != nil {
		return nil, err
	}
	if pt.Grads, err = denseValues(vals, p.grad.Grads); err != nil {
		return nil, err
	}
	pt.Grads = p.outAll(pt.Grads)
	for _, n := range p.frozen {
		t, err := denseValue(vals, n)
		if err != nil {
			return nil, err
		}
		pt.Pattern = append(pt.Pattern, t.Float64s())
	}
	return pt, nil
}

// Gradient returns the loss and its gradient at the current inputs.
func (p *Products) Gradient() (loss float64, grads []*tensor.Dense, err error) {
	pt, err := p.Evaluate(nil)
	if err != nil {
		return 0, nil, err
	}
	return pt.Loss, pt.Grads, nil
}

// LossAt returns the loss at weights ws (nil: the current weights), by the
// forward pass alone.
func (p *Products) LossAt(ws []*tensor.Dense) (loss float64, err error) {
	defer errs.Recover("hvp.LossAt", &err)
	bind, err := p.bindWeights(ws)
	if err != nil {
		return 0, err
	}
	vals, err := p.run("loss", []*G.Node{p.loss}, bind)
	if err != nil {
		return 0, err
	}
	return scalarValue(vals, p.loss)
}

// Hv returns the exact product of the full Hessian with v (one matrix per
// block), by the R-pass. The product is computed for v/‖v‖ and scaled
// back, so that directions near the ends of the float64 range neither
// overflow nor underflow inside the pass; v = 0 gives zeros.
func (p *Products) Hv(v []*tensor.Dense) (hv []*tensor.Dense, err error) {
	defer errs.Recover("hvp.Hv", &err)
	if v, err = p.checkAll(v, "direction"); err != nil {
		return nil, err
	}
	hv, err = p.hvChecked(v)
	return p.outAll(hv), err
}

// hvChecked is Hv for directions already checked.
func (p *Products) hvChecked(v []*tensor.Dense) ([]*tensor.Dense, error) {
	return p.linear("hv", p.hv, v, "H v")
}

// linear evaluates roots (one per weight), linear in the R-pass's tangents,
// for directions v already checked: at v/‖v‖, scaled back, so that
// directions near the ends of the float64 range neither overflow nor
// underflow inside the pass; v = 0 gives zeros. what names the product in
// errors.
func (p *Products) linear(key string, roots []*G.Node, v []*tensor.Dense, what string) ([]*tensor.Dense, error) {
	s := Norm(v...)
	if s == 0 {
		if err := p.checkBound(); err != nil {
			return nil, err
		}
		return zerosLike(v), nil
	}
	bind := graph.Values{}
	for k, n := range p.tangents {
		bind[n] = unit(v[k], s)
	}
	vals, err := p.run(key, roots, bind)
	if err != nil {
		return nil, err
	}
	out, err := denseValues(vals, roots)
	if err != nil {
		return nil, err
	}
	for k := range out {
		if out[k], err = scaledFinite(s, out[k], what+" for "+errs.Name(p.ws[k])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BlockHv returns H_ll v, the diagonal block l of the Hessian times v
// (one matrix per weight of the block).
func (p *Products) BlockHv(l int, v []*tensor.Dense) (hv []*tensor.Dense, err error) {
	defer errs.Recover("hvp.BlockHv", &err)
	if v, err = p.checkBlockDir(l, v, "direction"); err != nil {
		return nil, err
	}
	hv, err = p.blockHv(l, v)
	return p.outBlock(l, hv), err
}

// blockHv is BlockHv for directions already checked and converted.
func (p *Products) blockHv(l int, v []*tensor.Dense) ([]*tensor.Dense, error) {
	hv, err := p.hvChecked(scatter(p.ws, p.blocks[l].params, v, tensor.Float64))
	if err != nil {
		return nil, err
	}
	return p.BlockOf(l, hv), nil
}

// Scatter returns a direction over all weights (in the user's shapes and
// dtype) that is v (not copied) on block l's weights and zero on the
// others (and on a weight of the block beyond the end of v). Scatter
// panics if l is out of range [0, Blocks()).
func (p *Products) Scatter(l int, v []*tensor.Dense) []*tensor.Dense {
	return scatter(p.Weights, p.blockAt(l).params, v, p.Dtype())
}

func scatter(ws []*G.Node, ks []int, v []*tensor.Dense, dt tensor.Dtype) []*tensor.Dense {
	vs := make([]*tensor.Dense, len(ws))
	for i, k := range ks {
		if i < len(v) {
			vs[k] = v[i]
		}
	}
	for k, w := range ws {
		if vs[k] == nil {
			vs[k] = tensor.New(tensor.WithShape(w.Shape()...), tensor.Of(dt))
		}
	}
	return vs
}
