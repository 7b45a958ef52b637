package native

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Rule is one entry of the translation table: which nodes of a user's
// graph it translates, and how. A node with an op is matched against the
// table's rules in order, each rule in three steps:
//
//	Type     the op's Go type as %T prints it, e.g. "gorgonia.elemUnaryOp"
//	         or "*gorgonia.softmaxOp" (an *errs.UntranslatedError prints it
//	         after the op); "" for any type
//	Printed  the op's printed form, op.String(), exactly, e.g. "sin": for
//	         a Gorgonia type that stands for several functions; "" for any
//	Match    the rest (its inputs' shapes, a constant operand, the nodes
//	         below it): nil if the rule translates the node; Skip if the
//	         node is not the rule's; another error if it is the rule's kind
//	         of node but the rule cannot translate this one, saying why (the
//	         node is refused with the first such reason if no later rule
//	         translates it). A nil Match matches every node of Type and
//	         Printed.
//
// The first rule that matches translates the node: Translate builds, in
// the private graph, the newtonia nodes computing the node's value from
// s.In(i), the translations of the node's inputs, and returns the last.
// A rule with no Translate translates nothing: its Match only says why the
// nodes it recognises are refused.
type Rule struct {
	Type, Printed string
	Match         func(s *Site) error
	Translate     func(s *Site) (*G.Node, error)
}

// Skip is what a Rule's Match returns for a node that is not the rule's.
var Skip = errors.New("native: not this rule's node")

// Site is a node of the user's graph as a rule sees it while matching and
// translating it.
type Site struct {
	tr      *translator
	n       *G.Node
	reads   []*G.Node // the user's nodes the translation reads
	readSet bool      // reads set by Match (else the node's inputs)
	in      []*rep    // their translations (Translate)
	b       ops.Builder
	vec     layout  // the result's layout, for a 1-D vector (auto: from its shape)
	c       float64 // a constant Match found (an exponent, a factor, a slope)
	static  G.Value // the value of a node that depends on no input
	err     error   // why it could not be evaluated
}

// Node returns the user's node.
func (s *Site) Node() *G.Node { return s.n }

// Constant returns the value of the user's node n when it depends on no
// input (a constant, or a size or count computed from shapes) and holds
// one element.
func (s *Site) Constant(n *G.Node) (float64, bool) { return s.tr.staticScalar(n) }

// DependsOnWeight reports whether the user's node n depends on a weight.
func (s *Site) DependsOnWeight(n *G.Node) bool { return s.tr.weighty[n] }

// Reads sets, from Match, the user's nodes the translation reads, in the
// order In returns them: by default the node's inputs. A composite rule
// reads the nodes below those it replaces, which are then not translated
// on their own (G.Rectify's mask has no translation).
func (s *Site) Reads(nodes ...*G.Node) { s.reads, s.readSet = nodes, true }

// In returns, in Translate, the translation of the i-th node read: a
// float64 node of the user's node's shape, a 1-D vector of length n as an
// n×1 column. Translate returns its result in the same convention (a 1-D
// vector as n×1, or 1×n).
func (s *Site) In(i int) *G.Node { return s.as(i, col) }

// x is the translation of the i-th node read, in its own layout.
func (s *Site) x(i int) *G.Node { return s.in[i].n }

// as is the translation of the i-th node read in layout want.
func (s *Site) as(i int, want layout) *G.Node { return s.tr.as(&s.b, s.in[i], want) }

// like lays out the result as the i-th node read.
func (s *Site) like(i int, n *G.Node) *G.Node { return s.laid(s.in[i].vec, n) }

// laid lays out the result as v.
func (s *Site) laid(v layout, n *G.Node) *G.Node {
	s.vec = v
	return n
}

func (s *Site) apply(op G.Op, in ...*G.Node) *G.Node { return s.b.Apply(op, in...) }

// named is a rule and its name.
type named struct {
	name string
	Rule
}

