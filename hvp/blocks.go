package hvp

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// route is one way of computing a block's B-pass, with its certificate.
type route struct {
	method  Method // MethodChain, MethodPerSample or MethodScalar
	kind    Kind
	reasons []string
	dirs    []*G.Node // inputs: the direction, one per parameter of the block
	u       []*G.Node // the B-pass
	hu      []*G.Node // H_ll u, the certificate
	damp    []*G.Node // (h̃ᵀh̃ ⊗ I) u: the damping term (per-sample only)
	pen     *penalty  // the block's penalty terms (penalized only: u is solved outside the graph)
	bias    bool      // the block is a weight and its bias (penalized only)
	lambda  *G.Node   // input: the damping λ (per-sample only)
	rows    *G.Node   // h̃ (per-sample only)
	delta   *G.Node   // ∂J/∂net in the gradient pass (per-sample only)
	cols    []*G.Node // column j of every M_i (per-sample only)
	bytes   float64   // the memory of a run's values (per-sample only: passBytes)
	factors []*G.Node // nodes that factorise a matrix
	keep    []*G.Node // their inputs, whose values the condition estimates read
	passes  []graph.Pass

	third    []*G.Node // T[u, u] over the certificate (third_bpass.go), on first use
	thirdErr error
}

// solvedOutside reports whether r's solve runs outside the joint B-pass
// program (penalty.go, dense.go).
func (r *route) solvedOutside() bool {
	return r.method == MethodPenalized || r.method == MethodDenseRoute
}

// block is what was built for one block: a weight, or a weight and its
// bias.
type block struct {
	params []int  // indices of its weights in the layout
	name   string // e.g. "W1" or "W1+b1"

	built bool
	err   error  // why there is no route at all
	main  *route // the route InvHv takes without damping
	chain *graph.InversePass

	psTried bool
	ps      *route // the per-sample route, when it exists
	psErr   error

	fdBuilt bool
	fdErr   error
	fdRoot  *G.Node // input: a gradient value for the functional inverse
	fd      *graph.InversePass

	kernelTried bool // kronecker.go: a kernel's structure for KFC, found once
	kernel      *kernelLayer
	kernelErr   error

	tiedTried bool // tied.go: a tied weight's uses for K-FAC, found once
	tied      *tiedLayer
	tiedErr   error
}

// groupBlocks pairs each weight with its bias when both are parameters: W
// used once by the data term (pens, the loss's penalty terms, are not
// counted), as the right factor of h·W, whose product is used once, by a
// bias add X+1b of parameter b. Every other parameter is a block alone.
func groupBlocks(loss *G.Node, params []*G.Node, pens []*G.Node) [][]int {
	index := map[*G.Node]int{}
	for i, w := range params {
		index[w] = i
	}
	uses := graph.UsesWithout(loss, pens...)
	biasOf := map[int]int{}
	isBias := map[int]bool{}
	for i, w := range params {
		layer, err := graph.LayerOf(uses, w)
		if err != nil || layer.Bias == nil {
			continue
		}
		if j, ok := index[layer.Bias]; ok && len(uses[params[j]]) == 1 && !isBias[j] {
			biasOf[i], isBias[j] = j, true
		}
	}
	var blocks [][]int
	for i := range params {
		if isBias[i] {
			continue
		}
		if j, ok := biasOf[i]; ok {
			blocks = append(blocks, []int{i, j})
		} else {
			blocks = append(blocks, []int{i})
		}
	}
	return blocks
}

// block returns block l, building its routes on first use.
func (p *Problem) block(l int) *block {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.blocks[l]
	if !b.built {
		b.built = true
		if err := p.buildBlock(b); err != nil {
			b.err = fmt.Errorf("block %d (%s): %w", l, b.name, p.model.UserError(err))
		}
		p.userRoutes(b) // translated.go
	}
	return b
}

// buildBlock chooses the route: the op-by-op chain where it exists and is
// not refused (it is cheaper), else the per-sample route; for a block
// with a penalty (penalty.go), the penalized route; where none of these
// applies (an error, or refused), the dense route (dense.go), its
// reasons saying why the others do not.
func (p *Problem) buildBlock(b *block) (err error) {
	defer errs.Recover("building the inverse pass", &err)
	if r, err := p.scalarRoute(b); r != nil || err != nil { // one parameter: v/h (scalarroute.go)
		b.main = r
		return err
	}
	pen, err := p.blockPenalty(b)
	if err != nil {
		return err
	}
	if pen != nil {
		if b.main, err = p.penalizedRoute(b, pen); err != nil {
			// The R-pass columns hold the penalty's Hessian: Hv is of the
			// whole loss.
			b.main = denseRoute([]string{p.model.UserError(err).Error()}, nil)
		}
		return nil
	}
	if err := p.structuredRoute(b); err != nil || b.main.kind == KindRefused {
		why := b.main.reasonsOr(p.model.UserError(err))
		ps := b.ps
		if b.psErr != nil {
			ps = nil
		}
		b.main = denseRoute(why, ps)
	}
	return nil
}

// reasonsOr returns r's reasons, or err's text for a block with no route.
func (r *route) reasonsOr(err error) []string {
	if err != nil {
		return []string{err.Error()}
	}
	return r.reasons
}

