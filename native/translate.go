package native

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/internal/gorgoniax"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Translation is a private copy, in newtonia's float64 ops, of the part of
// a user's graph that a loss reads.
type Translation struct {
	Loss    *G.Node      // the private loss
	Weights []*G.Node    // the private weights, in the order given
	Dtype   tensor.Dtype // the user's graph's (float64 or float32)

	inputs   map[*G.Node]*G.Node // private input → the user's input
	mapped   map[*G.Node]*G.Node // private node → the user's node it computes (for Verify and names)
	userLoss *G.Node
	first    int64             // the private graph's first node id (see errors.go)
	byID     map[int64]*G.Node // id of a private node computing a user's node → that private node

	random []*randomNode // the random nodes, each an input holding a draw (random.go)
	drawMu sync.RWMutex  // guards drawn and draws
	drawn  graph.Values  // the current draw: private input → value
	draws  int           // draws made
}

// Needed reports whether loss's graph must be translated: it holds an op
// without newtonia's rules (a Gorgonia op) or a value that is not float64.
func Needed(loss *G.Node) bool {
	for _, n := range graph.Sorted(loss) {
		if n.Dtype() != tensor.Float64 {
			return true
		}
		if n.Op() == nil || len(graph.Children(n)) == 0 {
			continue
		}
		if _, ok := n.Op().(ops.VJPer); !ok {
			return true
		}
	}
	return false
}

// rep is a translated node: its private node and, for a user's 1-D
// vector, how the vector is laid out (a 1×n row or an n×1 column).
type rep struct {
	n   *G.Node
	vec layout
}

type layout byte

const (
	asIs layout = iota // a matrix or a scalar: the user's shape
	row                // a 1-D vector as 1×n
	col                // a 1-D vector as n×1
)

// translator holds the state of one Translate.
type translator struct {
	g       *G.ExprGraph
	t       *Translation
	done    map[*G.Node]*rep // user node → translation (nil: failed)
	static  map[*G.Node]G.Value
	uses    map[*G.Node][]*G.Node
	weighty map[*G.Node]bool    // user nodes that depend on a weight
	weight  map[*G.Node]bool    // the user's weights
	private map[*G.Node]*G.Node // the user's input → its private input node
	names   map[string]int
	missing []errs.Untranslated
	rules   []entry // the table, as it was when Translate began
}

// Translate copies the graph of loss (a scalar node) into a private graph
// of newtonia ops, with weights (input nodes of loss's graph) as its
// weights. It fails with an *errs.UntranslatedError listing every node it
// cannot translate.
func Translate(loss *G.Node, weights []*G.Node) (t *Translation, err error) {
	defer errs.Recover("native.Translate", &err)
	if loss == nil {
		return nil, &errs.ShapeError{What: "loss", Reason: "nil"}
	}
	if !loss.Shape().IsScalar() && loss.Shape().TotalSize() != 1 {
		return nil, &errs.ShapeError{What: "loss " + name(loss), Reason: fmt.Sprintf("shape %v, want a scalar", loss.Shape())}
	}
	dt := loss.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil, &errs.ShapeError{What: "loss " + name(loss), Reason: fmt.Sprintf("dtype %v, want float64 or float32", dt)}
	}
	g := G.NewGraph()
	first := int64(0)
	if gorgoniax.StartIDs(g, privateIDs) { // ids apart from the user's: errors.go
		first = privateIDs
	}
	tr := &translator{
		g:       g,
		t:       &Translation{Dtype: dt, inputs: map[*G.Node]*G.Node{}, mapped: map[*G.Node]*G.Node{}, userLoss: loss, first: first},
		done:    map[*G.Node]*rep{},
		static:  map[*G.Node]G.Value{},
		uses:    graph.Uses(loss),
		names:   map[string]int{},
		weight:  map[*G.Node]bool{},
		private: map[*G.Node]*G.Node{},
		rules:   table(),
	}
	for i, w := range weights {
		if w == nil {
			return nil, &errs.ShapeError{What: fmt.Sprintf("weight %d", i), Reason: "nil"}
		}
		if w.Op() != nil {
			return nil, &errs.ShapeError{What: "weight " + name(w), Reason: "not an input node (gorgonia.NewMatrix, NewVector…)"}
		}
		if w.Dtype() != dt {
			return nil, &errs.ShapeError{What: "weight " + name(w), Reason: fmt.Sprintf("dtype %v in a %v graph", w.Dtype(), dt)}
		}
		if w.Graph() != loss.Graph() {
			return nil, &errs.ShapeError{What: "weight " + name(w), Reason: "not in the loss's graph"}
		}
		tr.weight[w] = true
	}
	tr.weighty = dependents(loss, weights)
	for _, n := range graph.Sorted(loss) { // inputs first, so that names are stable
		if n.Op() == nil {
			tr.node(n)
		}
	}
	for _, w := range weights {
		if r := tr.node(w); r != nil { // else reported
			tr.t.Weights = append(tr.t.Weights, tr.private[w])
		}
	}
	lr := tr.node(loss)
	if len(tr.missing) > 0 {
		return nil, &errs.UntranslatedError{Nodes: tr.missing, Supported: known()}
	}
	tr.t.Loss = lr.n
	tr.t.index()
	if err := tr.t.Redraw(nil); err != nil { // the first draw
		return nil, err
	}
	return tr.t, nil
}