// entry is a rule of the table.
type entry struct {
	named
	builtin bool // registered by this package
}

var registry struct {
	sync.RWMutex
	rules []entry
	names map[string]bool
	done  bool // the built-in rules are registered
}

// Register appends the rule r, under name, to the translation table:
// after every rule registered before it, so after the built-in rules (see
// Rules), and a built-in rule is never overridden. It returns an
// *errs.ArgumentError naming name if a rule of that name exists (a
// built-in is named by Gorgonia's printed form of its op, e.g. "tanh", or
// by what it recognises, e.g. "relu"), if an earlier rule with no Match
// already translates every node r could match, or if r has neither Match
// nor Translate. A registered rule is checked by value like every built-in
// one (Verify).
func Register(name string, r Rule) error {
	registry.Lock()
	defer registry.Unlock()
	bad := func(reason string) error {
		return &errs.ArgumentError{What: "native.Register name", Value: strconv.Quote(name), Reason: reason}
	}
	switch {
	case name == "":
		return bad("empty")
	case registry.names[name]:
		return bad("a rule of this name exists; a rule is never replaced (native.Rules lists them)")
	case r.Match == nil && r.Translate == nil:
		return bad("the rule has neither Match nor Translate")
	}
	for _, e := range registry.rules {
		if covers(e.Rule, r) {
			return bad(fmt.Sprintf("rule %q, tried first, translates every node of type %q printed %q: this one would never apply", e.name, r.Type, r.Printed))
		}
	}
	if registry.names == nil {
		registry.names = map[string]bool{}
	}
	registry.names[name] = true
	registry.rules = append(registry.rules, entry{named{name, r}, !registry.done})
	return nil
}

// covers reports whether a, tried before b, translates every node b matches.
func covers(a, b Rule) bool {
	return a.Match == nil && a.Translate != nil && (a.Type == "" || a.Type == b.Type) && (a.Printed == "" || a.Printed == b.Printed)
}

// Rules returns the names of the translation table's rules, in the order
// they are tried: the built-in rules, then the registered ones.
func Rules() []string {
	var names []string
	for _, e := range table() {
		names = append(names, e.name)
	}
	return names
}

// table returns the rules, in order.
func table() []entry {
	registry.RLock()
	defer registry.RUnlock()
	return registry.rules[:len(registry.rules):len(registry.rules)]
}

func init() {
	for _, e := range builtins() {
		if err := Register(e.name, e.Rule); err != nil {
			panic(err)
		}
	}
	registry.done = true
}

// The Go types of Gorgonia's ops that rules match (%T, v0.9.18).
const (
	tUnary     = "gorgonia.elemUnaryOp"
	tBinary    = "gorgonia.elemBinOp"
	tLinAlg    = "gorgonia.linAlgBinOp"
	tTranspose = "gorgonia.transposeOp"
	tSum       = "gorgonia.sumOp"
	tSoftmax   = "*gorgonia.softmaxOp"
	tReshape   = "gorgonia.reshapeOp"
	tRepeat    = "*gorgonia.repeatOp"
	tIm2Col    = "gorgonia.im2colOp"
	tMaxPool   = "*gorgonia.maxPoolOp"
)

// unary lists Gorgonia's elementwise unary ops, by printed form, and
// newtonia's functions computing them (neg is a scale by −1).
var unary = []struct {
	printed string
	f       ops.ScalarFunc
}{
	{"square", ops.SquareFunc{}}, {"sqrt", ops.SqrtFunc{}}, {"exp", ops.ExpFunc{}}, {"ln", ops.LogFunc{}},
	{"tanh", ops.TanhFunc{}}, {"sigmoid", ops.SigmoidFunc{}}, {"softplus", ops.SoftplusFunc{}},
	{"cube", ops.PowFunc{P: 3}}, {"inv", ops.PowFunc{P: -1}}, {"invSqrt", ops.PowFunc{P: -0.5}}, {"abs", ops.AbsFunc{}},
}

