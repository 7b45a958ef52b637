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
// machines that run them.
type Products struct {
	Loss    *G.Node
	Weights []*G.Node

	grad     *graph.Gradient
	tangents []*G.Node // inputs V_l of the R-pass
	hv       []*G.Node // R{g_l}
	rpass    graph.Pass
	blocks   []*block
	frozen   []*G.Node // piecewise-constant nodes: the activation pattern
	machines map[string]G.VM
}

// block is what was built for one weight block.
type block struct {
	err   error          // why there is no exact inverse pass
	inv   *graph.Inverse // rooted at g_l
	dir   *G.Node        // input: the direction v_l
	u     *G.Node        // B{W_l} = H_ll⁻¹ v_l
	bpass graph.Pass
	hu    *G.Node // H_ll u, the certificate
	cert  graph.Pass

	fdErr  error
	fdRoot *G.Node // input: a gradient value for the FD inverse
	fd     *graph.Inverse
}

// Inverse is an inverse-Hessian-vector product with its certificate.
type Inverse struct {
	U        *tensor.Dense
	Residual float64 // ‖H_ll U − v‖_F / ‖v‖_F, with the exact Hv
	Method   string  // "B-pass (exact)" or "finite differences, r = …"
}

// New builds the gradient pass, the R-pass, and each block's inverse pass,
// B-pass and certificate for loss with respect to weights (input nodes,
// which must have values before any product runs, like every other input
// of the graph). A block whose inverse pass cannot be built does not make
// New fail: its InvHv returns the reason.
func New(loss *G.Node, weights ...*G.Node) (p *Products, err error) {
	defer recoverTo(&err)
	grad, err := graph.BuildGradient(loss, weights)
	if err != nil {
		return nil, err
	}
	p = &Products{Loss: loss, Weights: weights, grad: grad, machines: map[string]G.VM{}}
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
		if b.inv, b.err = graph.BuildInverse(gl, w, gl); b.err == nil {
			b.err = p.buildBPass(b, gl, w)
		}
		b.fd, b.fdErr = graph.BuildInverse(gl, w, b.fdRoot)
	}
	return p, nil
}

