package native

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Rule translates one node of a Gorgonia op: from the node's translated
// inputs (float64; a 1-D vector as an n×1 column, a scalar as a scalar)
// it builds newtonia nodes computing the same value, returned in the same
// convention. Verify checks it numerically like every built-in rule.
type Rule func(op G.Op, in []*G.Node) (*G.Node, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Rule{}
)

// Register adds the translation of the Gorgonia op printed as key (its
// String, e.g. "cube"), for ops the built-in table does not know. A later
// Register of the same key replaces the rule.
func Register(key string, r Rule) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[key] = r
}

// unary maps the names Gorgonia prints for its elementwise unary ops to
// newtonia's functions. neg is handled as a scale by −1.
var unary = map[string]ops.ScalarFunc{
	"square":   ops.SquareFunc{},
	"sqrt":     ops.SqrtFunc{},
	"exp":      ops.ExpFunc{},
	"ln":       ops.LogFunc{},
	"tanh":     ops.TanhFunc{},
	"sigmoid":  ops.SigmoidFunc{},
	"softplus": ops.SoftplusFunc{},
	"cube":     ops.PowFunc{P: 3},
	"inv":      ops.PowFunc{P: -1},
	"invSqrt":  ops.PowFunc{P: -0.5},
	"abs":      ops.AbsFunc{},
}

// apply translates n, whose inputs are translated, by its op.
func (tr *translator) apply(n *G.Node, in []*rep) (*rep, error) {
	op, s := n.Op(), n.Op().String()
	registryMu.RLock()
	r, ok := registry[s]
	registryMu.RUnlock()
	if ok {
		return tr.registered(n, r, in)
	}
	var b ops.Builder
	switch typeName(op) {
	case "elemUnaryOp":
		x := in[0]
		if s == "neg" {
			return &rep{b.Apply(ops.ScaleOp{C: -1}, x.n), x.vec}, b.Err
		}
		f, err := unaryFunc(s)
		if err != nil {
			return nil, err
		}
		return &rep{b.Apply(ops.ElementwiseOp{F: f}, x.n), x.vec}, b.Err
	case "elemBinOp":
		return tr.binary(n, in)
	case "linAlgBinOp":
		switch s {
		case "A × B":
			return &rep{b.Apply(ops.MatMulOp{}, in[0].n, in[1].n), asIs}, b.Err
		case "A × b":
			return &rep{b.Apply(ops.MatMulOp{}, in[0].n, tr.as(&b, in[1], col)), col}, b.Err
		case "a ⋅ b":
			return &rep{b.Apply(ops.InnerOp{}, tr.as(&b, in[0], col), tr.as(&b, in[1], col)), asIs}, b.Err
		}
		return nil, errLinAlg
	case "transposeOp":
		if n.Shape().Dims() != 2 || in[0].vec != asIs {
			return nil, transposeErr(n)
		}
		return &rep{b.Apply(ops.TransposeOp{}, in[0].n), asIs}, b.Err
	case "sumOp":
		return tr.sum(n, in[0])
	case "softmaxOp":
		return tr.softmax(n, in[0])
	case "reshapeOp":
		return tr.reshape(n, in[0])
	case "repeatOp":
		return tr.repeat(n, in)
	}
	return nil, errNoRule
}

var (
	errNoRule  = fmt.Errorf("no translation for this op")
	errLinAlg  = fmt.Errorf("only A × B, A × b and a ⋅ b are translated (transpose the operand with G.Transpose instead)")
	linAlgKeys = map[string]bool{"A × B": true, "A × b": true, "a ⋅ b": true}
)

func unaryFunc(s string) (ops.ScalarFunc, error) {
	if f, ok := unary[s]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("no newtonia function computes %q", s)
}

func transposeErr(n *G.Node) error {
	return fmt.Errorf("a transpose of shape %v: only matrices", n.Shape())
}

// opKnown returns why n's op has no translation whatever its inputs'
// translations are, or nil when it may have one: it is what Translate
// says of a node some of whose inputs have no translation, so that every
// untranslated op of the graph is listed, not only the first on each path
// (issue 19 item 22). What depends on the inputs' translations (vector
// layouts, broadcasts, patterns) is checked only once they have one.
func (tr *translator) opKnown(n *G.Node) error {
	if err := tr.opKindKnown(n); err != nil {
		return err
	}
	return dimsKnown(n)
}