// builtins is the built-in table, in order: refusals and constants first,
// then Gorgonia's composite constructions (whose last node would otherwise
// match a rule for one op), then single ops.
func builtins() []named {
	t := []named{
		{"random", Rule{Match: matchRandom, Translate: translateRandom}},
		{"constant", Rule{Match: matchConstant, Translate: translateConstant}},
		{"leaky relu", Rule{Type: tBinary, Match: matchLeaky, Translate: translateLeaky}},
		{"relu", Rule{Type: tBinary, Match: matchReLU, Translate: translateReLU}},
		{"softmax cross-entropy", Rule{Type: tSum, Match: matchCrossEntropy, Translate: translateCrossEntropy}},
		{"bias", Rule{Type: tBinary, Match: matchBias, Translate: translateBias}},
		{"row bias", Rule{Type: tBinary, Match: matchRowBias, Translate: translateRowBias}},
		{"scalar bias", Rule{Type: tBinary, Match: matchScalarBias, Translate: translateScalarBias}},
		{"neg", Rule{Type: tUnary, Printed: "neg", Translate: func(s *Site) (*G.Node, error) {
			return s.like(0, s.apply(ops.ScaleOp{C: -1}, s.x(0))), nil
		}}},
	}
	for _, u := range unary {
		t = append(t, named{u.printed, Rule{Type: tUnary, Printed: u.printed, Translate: elementwise(u.f)}})
	}
	return append(t, []named{
		{"other functions", Rule{Type: tUnary, Match: func(s *Site) error {
			return fmt.Errorf("no newtonia function computes %q", s.n.Op().String())
		}}},
		{"power", Rule{Type: tBinary, Match: matchPower, Translate: translatePower}},
		{"scale", Rule{Type: tBinary, Match: matchScale, Translate: func(s *Site) (*G.Node, error) {
			return s.like(0, s.apply(ops.ScaleOp{C: s.c}, s.x(0))), nil
		}}},
		{"scalar operand", Rule{Type: tBinary, Match: matchScalarOperand, Translate: translateScalarOperand}},
		{"elementwise", Rule{Type: tBinary, Match: matchElementwise, Translate: translateElementwise}},
		{"A × B", Rule{Type: tLinAlg, Printed: "A × B", Translate: func(s *Site) (*G.Node, error) {
			return s.apply(ops.MatMulOp{}, s.x(0), s.x(1)), nil
		}}},
		{"A × b", Rule{Type: tLinAlg, Printed: "A × b", Translate: func(s *Site) (*G.Node, error) {
			return s.laid(col, s.apply(ops.MatMulOp{}, s.x(0), s.as(1, col))), nil
		}}},
		{"Aᵀ × b", Rule{Type: tLinAlg, Printed: "Aᵀ × b", Translate: translateVecMat}},
		{"a ⋅ b", Rule{Type: tLinAlg, Printed: "a ⋅ b", Translate: func(s *Site) (*G.Node, error) {
			return s.apply(ops.InnerOp{}, s.as(0, col), s.as(1, col)), nil
		}}},
		{"A × Bᵀ", Rule{Type: tLinAlg, Printed: "A × Bᵀ", Translate: func(s *Site) (*G.Node, error) {
			return s.apply(ops.MatMulOp{}, s.x(0), s.apply(ops.TransposeOp{}, s.x(1))), nil // G.Conv2d's patches × kernelsᵀ
		}}},
		{"other products", Rule{Type: tLinAlg, Match: func(*Site) error { return errLinAlg }}},
		{"transpose", Rule{Type: tTranspose, Match: matchTranspose, Translate: translateTranspose}},
		{"sum", Rule{Type: tSum, Match: matchSum, Translate: translateSum}},
		{"softmax", Rule{Type: tSoftmax, Match: matchSoftmax, Translate: translateSoftmax}},
		{"reshape", Rule{Type: tReshape, Match: matchReshape, Translate: translateReshape}},
		{"repeat", Rule{Type: tRepeat, Translate: translateRepeat}},
		{"im2col", Rule{Type: tIm2Col, Match: matchIm2Col, Translate: translateIm2Col}},      // G.Conv2d's patches (images.go)
		{"max pool", Rule{Type: tMaxPool, Match: matchMaxPool, Translate: translateMaxPool}}, // G.MaxPool2D (images.go)
		{"element", Rule{Type: tSlice, Match: matchElement, Translate: translateElement}},
		{"slice", Rule{Type: tSlice, Match: matchSlice, Translate: translateSlice}},
		{"concat", Rule{Type: tConcat, Match: matchConcat, Translate: translateConcat}},
	}...)
}