// dependents returns the nodes of loss's graph that depend on a weight.
func dependents(loss *G.Node, weights []*G.Node) map[*G.Node]bool {
	dep := map[*G.Node]bool{}
	for _, w := range weights {
		dep[w] = true
	}
	for _, n := range graph.Sorted(loss) {
		for _, c := range graph.Children(n) {
			if dep[c] {
				dep[n] = true
			}
		}
	}
	return dep
}

// node translates the user's node n (memoised); nil when it cannot.
func (tr *translator) node(n *G.Node) *rep {
	if r, ok := tr.done[n]; ok {
		return r
	}
	r, err := tr.translate(n)
	if err != nil {
		tr.missing = append(tr.missing, errs.Untranslated{Node: name(n), Op: opName(n.Op()), Reason: err.Error(), Random: isRandom(n.Op())})
		r = nil
	} else if r != nil {
		tr.t.mapped[r.n] = n
	}
	tr.done[n] = r
	return r
}

// translate translates n by the first rule of the table that matches it,
// once the nodes the rule reads are translated. A node no rule matches is
// refused with the first reason a rule gave, after its inputs are
// translated, so that every untranslated node of the graph is listed, not
// only the first on each path (issue 19 item 22).
func (tr *translator) translate(n *G.Node) (*rep, error) {
	if n.Op() == nil {
		return tr.input(n)
	}
	s, e, why := tr.match(n)
	if s == nil {
		for _, c := range graph.Children(n) {
			tr.node(c)
		}
		return nil, why
	}
	if !s.readSet {
		s.reads = graph.Children(n)
	}
	s.in = make([]*rep, len(s.reads))
	bad := false
	for i, c := range s.reads {
		if s.in[i] = tr.node(c); s.in[i] == nil {
			bad = true
		}
	}
	if bad { // its inputs are reported
		return nil, nil
	}
	return s.translate(tr.rules[e])
}

// match returns the site of n for the first rule that matches n, or the
// reason to refuse n.
func (tr *translator) match(n *G.Node) (*Site, int, error) {
	typ, printed := fmt.Sprintf("%T", n.Op()), n.Op().String()
	var why error
	for i, e := range tr.rules {
		if e.Type != "" && e.Type != typ || e.Printed != "" && e.Printed != printed {
			continue
		}
		s := &Site{tr: tr, n: n}
		if e.Match != nil {
			if err := e.Match(s); err != nil {
				if why == nil && !errors.Is(err, Skip) {
					why = err
				}
				continue
			}
		}
		if e.Translate != nil {
			return s, i, nil
		}
	}
	if why == nil {
		why = errNoRule
	}
	return nil, 0, why
}