// dimsKnown returns why n's value has no translation if it has more than
// two dimensions.
func dimsKnown(n *G.Node) error {
	if s := n.Shape(); s.Dims() > 2 {
		return fmt.Errorf("a value of shape %v: newtonia works on scalars, vectors and matrices", s)
	}
	return nil
}

func (tr *translator) opKindKnown(n *G.Node) error {
	op, s := n.Op(), n.Op().String()
	registryMu.RLock()
	_, ok := registry[s]
	registryMu.RUnlock()
	if ok {
		return nil
	}
	switch typeName(op) {
	case "elemUnaryOp":
		if s == "neg" {
			return nil
		}
		_, err := unaryFunc(s)
		return err
	case "elemBinOp":
		return tr.binaryKnown(n)
	case "linAlgBinOp":
		if linAlgKeys[s] {
			return nil
		}
		return errLinAlg
	case "transposeOp":
		if n.Shape().Dims() != 2 {
			return transposeErr(n)
		}
		return nil
	case "sumOp":
		_, err := axesOf(s)
		return err
	case "softmaxOp":
		_, _, err := softmaxOf(s)
		return err
	case "reshapeOp":
		_, err := reshapeKind(graph.Children(n)[0].Shape(), n.Shape())
		return err
	case "repeatOp":
		return nil
	}
	return errNoRule
}

// binaryKnown is opKnown for Gorgonia's elementwise binary ops.
func (tr *translator) binaryKnown(n *G.Node) error {
	switch sym := strings.Fields(n.Op().String())[0]; sym {
	case "+", "-", "⊙", "÷":
		return nil
	case "^":
		if _, ok := tr.staticScalar(graph.Children(n)[1]); ok {
			return nil
		}
		return errPower
	default:
		return comparisonErr(sym)
	}
}

var errPower = fmt.Errorf("a power whose exponent is not a constant")

func comparisonErr(sym string) error {
	return fmt.Errorf("a comparison %q (a mask): translated only inside G.Rectify and G.LeakyRelu", sym)
}

// known lists what the built-in table translates, for error messages.
func known() string {
	return "G.Mul, G.Add, G.Sub, G.HadamardProd, G.HadamardDiv and their Broadcast forms, G.Neg, G.Square, G.Sqrt, " +
		"G.Exp, G.Log, G.Tanh, G.Sigmoid, G.Softplus, G.Cube, G.Abs, G.Inverse, G.InverseSqrt, G.Pow by a constant, " +
		"G.Rectify, G.LeakyRelu, G.SoftMax, G.LogSoftMax, G.Sum, G.Mean, G.Transpose, reshapes of vectors, constants"
}

// registered applies a user's rule, with vectors as columns.
func (tr *translator) registered(n *G.Node, r Rule, in []*rep) (*rep, error) {
	var b ops.Builder
	args := make([]*G.Node, len(in))
	for i, x := range in {
		args[i] = tr.as(&b, x, col)
	}
	if b.Err != nil {
		return nil, b.Err
	}
	out, err := r(n.Op(), args)
	if err != nil {
		return nil, fmt.Errorf("registered rule: %w", err)
	}
	if out == nil {
		return nil, fmt.Errorf("registered rule returned no node")
	}
	if n.Shape().Dims() == 1 {
		return &rep{out, col}, nil
	}
	return &rep{out, asIs}, nil
}

// as returns x's node in layout want (a vector transposed if needed).
func (tr *translator) as(b *ops.Builder, x *rep, want layout) *G.Node {
	if x.vec == asIs || x.vec == want {
		return x.n
	}
	return b.Apply(ops.TransposeOp{}, x.n)
}