var (
	errNoRule = fmt.Errorf("no translation for this op")
	errLinAlg = fmt.Errorf("only A × B, A × b, Aᵀ × b (G.Mul of a vector and a matrix) and a ⋅ b are translated (transpose the operand with G.Transpose instead)")
	errPower  = fmt.Errorf("a power whose exponent is not a constant")
)

// known lists what the built-in table translates, for error messages.
func known() string {
	return "G.Mul, G.Add, G.Sub, G.HadamardProd, G.HadamardDiv and their Broadcast forms, G.Neg, G.Square, G.Sqrt, " +
		"G.Exp, G.Log, G.Tanh, G.Sigmoid, G.Softplus, G.Cube, G.Abs, G.Inverse, G.InverseSqrt, G.Pow by a constant, " +
		"G.Rectify, G.LeakyRelu, G.SoftMax, G.LogSoftMax, G.Sum, G.Mean, G.Transpose, G.Reshape, G.Slice, G.Concat, G.Conv2d, G.MaxPool2D, G.Dropout and random nodes, constants"
}

func elementwise(f ops.ScalarFunc) func(*Site) (*G.Node, error) {
	return func(s *Site) (*G.Node, error) { return s.like(0, s.apply(ops.ElementwiseOp{F: f}, s.x(0))), nil }
}

// Gorgonia's elementwise binary ops print as their symbol and a flag:
// "+ false", "⊙ false", ">= true".
func symbol(n *G.Node) string { return strings.Fields(n.Op().String())[0] }

var arith = map[string]G.Op{"+": ops.AddOp{}, "-": ops.SubOp{}, "⊙": ops.MulOp{}, "÷": ops.DivOp{}}

// power: x ^ c, c a constant (G.Pow, G.Square's ^ 2).
func matchPower(s *Site) error {
	if symbol(s.n) != "^" {
		return Skip
	}
	c, ok := s.Constant(graph.Children(s.n)[1])
	if !ok {
		return errPower
	}
	s.c = c
	s.Reads(graph.Children(s.n)[0])
	return nil
}

func translatePower(s *Site) (*G.Node, error) {
	f := map[float64]ops.ScalarFunc{2: ops.SquareFunc{}, 0.5: ops.SqrtFunc{}}[s.c]
	if f == nil {
		f = ops.PowFunc{P: s.c}
	}
	return s.like(0, s.apply(ops.ElementwiseOp{F: f}, s.x(0))), nil
}

// scale: x ⊙ c, c ⊙ x, x ÷ c (c ≠ 0), c a constant scalar: G.Mean (Σ ÷
// count), a product by a constant.
func matchScale(s *Site) error {
	k := graph.Children(s.n)
	switch symbol(s.n) {
	case "⊙":
		for i := range 2 {
			if c, ok := s.Constant(k[1-i]); ok && s.tr.scalarShaped(k[1-i]) {
				s.c = c
				s.Reads(k[i])
				return nil
			}
		}
	case "÷":
		if c, ok := s.Constant(k[1]); ok && c != 0 && s.tr.scalarShaped(k[1]) {
			s.c = 1 / c
			s.Reads(k[0])
			return nil
		}
	}
	return Skip
}