// structuredRoute chooses between the chain and per-sample routes.
func (p *Problem) structuredRoute(b *block) error {
	var chainErr error
	if len(b.params) == 1 {
		b.main, chainErr = p.chainRoute(b)
		if chainErr == nil && b.main.kind != KindRefused {
			return nil
		}
	}
	ps, psErr := p.perSampleRoute(b)
	switch {
	case psErr == nil && (b.main == nil || ps.kind < b.main.kind):
		if chainErr != nil {
			ps.reasons = append([]string{"chain route: " + chainErr.Error()}, ps.reasons...)
		} else if b.main != nil {
			ps.reasons = append([]string{"chain route: refused: " + strings.Join(b.main.reasons, "; ")}, ps.reasons...)
		}
		b.main = ps
	case b.main != nil:
		if psErr != nil {
			b.main.reasons = append(b.main.reasons, "per-sample route: "+psErr.Error())
		} else {
			b.main.reasons = append(b.main.reasons, ps.reasons...)
		}
	case chainErr != nil && psErr != nil:
		return fmt.Errorf("%w (per-sample route: %v)", chainErr, psErr)
	case psErr != nil:
		return psErr
	}
	return nil
}

// chainRoute builds the inverse pass of a one-weight block, its B-pass and
// its certificate.
func (p *Problem) chainRoute(b *block) (*route, error) {
	l := b.params[0]
	w, gl := p.ws[l], p.grad.Grads[l]
	inv, err := graph.BuildInverse(p.grad, l, gl, false)
	if err != nil {
		return nil, err
	}
	b.chain = inv
	r := &route{method: MethodChain, dirs: []*G.Node{input(w.Graph(), w, "d")}}
	r.kind, r.reasons = classify(inv)
	u, pass, err := graph.JVP("B-pass "+w.Name(), []*G.Node{inv.Result}, map[*G.Node]*G.Node{gl: r.dirs[0]})
	if err != nil {
		return nil, err
	}
	if u[0] == nil {
		return nil, &errs.NoRuleError{Node: inv.Result, Op: inv.Result.Op(), Rule: "inverse",
			Err: &errs.NoInverseError{Op: "inverse pass", Reason: "its B-pass is identically zero: the gradient does not depend on the weight"}}
	}
	r.u, r.passes = u, []graph.Pass{inv.Pass, pass}
	return r, p.certificate(b, r, append(inv.Pass.Nodes, pass.Nodes...))
}

// perSampleOf returns block l's per-sample route, building it once.
func (p *Problem) perSampleOf(l int) (*route, error) {
	b := p.block(l)
	if b.err != nil {
		return nil, b.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, err := p.perSampleRoute(b)
	p.userRoutes(b) // translated.go
	return r, p.model.UserError(err)
}

// perSampleRoute returns the block's per-sample route, building it once
// (p.mu held).
func (p *Problem) perSampleRoute(b *block) (*route, error) {
	if b.psTried {
		return b.ps, b.psErr
	}
	b.psTried = true
	params := make([]*G.Node, len(b.params))
	for i, k := range b.params {
		params[i] = p.ws[k]
	}
	ps, err := graph.BuildPerSample(p.grad, params, p.pens...)
	if err != nil {
		b.psErr = err
		return nil, err
	}
	r := &route{method: MethodPerSample, dirs: ps.Dirs, u: ps.U, damp: ps.Damp, lambda: ps.Lambda, rows: ps.Rows, delta: ps.Delta, cols: ps.Cols, passes: []graph.Pass{ps.Pass},
		bytes: passBytes(ps.Pass)}
	r.kind, r.reasons = perSampleKind(ps.Batch, ps.FanIn, len(ps.Cols), len(params) == 2)
	if ps.Fallback != "" {
		r.reasons = append(r.reasons, ps.Fallback)
	}
	if err := p.certificate(b, r, ps.Pass.Nodes); err != nil {
		b.psErr = err
		return nil, err
	}
	b.ps = r
	return r, nil
}

// certificate builds H_ll u by the R-pass for route r and lists the
// nodes among nodes that factorise a matrix.
func (p *Problem) certificate(b *block, r *route, nodes []*G.Node) error {
	seeds := map[*G.Node]*G.Node{}
	grads := make([]*G.Node, len(b.params))
	for i, k := range b.params {
		seeds[p.ws[k]] = r.u[i]
		grads[i] = p.grad.Grads[k]
	}
	hu, pass, err := graph.JVP("certificate "+b.name, grads, seeds)
	if err != nil {
		return err
	}
	for i := range hu {
		if hu[i], err = nonNil(hu[i], grads[i]); err != nil {
			return err
		}
	}
	r.hu, r.passes = hu, append(r.passes, pass)
	for _, n := range nodes {
		if _, ok := n.Op().(ops.Conditioner); ok {
			r.factors = append(r.factors, n)
			r.keep = append(r.keep, graph.Children(n)...)
		}
	}
	return nil
}

// fdBlock returns block l with its functional inverse pass (for finite
// differences) built: one-weight blocks only.
func (p *Problem) fdBlock(l int) *block {
	b := p.block(l)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !b.fdBuilt {
		b.fdBuilt = true
		if len(b.params) != 1 {
			b.fdErr = &errs.NoInverseError{Op: "block " + b.name, Input: -1, Reason: "the functional inverse is built for one-weight blocks only"}
			return b
		}
		k := b.params[0]
		w := p.ws[k]
		b.fdRoot = input(w.Graph(), w, "q")
		func() {
			defer errs.Recover("building the functional inverse", &b.fdErr)
			b.fd, b.fdErr = graph.BuildInverse(p.grad, k, b.fdRoot, true)
		}()
		if b.fdErr != nil {
			b.fdErr = fmt.Errorf("block %d (%s): %w", l, b.name, b.fdErr)
		}
	}
	return b
}

// inverseSteps returns the ops that block l's inverse pass inverts, from
// g_l back to W_l, or the reason there is no inverse pass (l out of
// range: an *errs.ArgumentError).
func (p *Problem) inverseSteps(l int) ([]graph.Step, error) {
	if l < 0 || l >= len(p.blocks) {
		return nil, &errs.ArgumentError{What: "block", Value: l, Reason: fmt.Sprintf("want 0 ≤ block < %d", len(p.blocks))}
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