// binary translates Gorgonia's elementwise binary ops (+ − ⊙ ÷ and, with
// a constant exponent, ^), with scalar operands and broadcast operands.
func (tr *translator) binary(n *G.Node, in []*rep) (*rep, error) {
	sym := strings.Fields(n.Op().String())[0]
	kids := graph.Children(n)
	var b ops.Builder
	switch sym {
	case "+", "-", "⊙", "÷":
	case "^":
		if c, ok := tr.staticScalar(kids[1]); ok {
			f := map[float64]ops.ScalarFunc{2: ops.SquareFunc{}, 0.5: ops.SqrtFunc{}}[c]
			if f == nil {
				f = ops.PowFunc{P: c}
			}
			return &rep{b.Apply(ops.ElementwiseOp{F: f}, in[0].n), in[0].vec}, b.Err
		}
		return nil, errPower
	default:
		return nil, comparisonErr(sym)
	}
	x, y := in[0], in[1]
	xs, ys := x.n.Shape().IsScalar(), y.n.Shape().IsScalar()
	cx, xStatic := tr.staticScalar(kids[0])
	cy, yStatic := tr.staticScalar(kids[1])
	switch {
	case xs && ys:
		return &rep{tr.scalars(&b, sym, x.n, y.n, cx, xStatic, cy, yStatic), asIs}, b.Err
	case ys:
		return &rep{tr.tensorScalar(&b, sym, x.n, y.n, cy, yStatic, false), x.vec}, b.Err
	case xs:
		return &rep{tr.tensorScalar(&b, sym, y.n, x.n, cx, xStatic, true), y.vec}, b.Err
	}
	if sym == "+" { // a layer's bias: x + repeat(b), b a row
		if bias := tr.repeatedRow(kids[1]); bias != nil && x.vec == asIs {
			return &rep{b.Apply(ops.BiasAddOp{}, x.n, bias), asIs}, b.Err
		}
		if bias := tr.repeatedRow(kids[0]); bias != nil && y.vec == asIs {
			return &rep{b.Apply(ops.BiasAddOp{}, y.n, bias), asIs}, b.Err
		}
	}
	yn := tr.as(&b, y, x.vec)
	var op G.Op
	switch sym {
	case "+":
		op = ops.AddOp{}
	case "-":
		op = ops.SubOp{}
	case "⊙":
		op = ops.MulOp{}
	case "÷":
		op = ops.DivOp{}
	}
	return &rep{b.Apply(op, x.n, yn), x.vec}, b.Err
}

// scalars combines two scalars; a constant factor or divisor is a scale.
func (tr *translator) scalars(b *ops.Builder, sym string, x, y *G.Node, cx float64, xStatic bool, cy float64, yStatic bool) *G.Node {
	switch {
	case sym == "⊙" && yStatic:
		return b.Apply(ops.ScaleOp{C: cy}, x)
	case sym == "⊙" && xStatic:
		return b.Apply(ops.ScaleOp{C: cx}, y)
	case sym == "÷" && yStatic && cy != 0:
		return b.Apply(ops.ScaleOp{C: 1 / cy}, x)
	}
	return b.Apply(map[string]G.Op{"+": ops.AddOp{}, "-": ops.SubOp{}, "⊙": ops.MulOp{}, "÷": ops.DivOp{}}[sym], x, y)
}

// tensorScalar combines a tensor t and a scalar s (s first when flipped).
func (tr *translator) tensorScalar(b *ops.Builder, sym string, t, s *G.Node, c float64, static, flipped bool) *G.Node {
	switch {
	case sym == "⊙" && static:
		return b.Apply(ops.ScaleOp{C: c}, t)
	case sym == "⊙":
		return b.Apply(ops.ScalarMulOp{}, s, t)
	case sym == "÷" && !flipped && static && c != 0:
		return b.Apply(ops.ScaleOp{C: 1 / c}, t)
	case sym == "÷" && !flipped:
		return b.Apply(ops.ScalarMulOp{Divide: true}, s, t)
	}
	// s as a tensor of t's shape: c·1 for a constant, s·1 otherwise.
	var full *G.Node
	if static {
		full = b.Apply(ops.FillOp{C: c}, t)
	} else {
		full = b.Apply(ops.ScalarMulOp{}, s, b.Apply(ops.FillOp{C: 1}, t))
	}
	if flipped {
		t, full = full, t
	}
	return b.Apply(map[string]G.Op{"+": ops.AddOp{}, "-": ops.SubOp{}, "÷": ops.DivOp{}}[sym], t, full)
}