func (p *Products) buildBPass(b *block, gl, w *G.Node) error {
	u, pass, err := graph.JVP("B-pass "+w.Name(), []*G.Node{b.inv.Result}, map[*G.Node]*G.Node{gl: b.dir})
	if err != nil {
		return err
	}
	if b.u, b.bpass = u[0], pass; b.u == nil {
		return fmt.Errorf("hvp: B-pass of %s is identically zero", w.Name())
	}
	hu, cert, err := graph.JVP("certificate "+w.Name(), []*G.Node{gl}, map[*G.Node]*G.Node{w: b.u})
	if err != nil {
		return err
	}
	b.hu, b.cert = hu[0], cert
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
		if b.err == nil {
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
func (p *Products) Gradient() (float64, []*tensor.Dense, error) {
	roots := append([]*G.Node{p.Loss}, p.grad.Grads...)
	if err := p.run("gradient", roots); err != nil {
		return 0, nil, err
	}
	loss, err := scalarValue(p.Loss)
	if err != nil {
		return 0, nil, err
	}
	gs, err := values(p.grad.Grads)
	return loss, gs, err
}

// Hv returns the exact product of the full Hessian with v (one matrix per
// block), by the R-pass.
func (p *Products) Hv(v []*tensor.Dense) ([]*tensor.Dense, error) {
	if err := p.setAll(p.tangents, v, "v"); err != nil {
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
	vs := make([]*tensor.Dense, len(p.Weights))
	for k, w := range p.Weights {
		if k == l {
			vs[k] = v
		} else {
			vs[k] = tensor.New(tensor.WithShape(w.Shape()...), tensor.Of(tensor.Float64))
		}
	}
	hv, err := p.Hv(vs)
	if err != nil {
		return nil, err
	}
	return hv[l], nil
}

// HvFD returns the central difference (g(w + r v) − g(w − r v)) / 2r of the
// gradient: an approximation of Hv with error O(r²) + O(ε‖g‖/r).
func (p *Products) HvFD(v []*tensor.Dense, r float64) ([]*tensor.Dense, error) {
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("hvp: step r = %v, want a finite r > 0", r)
	}
	if err := p.checkAll(v, "v"); err != nil {
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

// InvHv returns u = H_ll⁻¹ v by the B-pass, with its residual. The result
// is exact under the conditions of method.md §4; where they fail the
// residual shows it.
func (p *Products) InvHv(l int, v *tensor.Dense) (*Inverse, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	b := p.blocks[l]
	if b.err != nil {
		return nil, b.err
	}
	if err := p.set(b.dir, v, "v"); err != nil {
		return nil, err
	}
	if err := p.run(fmt.Sprintf("inv/%d", l), []*G.Node{b.u, b.hu}); err != nil {
		return nil, err
	}
	return certified(b, v, "B-pass (exact)")
}

// InvHvAll returns H_ll⁻¹ v_l for every block l in one run of one machine.
// It fails if any block has no inverse pass.
func (p *Products) InvHvAll(v []*tensor.Dense) ([]*Inverse, error) {
	if err := p.checkAll(v, "v"); err != nil {
		return nil, err
	}
	var roots []*G.Node
	for l, b := range p.blocks {
		if b.err != nil {
			return nil, fmt.Errorf("block %d: %w", l, b.err)
		}
		if err := p.set(b.dir, v[l], "v"); err != nil {
			return nil, err
		}
		roots = append(roots, b.u, b.hu)
	}
	if err := p.run("inv/all", roots); err != nil {
		return nil, err
	}
	out := make([]*Inverse, len(p.blocks))
	for l, b := range p.blocks {
		var err error
		if out[l], err = certified(b, v[l], "B-pass (exact)"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func certified(b *block, v *tensor.Dense, method string) (*Inverse, error) {
	u, err := value(b.u)
	if err != nil {
		return nil, err
	}
	hu, err := value(b.hu)
	if err != nil {
		return nil, err
	}
	return &Inverse{U: u, Residual: relDiff(hu, v), Method: method}, nil
}

// InvHvFD returns the central difference of block l's inverse pass,
// (G_l⁻¹(g_l + r v) − G_l⁻¹(g_l − r v)) / 2r, with the activation pattern
// and the other blocks at the current point: the seed's finite-difference
// method, with error about ε·cond/r plus O(r²) terms. Its residual is
// computed with the exact BlockHv.
func (p *Products) InvHvFD(l int, v *tensor.Dense, r float64) (*Inverse, error) {
	if err := p.checkBlock(l); err != nil {
		return nil, err
	}
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("hvp: step r = %v, want a finite r > 0", r)
	}
	b := p.blocks[l]
	if b.fdErr != nil {
		return nil, b.fdErr
	}
	if err := p.check(p.Weights[l], v, "v"); err != nil {
		return nil, err
	}
	_, g, err := p.Gradient()
	if err != nil {
		return nil, err
	}
	at := func(s float64) (*tensor.Dense, error) {
		if err := p.set(b.fdRoot, axpy(g[l], s, v), "q"); err != nil {
			return nil, err
		}
		if err := p.run(fmt.Sprintf("fd/%d", l), []*G.Node{b.fd.Result}); err != nil {
			return nil, err
		}
		return value(b.fd.Result)
	}
	wp, err := at(r)
	if err != nil {
		return nil, err
	}
	wm, err := at(-r)
	if err != nil {
		return nil, err
	}
	u := scaled(1/(2*r), axpy(wp, -1, wm))
	hu, err := p.BlockHv(l, u)
	if err != nil {
		return nil, err
	}
	return &Inverse{U: u, Residual: relDiff(hu, v), Method: fmt.Sprintf("finite differences, r = %g", r)}, nil
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
		return fmt.Errorf("hvp: running %s: %w", key, err)
	}
	return nil
}

// recoverTo turns a panic from Gorgonia or gonum into an error.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("hvp: internal panic: %v", r)
	}
}

// ErrShape is wrapped by errors about values of the wrong shape.
var ErrShape = errors.New("wrong shape")

// ErrNotFinite is wrapped by errors about values holding NaN or Inf.
var ErrNotFinite = errors.New("not finite")

func (p *Products) checkBlock(l int) error {
	if l < 0 || l >= len(p.Weights) {
		return fmt.Errorf("hvp: block %d out of range [0, %d)", l, len(p.Weights))
	}
	return nil
}

// check validates a value meant for a node shaped like w.
func (p *Products) check(w *G.Node, v *tensor.Dense, what string) error {
	if v == nil {
		return fmt.Errorf("hvp: %s for %s is nil", what, w.Name())
	}
	if !v.Shape().Eq(w.Shape()) {
		return fmt.Errorf("hvp: %s for %s has shape %v, want %v: %w", what, w.Name(), v.Shape(), w.Shape(), ErrShape)
	}
	if v.Dtype() != tensor.Float64 {
		return fmt.Errorf("hvp: %s for %s has dtype %v, want float64", what, w.Name(), v.Dtype())
	}
	for i, x := range denseData(v) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("hvp: %s for %s: element %d is %v: %w", what, w.Name(), i, x, ErrNotFinite)
		}
	}
	return nil
}

func (p *Products) checkAll(v []*tensor.Dense, what string) error {
	if len(v) != len(p.Weights) {
		return fmt.Errorf("hvp: %d %s matrices for %d blocks: %w", len(v), what, len(p.Weights), ErrShape)
	}
	for k, w := range p.Weights {
		if err := p.check(w, v[k], what); err != nil {
			return err
		}
	}
	return nil
}

// set binds a checked copy of v to the input node n.
func (p *Products) set(n *G.Node, v *tensor.Dense, what string) error {
	if err := p.check(n, v, what); err != nil {
		return err
	}
	return G.Let(n, v.Clone().(*tensor.Dense))
}

func (p *Products) setAll(ns []*G.Node, v []*tensor.Dense, what string) error {
	if err := p.checkAll(v, what); err != nil {
		return err
	}
	for k, n := range ns {
		if err := G.Let(n, v[k].Clone().(*tensor.Dense)); err != nil {
			return err
		}
	}
	return nil
}

// weightValues returns the weights' current values (not copies).
func (p *Products) weightValues() ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(p.Weights))
	for k, w := range p.Weights {
		t, ok := w.Value().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("hvp: weight %s has no matrix value (got %T)", w.Name(), w.Value())
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
