package hvp

import (
	"errors"
	"fmt"
	"math"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Products holds the passes built for one loss and its weights, and the
// machines that run them. It is not safe for concurrent use.
type Products struct {
	Loss    *G.Node
	Weights []*G.Node

	grad     *graph.Gradient
	inputs   []*G.Node // every input the loss reads
	tangents []*G.Node // inputs V_l of the R-pass
	hv       []*G.Node // R{g_l}
	rpass    graph.Pass
	blocks   []*block
	frozen   []*G.Node // piecewise-constant nodes: the activation pattern
	machines map[string]G.VM
}

// block is what was built for one weight block.
type block struct {
	kind    graph.Kind
	reasons []string
	err     error          // why there is no inverse pass (a *NoInverseError)
	inv     *graph.Inverse // rooted at g_l
	dir     *G.Node        // input: the direction v_l
	u       *G.Node        // B{W_l} = H_ll⁻¹ v_l
	bpass   graph.Pass
	hu      *G.Node // H_ll u, the certificate
	cert    graph.Pass
	factors []*G.Node // nodes of the inverse and B-passes that factorise a matrix

	fdErr  error
	fdRoot *G.Node // input: a gradient value for the FD inverse
	fd     *graph.Inverse
}

// New builds the gradient pass, the R-pass, and each block's inverse pass,
// B-pass and certificate for loss with respect to weights (input nodes,
// which must have values before any product runs, like every other input
// of the graph). A block whose inverse pass cannot be built does not make
// New fail: Conditions reports it and its InvHv returns the reason.
func New(loss *G.Node, weights ...*G.Node) (p *Products, err error) {
	defer recoverTo(&err)
	grad, err := graph.BuildGradient(loss, weights)
	if err != nil {
		return nil, err
	}
	p = &Products{Loss: loss, Weights: weights, grad: grad, machines: map[string]G.VM{}, inputs: graph.Inputs(loss)}
	g := loss.Graph()
	seeds := map[*G.Node]*G.Node{}
	for _, w := range weights {
		v := input(g, w, "v")
		p.tangents = append(p.tangents, v)
		seeds[w] = v
	}
	if p.hv, p.rpass, err = graph.JVP("R-pass", grad.Grads, seeds); err != nil {
		return nil, err
	}
	for _, n := range grad.Pass.Nodes {
		if ops.IsPiecewiseConstant(n.Op()) {
			p.frozen = append(p.frozen, n)
		}
	}
	for l, w := range weights {
		b := &block{dir: input(g, w, "d"), fdRoot: input(g, w, "q")}
		p.blocks = append(p.blocks, b)
		gl := grad.Grads[l]
		b.inv, b.err = graph.BuildInverse(grad, l, gl, false)
		if b.err == nil {
			b.kind, b.reasons = b.inv.Classify()
			b.err = p.buildBPass(b, gl, w)
		}
		if b.err != nil {
			b.kind, b.err = graph.Refused, &NoInverseError{Block: l, Weight: w.Name(), Err: b.err}
		}
		b.fd, b.fdErr = graph.BuildInverse(grad, l, b.fdRoot, true)
	}
	return p, nil
}

func (p *Products) buildBPass(b *block, gl, w *G.Node) error {
	u, pass, err := graph.JVP("B-pass "+w.Name(), []*G.Node{b.inv.Result}, map[*G.Node]*G.Node{gl: b.dir})
	if err != nil {
		return err
	}
	if b.u, b.bpass = u[0], pass; b.u == nil {
		return fmt.Errorf("the B-pass of %s is identically zero", w.Name())
	}
	hu, cert, err := graph.JVP("certificate "+w.Name(), []*G.Node{gl}, map[*G.Node]*G.Node{w: b.u})
	if err != nil {
		return err
	}
	b.hu, b.cert = hu[0], cert
	for _, n := range append(append([]*G.Node{}, b.inv.Pass.Nodes...), b.bpass.Nodes...) {
		if _, ok := n.Op().(ops.Conditioner); ok {
			b.factors = append(b.factors, n)
		}
	}
	return nil
}

// input adds a named input node shaped like w. Names keep Gorgonia's
// hash-consing from merging inputs of one shape (gorgonia.md).
func input(g *G.ExprGraph, w *G.Node, role string) *G.Node {
	return G.NewTensor(g, tensor.Float64, w.Dims(), G.WithShape(w.Shape()...),
		G.WithName(fmt.Sprintf("newtonia.%s[%s]", role, w.Name())))
}

// Blocks returns the number of weight blocks.
func (p *Products) Blocks() int { return len(p.Weights) }

// Passes returns every pass built, for printing.
func (p *Products) Passes() []graph.Pass {
	ps := []graph.Pass{p.grad.Pass, p.rpass}
	for _, b := range p.blocks {
		if b.inv != nil {
			ps = append(ps, b.inv.Pass)
		}
		if b.u != nil {
			ps = append(ps, b.bpass, b.cert)
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
	b := p.blocks[l]
	if b.inv == nil {
		return nil, b.err
	}
	return b.inv.Steps, nil
}

// Gradient returns the loss and its gradient at the current inputs.
func (p *Products) Gradient() (loss float64, grads []*tensor.Dense, err error) {
	defer recoverTo(&err)
	if err := p.checkInputs(); err != nil {
		return 0, nil, err
	}
	roots := append([]*G.Node{p.Loss}, p.grad.Grads...)
	if err := p.run("gradient", roots); err != nil {
		return 0, nil, err
	}
	if loss, err = scalarValue(p.Loss); err != nil {
		return 0, nil, err
	}
	grads, err = values(p.grad.Grads)
	return loss, grads, err
}

// Hv returns the exact product of the full Hessian with v (one matrix per
// block), by the R-pass.
func (p *Products) Hv(v []*tensor.Dense) (hv []*tensor.Dense, err error) {
	defer recoverTo(&err)
	if err := p.checkInputs(); err != nil {
		return nil, err
	}
	if err := p.setAll(p.tangents, v, "direction"); err != nil {
		return nil, err
	}
	if err := p.run("hv", p.hv); err != nil {
		return nil, err
	}
	return values(p.hv)
}

// BlockHv returns H_ll v, the diagonal block l of the Hessian times v.
func (p *Products) BlockHv(l int, v *tensor.Dense) (*tensor.Dense, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	hv, err := p.Hv(p.BlockDirection(l, v))
	if err != nil {
		return nil, err
	}
	return hv[l], nil
}

// BlockDirection returns a direction over all blocks that is v (not
// copied) on block l and zero on the others.
func (p *Products) BlockDirection(l int, v *tensor.Dense) []*tensor.Dense {
	vs := make([]*tensor.Dense, len(p.Weights))
	for k, w := range p.Weights {
		if k == l {
			vs[k] = v
		} else {
			vs[k] = tensor.New(tensor.WithShape(w.Shape()...), tensor.Of(tensor.Float64))
		}
	}
	return vs
}

// HvFD returns the central difference (g(w + r v) − g(w − r v)) / 2r of the
// gradient: an approximation of Hv with error O(r²) + O(ε‖g‖/r).
func (p *Products) HvFD(v []*tensor.Dense, r float64) (hv []*tensor.Dense, err error) {
	defer recoverTo(&err)
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("hvp: step r = %v, want a finite r > 0", r)
	}
	if err := p.checkAll(v, "direction"); err != nil {
		return nil, err
	}
	base, err := p.weightValues()
	if err != nil {
		return nil, err
	}
	defer p.setWeights(base)
	at := func(s float64) ([]*tensor.Dense, error) {
		ws := make([]*tensor.Dense, len(base))
		for k := range base {
			ws[k] = axpy(base[k], s, v[k])
		}
		if err := p.setWeights(ws); err != nil {
			return nil, err
		}
		_, g, err := p.Gradient()
		return g, err
	}
	gp, err := at(r)
	if err != nil {
		return nil, err
	}
	gm, err := at(-r)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(gp))
	for k := range gp {
		out[k] = scaled(1/(2*r), axpy(gp[k], -1, gm[k]))
	}
	return out, nil
}

// run executes the machine for roots, compiling it on first use.
func (p *Products) run(key string, roots []*G.Node) (err error) {
	defer recoverTo(&err)
	m, ok := p.machines[key]
	if !ok {
		m = G.NewTapeMachine(p.Loss.Graph().SubgraphRoots(roots...))
		p.machines[key] = m
	}
	m.Reset()
	if err := m.RunAll(); err != nil {
		return runError(key, err)
	}
	return nil
}

// RunError reports an op that failed while a product ran, naming its node.
type RunError struct {
	Machine string // the product being run
	Node    string // the failing node, when Gorgonia says
	Op      string
	Err     error // the op's error
}

func (e *RunError) Error() string {
	if e.Node == "" {
		return fmt.Sprintf("hvp: running %s: %v", e.Machine, e.Err)
	}
	return fmt.Sprintf("hvp: running %s: node %s, op %s: %v", e.Machine, e.Node, e.Op, e.Err)
}
func (e *RunError) Unwrap() error { return e.Err }

// runError unpacks Gorgonia's contextual VM error (which does not
// implement Unwrap) into a *RunError naming the node.
func runError(key string, err error) error {
	re := &RunError{Machine: key, Err: err}
	if ctx, ok := err.(interface {
		Node() *G.Node
		Err() error
	}); ok {
		re.Err = ctx.Err()
		if n := ctx.Node(); n != nil {
			re.Node, re.Op = graph.Label(n), n.Op().String()
		}
	}
	return re
}

// recoverTo turns a panic from Gorgonia or gonum into an error.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("hvp: internal panic: %v", r)
	}
}

// weightValues returns the weights' current values (not copies).
func (p *Products) weightValues() ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(p.Weights))
	for k, w := range p.Weights {
		t, ok := w.Value().(*tensor.Dense)
		if !ok {
			return nil, &ShapeError{What: "weight " + w.Name(), Reason: fmt.Sprintf("no matrix value (got %T)", w.Value())}
		}
		out[k] = t
	}
	return out, nil
}

// setWeights binds the given tensors (not copies) to the weights.
func (p *Products) setWeights(ws []*tensor.Dense) error {
	for k, w := range p.Weights {
		if err := G.Let(w, ws[k]); err != nil {
			return err
		}
	}
	return nil
}

// asSingular extracts an LU op's singular-matrix error from a run error,
// and the failing node.
func asSingular(err error) (*ops.SingularError, string, bool) {
	var s *ops.SingularError
	if !errors.As(err, &s) {
		return nil, "", false
	}
	var re *RunError
	if errors.As(err, &re) {
		return s, re.Node, true
	}
	return s, "", true
}