// repeatedRow returns the private 1×n row b when the user's node n is
// Gorgonia's broadcast of b over the rows (repeat along axis 0 of a
// reshaped vector or a row).
func (tr *translator) repeatedRow(n *G.Node) *G.Node {
	if typeName(n.Op()) != "repeatOp" || n.Op().String() != "Repeat0" {
		return nil
	}
	src := tr.node(graph.Children(n)[0])
	if src == nil || src.n.Shape().Dims() != 2 || src.n.Shape()[0] != 1 {
		return nil
	}
	return src.n
}

// sum translates Σ over the given axes.
func (tr *translator) sum(n *G.Node, x *rep) (*rep, error) {
	axes, err := axesOf(n.Op().String())
	if err != nil {
		return nil, err
	}
	var b ops.Builder
	dims := graph.Children(n)[0].Shape().Dims()
	switch {
	case dims == 0:
		return x, nil
	case dims == 1 || len(axes) == 2:
		return &rep{b.Apply(ops.SumOp{Axis: -1}, x.n), asIs}, b.Err
	case axes[0] == 0:
		return &rep{b.Apply(ops.SumOp{Axis: 0}, x.n), row}, b.Err
	case axes[0] == 1:
		return &rep{b.Apply(ops.SumOp{Axis: 1}, x.n), col}, b.Err
	}
	return nil, fmt.Errorf("a sum over axes %v", axes)
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
	if len(axes) == 0 || len(axes) > 2 {
		return nil, fmt.Errorf("cannot read the axes of %q", s)
	}
	return axes, nil
}

// softmax translates Gorgonia's softmax (and log-softmax) op.
func (tr *translator) softmax(n *G.Node, x *rep) (*rep, error) {
	axis, isLog, err := softmaxOf(n.Op().String())
	if err != nil {
		return nil, err
	}
	var b ops.Builder
	op := ops.SoftmaxOp{Log: isLog}
	switch dims := n.Shape().Dims(); {
	case dims == 1:
		return &rep{b.Apply(op, tr.as(&b, x, row)), row}, b.Err
	case dims == 2 && (axis == -1 || axis == 1):
		return &rep{b.Apply(op, x.n), asIs}, b.Err
	case dims == 2 && axis == 0:
		return &rep{b.Apply(ops.TransposeOp{}, b.Apply(op, b.Apply(ops.TransposeOp{}, x.n))), asIs}, b.Err
	}
	return nil, fmt.Errorf("a softmax over axis %d of shape %v", axis, n.Shape())
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
	}
	return 0, fmt.Errorf("a reshape from %v to %v: only between a vector and a row or column", from, to)
}

// reshape translates reshapes between a vector and a row or column.
func (tr *translator) reshape(n *G.Node, x *rep) (*rep, error) {
	k, err := reshapeKind(graph.Children(n)[0].Shape(), n.Shape())
	if err != nil {
		return nil, err
	}
	var b ops.Builder
	switch k {
	case vecToRow:
		return &rep{tr.as(&b, x, row), asIs}, b.Err
	case vecToCol:
		return &rep{tr.as(&b, x, col), asIs}, b.Err
	case rowToVec:
		return &rep{x.n, row}, nil
	case colToVec:
		return &rep{x.n, col}, nil
	}
	return x, nil
}

// repeat translates Gorgonia's broadcast (repeat of a row or column).
func (tr *translator) repeat(n *G.Node, in []*rep) (*rep, error) {
	kids := graph.Children(n)
	if len(kids) != 2 {
		return nil, fmt.Errorf("a repeat along %d axes", len(kids)-1)
	}
	times, ok := tr.staticScalar(kids[1])
	if !ok {
		return nil, fmt.Errorf("a repeat whose count is not a size")
	}
	x, k := in[0].n, int(times)
	var b ops.Builder
	switch s := x.Shape(); {
	case n.Op().String() == "Repeat0" && s.Dims() == 2 && s[0] == 1:
		return &rep{b.Apply(ops.RepeatOp{N: k}, x), asIs}, b.Err
	case n.Op().String() == "Repeat1" && s.Dims() == 2 && s[1] == 1:
		return &rep{b.Apply(ops.TransposeOp{}, b.Apply(ops.RepeatOp{N: k}, b.Apply(ops.TransposeOp{}, x))), asIs}, b.Err
	}
	return nil, fmt.Errorf("a repeat %v of shape %v: only a row over rows or a column over columns", n.Op(), x.Shape())
}
