package native

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Random nodes (issue 21 item 3). Gorgonia's randomOp (G.UniformRandomNode,
// G.GaussianRandomNode, G.BinomialRandomNode) and G.Dropout's op draw anew
// on every run of a machine. Folded into a constant, such a node would be
// another function than Gorgonia's; refused, a model with dropout could
// not be used at all. Each is translated into an input of the private
// graph holding one *draw*, bound to every run until the next Redraw:
// every product of one draw (gradient, Hv, GGNv, InvHv, the loss at trial
// weights of a line search) is a derivative of one and the same function —
// Martens' fixed dropout masks for Hessian-free optimisation.
//
//	G.UniformRandomNode(lo, hi)   a draw of U[lo, hi)
//	G.GaussianRandomNode(μ, σ)    a draw of N(μ, σ²)
//	G.BinomialRandomNode(n, p)    a draw of Binomial(n, p)
//	G.Dropout(x, p)               x ⊙ m / (1 − p), m a 0/1 mask, 1 with probability
//	                              1 − p: Gorgonia's scaling (nn.go, op_dropout.go:
//	                              a kept entry is x/(1 − p)); p = 0 is x itself
//
// Draws are made in float64 from a math/rand/v2 source (Redraw), rounded
// to float32 for a float32 graph; the distributions are Gorgonia's, the
// numbers are not (Gorgonia seeds from the clock). Verify checks the
// translation against Gorgonia's own run with Gorgonia's own draw: the
// draw it made is read back from its values and bound to the translation.

// randomNode is one of the user's random nodes and the private input
// holding its draw.
type randomNode struct {
	user  *G.Node // the user's node (randomOp, or dropoutOp)
	input *G.Node // the private input holding the draw
	dist  string  // "uniform", "gaussian", "binomial", "dropout"
	a, b  float64 // uniform: low, high; gaussian: mean, stdev; binomial: trials, p; dropout: 1 − p
}

// isRandom reports whether op draws random numbers on every run of a
// Gorgonia machine: Gorgonia's randomOp (no inputs) and G.Dropout's op.
// Such a node is never folded into a constant.
func isRandom(op G.Op) bool {
	switch typeName(op) {
	case "randomOp", "dropoutOp":
		return true
	}
	return false
}