// scalar operand: + − ⊙ ÷ with a scalar operand, other than a scale.
func matchScalarOperand(s *Site) error {
	if arith[symbol(s.n)] == nil {
		return Skip
	}
	for _, c := range graph.Children(s.n) {
		if s.tr.scalarShaped(c) {
			return nil
		}
	}
	return Skip
}

func translateScalarOperand(s *Site) (*G.Node, error) {
	sym, x, y := symbol(s.n), s.x(0), s.x(1)
	switch xs, ys := x.Shape().IsScalar(), y.Shape().IsScalar(); {
	case xs && ys:
		return s.apply(arith[sym], x, y), nil
	case ys:
		return s.like(0, tensorScalar(s, sym, x, y, graph.Children(s.n)[1], false)), nil
	case xs:
		return s.like(1, tensorScalar(s, sym, y, x, graph.Children(s.n)[0], true)), nil
	}
	return translateElementwise(s)
}

// tensorScalar combines a tensor t and a scalar sc, the translation of the
// user's node u (sc first when flipped).
func tensorScalar(s *Site, sym string, t, sc, u *G.Node, flipped bool) *G.Node {
	switch {
	case sym == "⊙":
		return s.apply(ops.ScalarMulOp{}, sc, t)
	case sym == "÷" && !flipped:
		return s.apply(ops.ScalarMulOp{Divide: true}, sc, t)
	}
	// sc as a tensor of t's shape: c·1 for a constant, sc·1 otherwise.
	var full *G.Node
	if c, static := s.Constant(u); static {
		full = s.apply(ops.FillOp{C: c}, t)
	} else {
		full = s.apply(ops.ScalarMulOp{}, sc, s.apply(ops.FillOp{C: 1}, t))
	}
	if flipped {
		t, full = full, t
	}
	return s.apply(arith[sym], t, full)
}

// elementwise: + − ⊙ ÷ of two tensors of one shape (a vector's layouts
// matched).
func matchElementwise(s *Site) error {
	switch sym := symbol(s.n); {
	case arith[sym] != nil:
		return nil
	case sym == "^":
		return Skip // the power rule says why
	default:
		return fmt.Errorf("a comparison %q (a mask): translated only inside G.Rectify and G.LeakyRelu", sym)
	}
}

func translateElementwise(s *Site) (*G.Node, error) {
	return s.like(0, s.apply(arith[symbol(s.n)], s.x(0), s.as(1, s.in[0].vec))), nil
}

// transpose: of a matrix (TransposeOp), or any permutation of the axes of
// a value of more dimensions (PermuteOp; G.Conv2d's Aᵀ{0, 3, 1, 2}).
func matchTranspose(s *Site) error {
	switch d := s.n.Shape().Dims(); {
	case d == 2:
		return nil
	case d > 2:
		_, err := axesOfTranspose(s.n.Op().String(), d)
		return err
	}
	return transposeErr(s.n)
}

func translateTranspose(s *Site) (*G.Node, error) {
	if s.in[0].vec != asIs {
		return nil, transposeErr(s.n)
	}
	if d := s.n.Shape().Dims(); d > 2 {
		axes, _ := axesOfTranspose(s.n.Op().String(), d)
		return s.apply(ops.PermuteOp{Axes: axes}, s.x(0)), nil
	}
	return s.apply(ops.TransposeOp{}, s.x(0)), nil
}

func transposeErr(n *G.Node) error {
	return fmt.Errorf("a transpose of shape %v: only of matrices and of values of more dimensions", n.Shape())
}

// axesOfTranspose parses Gorgonia's "Aᵀ{0, 3, 1, 2}", a permutation of d
// axes.
func axesOfTranspose(s string, d int) ([]int, error) {
	inner := strings.TrimSuffix(strings.TrimPrefix(s, "Aᵀ{"), "}")
	var axes []int
	for _, f := range strings.Split(inner, ",") {
		a, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("cannot read the axes of %q", s)
		}
		axes = append(axes, a)
	}
	if len(axes) != d {
		return nil, fmt.Errorf("cannot read the axes of %q for %d dimensions", s, d)
	}
	return axes, nil
}