// translate applies the rule e to s, whose inputs are translated.
func (s *Site) translate(e entry) (*rep, error) {
	out, err := e.Translate(s)
	if err == nil {
		err = s.b.Err
	}
	if err == nil && out == nil {
		err = fmt.Errorf("no node")
	}
	if err != nil {
		if !e.builtin {
			err = fmt.Errorf("registered rule %q: %w", e.name, err)
		}
		return nil, err
	}
	r := &rep{out, asIs}
	if s.n.Shape().Dims() == 1 {
		switch r.vec = s.vec; {
		case r.vec != asIs:
		case out.Shape().Dims() == 2 && out.Shape()[0] == 1 && out.Shape()[1] > 1:
			r.vec = row
		default:
			r.vec = col
		}
	}
	return r, nil
}

// as returns x's node in layout want (a vector transposed if needed).
func (tr *translator) as(b *ops.Builder, x *rep, want layout) *G.Node {
	if x.vec == asIs || x.vec == want {
		return x.n
	}
	return b.Apply(ops.TransposeOp{}, x.n)
}

// input makes the private input node for the user's input n: float64, a
// 1-D vector as a row if it is broadcast over rows (a bias), else as a
// column; a scalar weight as a 1×1 matrix, read as a scalar by its sum
// (the passes then treat every weight as a matrix; issue 19 item 17); a
// matrix, and a value of more dimensions (images, convolution kernels),
// in the user's shape.
func (tr *translator) input(n *G.Node) (*rep, error) {
	nm := errs.Name(n) // an unnamed input by its id and shape: messages and block names then name it so
	if k := tr.names[nm]; k > 0 {
		nm = fmt.Sprintf("%s#%d", nm, n.ID())
	}
	tr.names[errs.Name(n)]++
	s := n.Shape()
	var p *G.Node
	r := &rep{}
	switch {
	case s.IsScalar() && tr.weight[n]:
		p = G.NewMatrix(tr.g, tensor.Float64, G.WithShape(1, 1), G.WithName(nm))
		var b ops.Builder
		if r.n = b.Apply(ops.SumOp{Axis: -1}, p); b.Err != nil {
			return nil, b.Err
		}
	case s.IsScalar():
		p = G.NewScalar(tr.g, tensor.Float64, G.WithName(nm))
	case s.Dims() == 1:
		r.vec = col
		for _, u := range tr.uses[n] {
			if to, ok := reshapeTo(u); ok && sameDims(to, tensor.Shape{1, s[0]}) || rowUse(n, u) {
				r.vec = row
			}
		}
		shape := []int{s[0], 1}
		if r.vec == row {
			shape = []int{1, s[0]}
		}
		p = G.NewMatrix(tr.g, tensor.Float64, G.WithShape(shape...), G.WithName(nm))
	default:
		p = G.NewTensor(tr.g, tensor.Float64, s.Dims(), G.WithShape(s...), G.WithName(nm))
	}
	if r.n == nil {
		r.n = p
	}
	tr.t.inputs[p] = n
	tr.private[n] = p
	return r, nil
}

// staticValue evaluates n with Gorgonia's own ops when it depends on no
// input: constants, sizes, counts (G.Mean's divisor). A size depends only
// on its input's shape.
func (tr *translator) staticValue(n *G.Node) (G.Value, bool, error) {
	if v, ok := tr.static[n]; ok {
		return v, v != nil, nil
	}
	tr.static[n] = nil
	kids := graph.Children(n)
	if n.Op() == nil || isRandom(n.Op()) { // a random node is drawn anew on every run: never folded
		return nil, false, nil
	}
	var in []G.Value
	if typeName(n.Op()) == "sizeOp" && len(kids) == 1 {
		in = []G.Value{tensor.New(tensor.WithShape(kids[0].Shape()...), tensor.Of(kids[0].Dtype()))}
	} else {
		for _, c := range kids {
			v, ok, err := tr.staticValue(c)
			if err != nil || !ok {
				return nil, false, err
			}
			in = append(in, v)
		}
	}
	v, err := doOp(n.Op(), in)
	if err != nil {
		return nil, false, err
	}
	tr.static[n] = v
	return v, true, nil
}