// field reads the unexported field name of Gorgonia's op as a float64
// (a number or a bool as 0/1): Gorgonia exports none of its random ops'
// parameters (v0.9.18 field names).
func field(op G.Op, name string) (float64, bool) {
	v := reflect.ValueOf(op)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	f := v.FieldByName(name)
	switch {
	case !f.IsValid():
		return 0, false
	case f.CanFloat():
		return f.Float(), true
	case f.CanInt():
		return float64(f.Int()), true
	case f.CanUint():
		return float64(f.Uint()), true
	case f.Kind() == reflect.Bool:
		if f.Bool() {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// randomSpec reads a random op's distribution; an error if Gorgonia's op
// cannot be read (then the node cannot be held fixed and is refused).
func randomSpec(op G.Op) (r randomNode, identity bool, err error) {
	if typeName(op) == "dropoutOp" {
		p, ok1 := field(op, "probability")
		training, ok2 := field(op, "isTraining")
		if !ok1 || !ok2 {
			return r, false, fmt.Errorf("a random node: cannot read G.Dropout's probability (a Gorgonia other than v0.9.18?); hold the mask in an input node instead: G.HadamardProd(x, m), m 0 or 1/(1−p)")
		}
		if p < 0 || p >= 1 {
			return r, false, fmt.Errorf("G.Dropout with probability %g: want 0 ≤ p < 1", p)
		}
		return randomNode{dist: "dropout", a: 1 - p}, p == 0 || training == 0, nil
	}
	which, ok0 := field(op, "which")
	a, ok1 := field(op, "a")
	b, ok2 := field(op, "b")
	dists := []string{"uniform", "gaussian", "binomial"}
	if !ok0 || !ok1 || !ok2 || which < 0 || int(which) >= len(dists) {
		return r, false, fmt.Errorf("a random node: cannot read the distribution of %q (a Gorgonia other than v0.9.18?); hold a draw in an input node instead and G.Let a new draw before each step", op)
	}
	return randomNode{dist: dists[int(which)], a: a, b: b}, false, nil
}

// constructor names the Gorgonia call that makes a random node like r.
func (r *randomNode) constructor() string {
	switch r.dist {
	case "uniform":
		return fmt.Sprintf("G.UniformRandomNode(%g, %g)", r.a, r.b)
	case "gaussian":
		return fmt.Sprintf("G.GaussianRandomNode(%g, %g)", r.a, r.b)
	case "binomial":
		return fmt.Sprintf("G.BinomialRandomNode(%g, %g)", r.a, r.b)
	}
	return fmt.Sprintf("G.Dropout(p = %g)", 1-r.a)
}

// draw fills out with one draw of r's distribution from rng.
func (r *randomNode) draw(rng *rand.Rand, out []float64) {
	for i := range out {
		switch r.dist {
		case "uniform":
			out[i] = r.a + (r.b-r.a)*rng.Float64()
		case "gaussian":
			out[i] = r.a + r.b*rng.NormFloat64()
		case "binomial":
			k := 0
			for range int(r.a) {
				if rng.Float64() < r.b {
					k++
				}
			}
			out[i] = float64(k)
		case "dropout": // kept where a uniform draw is below 1 − p, as Gorgonia
			out[i] = 0
			if rng.Float64() < r.a {
				out[i] = 1
			}
		}
	}
}

// random: a random node becomes an input holding a draw (a dropout, its
// input times a mask input).
func matchRandom(s *Site) error {
	if !isRandom(s.n.Op()) {
		return Skip
	}
	r, _, err := randomSpec(s.n.Op())
	if err != nil {
		return err
	}
	if r.dist == "dropout" {
		return nil // reads its input
	}
	s.Reads()
	return nil
}

func translateRandom(s *Site) (*G.Node, error) {
	r, identity, _ := randomSpec(s.n.Op())
	if identity {
		return s.like(0, s.x(0)), nil
	}
	r.user = s.n
	nm := fmt.Sprintf("newtonia.draw[%s#%d]", s.n.Name(), s.n.ID())
	lay := asIs
	var shape tensor.Shape
	if r.dist == "dropout" { // the mask is elementwise: of the private shape of x
		shape, lay = s.x(0).Shape(), s.in[0].vec
	} else {
		switch us := s.n.Shape(); us.Dims() {
		case 0:
			shape = tensor.ScalarShape()
		case 1:
			shape, lay = tensor.Shape{us[0], 1}, col
		default:
			shape = us.Clone()
		}
	}
	switch {
	case shape.IsScalar():
		r.input = G.NewScalar(s.tr.g, tensor.Float64, G.WithName(nm))
	case shape.Dims() <= 2:
		r.input = G.NewMatrix(s.tr.g, tensor.Float64, G.WithShape(shape...), G.WithName(nm))
	default: // a dropout of images (B, C, H, W), any rank
		r.input = G.NewTensor(s.tr.g, tensor.Float64, shape.Dims(), G.WithShape(shape...), G.WithName(nm))
	}
	s.tr.t.random = append(s.tr.t.random, &r)
	if r.dist != "dropout" {
		return s.laid(lay, r.input), nil
	}
	return s.laid(lay, s.apply(ops.ScaleOp{C: 1 / r.a}, s.apply(ops.MulOp{}, s.x(0), r.input))), nil
}

// Random returns the user's random nodes, in the order of the user's
// graph: each translated into an input holding one draw (Redraw).
func (t *Translation) Random() []*G.Node {
	out := make([]*G.Node, len(t.random))
	for i, r := range t.random {
		out[i] = r.user
	}
	return out
}

// RandomReport describes the random nodes for people, one line each: the
// user's node, its distribution and the draw it holds (0 before any).
func (t *Translation) RandomReport() []string {
	t.drawMu.RLock()
	defer t.drawMu.RUnlock()
	var out []string
	for _, r := range t.random {
		out = append(out, fmt.Sprintf("%s: %s, held fixed for draw %d (Redraw draws anew)", name(r.user), r.constructor(), t.draws))
	}
	return out
}

// Redraw draws a new value for every random node from rng (nil: a source
// seeded by the number of draws so far, so that a program's draws are
// reproducible), in the order of Random. Every product after it sees the
// new draw, every product before it the old one. Call it between steps,
// while no product runs (like SetWeights).
func (t *Translation) Redraw(rng *rand.Rand) error {
	t.drawMu.Lock()
	defer t.drawMu.Unlock()
	if rng == nil {
		rng = rand.New(rand.NewPCG(uint64(t.draws)+1, 0x5eed))
	}
	vals := make(map[*G.Node]G.Value, len(t.random))
	for _, r := range t.random {
		s := r.input.Shape()
		data := make([]float64, max(s.TotalSize(), 1))
		r.draw(rng, data)
		if t.Dtype == tensor.Float32 { // the values a float32 graph holds
			for i, x := range data {
				data[i] = float64(float32(x))
			}
		}
		var v G.Value
		if s.IsScalar() {
			v = G.NewF64(data[0])
		} else {
			v = tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data))
		}
		if err := G.Let(r.input, v); err != nil {
			return &errs.ShapeError{What: "draw of " + name(r.user), Reason: err.Error()}
		}
		vals[r.input] = v
	}
	t.drawn, t.draws = vals, t.draws+1
	return nil
}

// bindDraws binds the current draw of every random node not bound yet.
func (t *Translation) bindDraws(bind graph.Values) {
	if len(t.random) == 0 {
		return
	}
	t.drawMu.RLock()
	defer t.drawMu.RUnlock()
	for in, v := range t.drawn {
		if bind[in] == nil {
			bind[in] = v
		}
	}
}

// gorgoniaDraws reads back, from the values uv of a run of the user's
// graph by Gorgonia's own ops, the draw Gorgonia made for every random
// node, as values of the private inputs: a random node's value itself; a
// dropout's mask, 1 where its output is not zero (where its input is zero
// either mask gives the same value). The user's nodes read are in
// randomReads.
func (t *Translation) gorgoniaDraws(uv graph.Values) (graph.Values, error) {
	out := graph.Values{}
	for _, r := range t.random {
		y, _, err := Float64s(uv[r.user])
		if err != nil {
			return nil, &errs.NoRuleError{Node: r.user, Op: r.user.Op(), Rule: "random", Err: err}
		}
		s := r.input.Shape()
		if len(y) != max(s.TotalSize(), 1) {
			return nil, &errs.NoRuleError{Node: r.user, Op: r.user.Op(), Rule: "random", Err: fmt.Errorf("Gorgonia's draw has %d elements, the translation's %v", len(y), s)}
		}
		d := append([]float64(nil), y...)
		if r.dist == "dropout" {
			for i, x := range d {
				d[i] = 0
				if x != 0 {
					d[i] = 1
				}
			}
		}
		if s.IsScalar() {
			out[r.input] = G.NewF64(d[0])
		} else {
			out[r.input] = tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(d))
		}
	}
	return out, nil
}

// randomReads returns the user's random nodes, for Verify to keep their
// values.
func (t *Translation) randomReads() []*G.Node {
	out := t.Random()
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// Draw returns the current draw of the user's random node n, in n's shape
// and as a float64 tensor: the value a G.*RandomNode holds, or a
// G.Dropout's 0/1 mask m (its output is x ⊙ m / (1 − p)). It returns an
// *errs.ArgumentError if n is not one of Random.
func (t *Translation) Draw(n *G.Node) (*tensor.Dense, error) {
	t.drawMu.RLock()
	defer t.drawMu.RUnlock()
	for _, r := range t.random {
		if r.user != n {
			continue
		}
		data, _, err := Float64s(t.drawn[r.input])
		if err != nil {
			return nil, &errs.ShapeError{What: "draw of " + name(n), Reason: err.Error()}
		}
		return tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(append([]float64(nil), data...))), nil
	}
	return nil, &errs.ArgumentError{What: "random node", Value: name(n), Reason: "not a random node of the loss's graph (Random lists them)"}
}