// sum: Σ over the given axes.
func matchSum(s *Site) error {
	_, err := axesOf(s.n.Op().String())
	return err
}

func translateSum(s *Site) (*G.Node, error) {
	axes, _ := axesOf(s.n.Op().String())
	switch dims := graph.Children(s.n)[0].Shape().Dims(); {
	case dims > 2 && len(axes) == dims: // every element of a value of more dimensions: as one row
		x := s.x(0)
		row := s.apply(ops.ReshapeOp{From: x.Shape().Clone(), To: tensor.Shape{1, x.Shape().TotalSize()}}, x)
		return s.apply(ops.SumOp{Axis: -1}, row), nil
	case dims > 2:
		return sumAxes(s, axes)
	case dims == 0:
		return s.like(0, s.x(0)), nil
	case dims == 1 || len(axes) == 2:
		return s.apply(ops.SumOp{Axis: -1}, s.x(0)), nil
	case axes[0] == 0:
		return s.laid(row, s.apply(ops.SumOp{Axis: 0}, s.x(0))), nil
	case axes[0] == 1:
		return s.laid(col, s.apply(ops.SumOp{Axis: 1}, s.x(0))), nil
	}
	return nil, fmt.Errorf("a sum over axes %v", axes)
}

// sumAxes sums a value of more than two dimensions over some of its
// axes: the kept axes moved first (PermuteOp), the value as a matrix of
// one row per kept index, its rows summed (SumOp), the result in the
// kept axes' shape (a vector's as a column).
func sumAxes(s *Site, axes []int) (*G.Node, error) {
	x := s.x(0)
	sh := x.Shape()
	summed := make([]bool, len(sh))
	for _, a := range axes {
		if a < 0 || a >= len(sh) || summed[a] {
			return nil, fmt.Errorf("a sum over axes %v of a value of shape %v", axes, sh)
		}
		summed[a] = true
	}
	var perm []int
	var kept tensor.Shape
	for a := range sh {
		if !summed[a] {
			perm, kept = append(perm, a), append(kept, sh[a])
		}
	}
	perm = append(perm, axes...)
	k := kept.TotalSize()
	if len(kept) == 1 {
		kept = tensor.Shape{kept[0], 1}
	}
	moved := s.apply(ops.PermuteOp{Axes: perm}, x)
	rows := s.apply(ops.ReshapeOp{From: moved.Shape().Clone(), To: tensor.Shape{k, sh.TotalSize() / k}}, moved)
	return s.apply(ops.ReshapeOp{From: tensor.Shape{k, 1}, To: kept}, s.apply(ops.SumOp{Axis: 1}, rows)), nil
}

// axesOf parses Gorgonia's "Σ[0 1]".
func axesOf(s string) ([]int, error) {
	inner := strings.TrimSuffix(strings.TrimPrefix(s, "Σ["), "]")
	var axes []int
	for _, f := range strings.Fields(inner) {
		a, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read the axes of %q", s)
		}
		axes = append(axes, a)
	}
	if len(axes) == 0 {
		return nil, fmt.Errorf("cannot read the axes of %q", s)
	}
	return axes, nil
}

// softmax: Gorgonia's softmax and log-softmax.
func matchSoftmax(s *Site) error {
	_, _, err := softmaxOf(s.n.Op().String())
	return err
}

func translateSoftmax(s *Site) (*G.Node, error) {
	axis, isLog, _ := softmaxOf(s.n.Op().String())
	op := ops.SoftmaxOp{Log: isLog}
	switch dims := s.n.Shape().Dims(); {
	case dims == 1:
		return s.laid(row, s.apply(op, s.as(0, row))), nil
	case dims == 2 && (axis == -1 || axis == 1):
		return s.apply(op, s.x(0)), nil
	case dims == 2 && axis == 0:
		return s.apply(ops.TransposeOp{}, s.apply(op, s.apply(ops.TransposeOp{}, s.x(0)))), nil
	}
	return nil, fmt.Errorf("a softmax over axis %d of shape %v", axis, s.n.Shape())
}