// doOp runs a Gorgonia op, recovering a panic.
func doOp(op G.Op, in []G.Value) (v G.Value, err error) {
	defer errs.Recover(fmt.Sprintf("op %v", op), &err)
	return op.Do(in...)
}

// constant: a node that depends on no input, evaluated with Gorgonia's own
// ops (or refused with why it cannot be).
func matchConstant(s *Site) error {
	v, ok, err := s.tr.staticValue(s.n)
	if !ok && err == nil {
		return Skip
	}
	s.static, s.err = v, err
	s.Reads()
	return nil
}

func translateConstant(s *Site) (*G.Node, error) {
	if s.err != nil {
		return nil, s.err
	}
	r, err := s.tr.constant(s.n, s.static)
	if err != nil {
		return nil, err
	}
	return s.laid(r.vec, r.n), nil
}

// constant makes a private constant holding v (promoted to float64).
func (tr *translator) constant(n *G.Node, v G.Value) (*rep, error) {
	data, s, err := Float64s(v)
	if err != nil {
		return nil, err
	}
	r := &rep{}
	var val any
	switch {
	case scalarConstant(n, s, len(data)):
		val = data[0]
	case s.Dims() == 1:
		r.vec = col
		val = tensor.New(tensor.WithShape(s[0], 1), tensor.WithBacking(data))
	default:
		val = tensor.New(tensor.WithShape(s...), tensor.WithBacking(data))
	}
	r.n = G.NewConstant(val, G.In(tr.g), G.WithName(fmt.Sprintf("const%d:%s", n.ID(), n.Name())))
	return r, nil
}

// scalarConstant reports whether the constant for the user's node n, of a
// value of shape s with k elements, is a scalar.
func scalarConstant(n *G.Node, s tensor.Shape, k int) bool {
	return s.IsScalar() || s.Dims() <= 1 && k == 1 && n.Shape().IsScalar()
}

// staticScalar returns the value of n when it is a static scalar.
func (tr *translator) staticScalar(n *G.Node) (float64, bool) {
	v, ok, err := tr.staticValue(n)
	if err != nil || !ok {
		return 0, false
	}
	data, _, err := Float64s(v)
	if err != nil || len(data) != 1 {
		return 0, false
	}
	return data[0], true
}

// scalarShaped reports whether the user's node n is translated as a
// scalar.
func (tr *translator) scalarShaped(n *G.Node) bool {
	if v, ok, err := tr.staticValue(n); err == nil && ok {
		data, s, err := Float64s(v)
		return err == nil && scalarConstant(n, s, len(data))
	}
	return n.Shape().IsScalar()
}

// typeName is the name of op's Go type, without package or pointer.
func typeName(op G.Op) string {
	if op == nil {
		return ""
	}
	t := reflect.TypeOf(op)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func opName(op G.Op) string {
	if op == nil {
		return "input"
	}
	return fmt.Sprintf("%v, %T", op, op)
}

// name is how errors name the user's node: its id and name (errs.Label),
// which for an unnamed op node is its op applied to its inputs' ids, for
// an unnamed input its shape.
func name(n *G.Node) string { return errs.Label(n) }

// reshapeTo returns the target shape of a Gorgonia reshape node.
func reshapeTo(n *G.Node) (tensor.Shape, bool) {
	if typeName(n.Op()) != "reshapeOp" {
		return nil, false
	}
	return n.Shape(), true
}

// UserNode returns the user's node that the private node p computes (nil
// for nodes of the passes).
func (t *Translation) UserNode(p *G.Node) *G.Node {
	if u, ok := t.inputs[p]; ok {
		return u
	}
	return t.mapped[p]
}