// softmaxOf reads the axis of Gorgonia's "Softmax{-1, false}()" and
// whether it is a log-softmax.
func softmaxOf(s string) (axis int, isLog bool, err error) {
	if _, err := fmt.Sscanf(s, "Softmax{%d, %t}()", &axis, &isLog); err != nil {
		return 0, false, fmt.Errorf("cannot read the softmax's axis: %v", err)
	}
	return axis, isLog, nil
}

// The reshapes translated: between a vector and a row or column.
type reshaping byte

const (
	sameShape reshaping = iota
	vecToRow
	vecToCol
	rowToVec
	colToVec
	anyShape // any other reshape of as many elements (ReshapeOp)
)

func reshapeKind(from, to tensor.Shape) (reshaping, error) {
	switch {
	case sameDims(from, to):
		return sameShape, nil
	case from.Dims() == 1 && sameDims(to, tensor.Shape{1, from[0]}):
		return vecToRow, nil
	case from.Dims() == 1 && sameDims(to, tensor.Shape{from[0], 1}):
		return vecToCol, nil
	case to.Dims() == 1 && sameDims(from, tensor.Shape{1, to[0]}):
		return rowToVec, nil
	case to.Dims() == 1 && sameDims(from, tensor.Shape{to[0], 1}):
		return colToVec, nil
	case from.TotalSize() == to.TotalSize() && from.Dims() > 0 && to.Dims() > 0:
		return anyShape, nil
	}
	return 0, fmt.Errorf("a reshape from %v to %v", from, to)
}

func matchReshape(s *Site) error {
	_, err := reshapeKind(graph.Children(s.n)[0].Shape(), s.n.Shape())
	return err
}

func translateReshape(s *Site) (*G.Node, error) {
	k, _ := reshapeKind(graph.Children(s.n)[0].Shape(), s.n.Shape())
	switch k {
	case vecToRow:
		return s.as(0, row), nil
	case vecToCol:
		return s.as(0, col), nil
	case rowToVec:
		return s.laid(row, s.x(0)), nil
	case colToVec:
		return s.laid(col, s.x(0)), nil
	case anyShape: // a vector's result as a column, n×1
		to := s.n.Shape().Clone()
		if to.Dims() == 1 {
			to = tensor.Shape{to[0], 1}
		}
		x := s.x(0)
		return s.apply(ops.ReshapeOp{From: x.Shape().Clone(), To: to}, x), nil
	}
	return s.like(0, s.x(0)), nil
}

// repeat: Gorgonia's broadcast, a row over rows or a column over columns.
func translateRepeat(s *Site) (*G.Node, error) {
	kids := graph.Children(s.n)
	if len(kids) != 2 {
		return nil, fmt.Errorf("a repeat along %d axes", len(kids)-1)
	}
	times, ok := s.Constant(kids[1])
	if !ok {
		return nil, fmt.Errorf("a repeat whose count is not a size")
	}
	x, k := s.x(0), int(times)
	switch sh := x.Shape(); {
	case s.n.Op().String() == "Repeat0" && sh.Dims() == 2 && sh[0] == 1:
		return s.apply(ops.RepeatOp{N: k}, x), nil
	case s.n.Op().String() == "Repeat1" && sh.Dims() == 2 && sh[1] == 1:
		return s.apply(ops.TransposeOp{}, s.apply(ops.RepeatOp{N: k}, s.apply(ops.TransposeOp{}, x))), nil
	}
	return nil, fmt.Errorf("a repeat %v of shape %v: only a row over rows or a column over columns", s.n.Op(), x.Shape())
}
