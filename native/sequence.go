package native

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The rules for Gorgonia's slices, concatenations and vector × matrix
// products (issue 21 item 2):
//
//	G.Slice(x, S(i))         *sliceOp "T[i:i+1:0...]": one row of a matrix (a vector, as a row),
//	G.Slice(x, nil, S(j))    "T[:, j:j+1:0...]" one column (a vector, as a column), one
//	                         element of a vector (a scalar); S(a, b) and S(a, b, step) keep
//	                         a range, strided: ops.SliceOp, of any start, end and step
//	G.Concat(axis, xs…)      concatOp "Concat(axis=a)": ops.ConcatOp (vectors joined as columns)
//	G.Mul(v, W)              linAlgBinOp "Aᵀ × b" (Wᵀv): v as a row times W, a 1×m row —
//	                         the form h·W of a layer with one sample, so that the layer's
//	                         per-sample route and its bias (G.Add of a vector of the
//	                         output's shape, below) apply
//	G.Add(v·W, b)            a weight vector b added to such a row: ops.BiasAddOp
//
// Gorgonia's slice keeps its tensor.Slice behind the exported method
// IsSlice; the axis it slices along is read from the op's field (the
// printed form says it too, as the count of ":, " before the range).

const (
	tSlice  = "*gorgonia.sliceOp"
	tConcat = "gorgonia.concatOp"
)

// sliceOf returns the slice of a Gorgonia sliceOp and the axis it slices.
func sliceOf(op G.Op) (tensor.Slice, int, error) {
	s, ok := op.(interface{ IsSlice() tensor.Slice })
	if !ok {
		return nil, 0, fmt.Errorf("cannot read the slice of %q", op)
	}
	along := strings.Count(strings.SplitN(op.String(), "...", 2)[0], ":, ")
	if v := reflect.ValueOf(op); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("along"); f.IsValid() && f.CanInt() {
			along = int(f.Int())
		}
	}
	return s.IsSlice(), along, nil
}

// slicing is a Gorgonia slice of a user's node as newtonia computes it.
type slicing struct {
	all         bool // T[:…]: the identity
	op          ops.SliceOp
	count       int  // elements kept along the axis
	dropped     bool // the axis is dropped (one element kept)
	userAxisLen int
}

// sliceSpec reads the slice of node n (of input in) and checks that
// Gorgonia's shape for it is the shape of what it computes.
func sliceSpec(n, in *G.Node) (slicing, error) {
	sl, along, err := sliceOf(n.Op())
	if err != nil {
		return slicing{}, err
	}
	is := in.Shape()
	if sl == nil {
		return slicing{all: true}, nil
	}
	if is.Dims() == 0 || along < 0 || along >= is.Dims() {
		return slicing{}, fmt.Errorf("a slice along axis %d of shape %v", along, is)
	}
	start, end, step, err := tensor.SliceDetails(sl, is[along])
	if err != nil {
		return slicing{}, fmt.Errorf("the slice %d:%d:%d of shape %v: %v", sl.Start(), sl.End(), sl.Step(), is, err)
	}
	st := max(step, 1)
	k := (end - start + st - 1) / st
	if k < 1 || start < 0 || end > is[along] {
		return slicing{}, fmt.Errorf("the slice %d:%d:%d of shape %v keeps nothing", start, end, step, is)
	}
	want := is.Clone()
	want[along] = k
	dropped := k == 1
	if dropped {
		want = append(want[:along:along], want[along+1:]...)
	}
	if !sameDims(want, n.Shape()) && !(len(want) == 0 && n.Shape().IsScalar()) {
		return slicing{}, fmt.Errorf("Gorgonia gives the slice %d:%d:%d of shape %v the shape %v, but it keeps %d element(s) along axis %d (end − start not a multiple of the step)",
			start, end, step, is, n.Shape(), k, along)
	}
	return slicing{op: ops.SliceOp{Axis: along, From: start, To: end, Step: step}, count: k, dropped: dropped, userAxisLen: is[along]}, nil
}

func matchSlice(s *Site) error {
	k := graph.Children(s.n)
	if len(k) != 1 {
		return fmt.Errorf("a slice of %d inputs", len(k))
	}
	if d := k[0].Shape().Dims(); d > 2 {
		return fmt.Errorf("a slice of a value of shape %v: newtonia works on scalars, vectors and matrices", k[0].Shape())
	}
	_, err := sliceSpec(s.n, k[0])
	return err
}

func translateSlice(s *Site) (*G.Node, error) {
	in := graph.Children(s.n)[0]
	sp, _ := sliceSpec(s.n, in)
	if sp.all {
		return s.like(0, s.x(0)), nil
	}
	op := sp.op
	switch in.Shape().Dims() {
	case 2:
		y := s.apply(op, s.x(0))
		switch {
		case !sp.dropped:
			return y, nil
		case op.Axis == 0: // a row of the matrix: a vector, as a row
			return s.laid(row, y), nil
		default: // a column: a vector, as a column
			return s.laid(col, y), nil
		}
	case 1:
		x, lay := s.x(0), s.in[0].vec
		if lay == row {
			op.Axis = 1
		}
		y := s.apply(op, x)
		if sp.dropped { // one element: a scalar
			return s.apply(ops.SumOp{Axis: -1}, y), nil
		}
		return s.laid(lay, y), nil
	}
	return nil, fmt.Errorf("a slice of shape %v", in.Shape())
}

// concatAxis reads the axis of Gorgonia's "Concat(axis=a)".
func concatAxis(op G.Op) (int, error) {
	var axis int
	if _, err := fmt.Sscanf(op.String(), "Concat(axis=%d)", &axis); err != nil {
		return 0, fmt.Errorf("cannot read the axis of %q: %v", op, err)
	}
	return axis, nil
}

func matchConcat(s *Site) error {
	axis, err := concatAxis(s.n.Op())
	if err != nil {
		return err
	}
	for _, c := range graph.Children(s.n) {
		if d := c.Shape().Dims(); d < 1 || d > 2 || axis >= d {
			return fmt.Errorf("a concatenation along axis %d of a value of shape %v: newtonia joins vectors, and matrices along rows or columns", axis, c.Shape())
		}
	}
	return nil
}

func translateConcat(s *Site) (*G.Node, error) {
	axis, _ := concatAxis(s.n.Op())
	k := graph.Children(s.n)
	xs := make([]*G.Node, len(k))
	if k[0].Shape().Dims() == 1 { // vectors: joined as columns
		for i := range k {
			xs[i] = s.as(i, col)
		}
		return s.laid(col, s.apply(ops.ConcatOp{Axis: 0, N: len(xs)}, xs...)), nil
	}
	for i := range k {
		xs[i] = s.x(i)
	}
	return s.apply(ops.ConcatOp{Axis: axis, N: len(xs)}, xs...), nil
}

// vector × matrix: Gorgonia's "Aᵀ × b" of G.Mul(v, W) reads W and v and
// computes Wᵀv; newtonia computes it as v as a row times W.
func translateVecMat(s *Site) (*G.Node, error) {
	return s.laid(row, s.apply(ops.MatMulOp{}, s.as(1, row), s.x(0))), nil
}

// isVecMat reports whether n is Gorgonia's G.Mul(vector, matrix).
func isVecMat(n *G.Node) bool {
	return n != nil && typeName(n.Op()) == "linAlgBinOp" && n.Op().String() == "Aᵀ × b"
}

// rowBias returns, for x + b or b + x with x a G.Mul(vector, matrix) and
// b another 1-D node of its shape, x and b.
func rowBias(n *G.Node) (x, b *G.Node, ok bool) {
	if !is(n, "+") || n.Shape().Dims() != 1 {
		return nil, nil, false
	}
	k := graph.Children(n)
	for i := range 2 {
		if isVecMat(k[i]) && k[1-i].Shape().Dims() == 1 && sameDims(k[1-i].Shape(), k[i].Shape()) {
			return k[i], k[1-i], true
		}
	}
	return nil, nil, false
}

// matchRowBias: G.Add(G.Mul(v, W), b), b a weight vector: the bias of a
// layer with one sample.
func matchRowBias(s *Site) error {
	x, b, ok := rowBias(s.n)
	if !ok || b.Op() != nil || !s.tr.weight[b] {
		return Skip
	}
	s.Reads(x, b)
	return nil
}

func translateRowBias(s *Site) (*G.Node, error) {
	return s.laid(row, s.apply(ops.BiasAddOp{}, s.as(0, row), s.as(1, row))), nil
}

// rowUse reports whether the user's vector input n is best laid out as a
// row: it is the bias of a layer with one sample (matchRowBias), or the
// vector of a vector × matrix product.
func rowUse(n, u *G.Node) bool {
	if isVecMat(u) && graph.Children(u)[1] == n {
		return true
	}
	_, b, ok := rowBias(u)
	return ok && b == n
}

// scalarBias returns, for t + b or b + t with b a scalar weight (an
// input of shape (), G.NewScalar) and t a vector or a one-column matrix
// that depends on a weight, t and b: the bias of a layer of one output —
// a logistic regression's x·w + b.
func (tr *translator) scalarBias(n *G.Node) (t, b *G.Node, ok bool) {
	if !is(n, "+") {
		return nil, nil, false
	}
	k := graph.Children(n)
	for i := range 2 {
		t, b := k[i], k[1-i]
		ts := t.Shape()
		if b.Op() == nil && tr.weight[b] && b.Shape().IsScalar() && tr.weighty[t] &&
			(ts.Dims() == 1 || ts.Dims() == 2 && ts[1] == 1) {
			return t, b, true
		}
	}
	return nil, nil, false
}

// matchScalarBias: G.Add(x·w, b), b a scalar weight: ops.BiasAddOp of
// the 1×1 matrix holding b, so that the layer's weight and its bias are
// one block (hvp's blocks pair a weight with a bias added by BiasAddOp).
func matchScalarBias(s *Site) error {
	t, b, ok := s.tr.scalarBias(s.n)
	if !ok {
		return Skip
	}
	s.Reads(t, b)
	return nil
}

func translateScalarBias(s *Site) (*G.Node, error) {
	t := s.as(0, col)
	p := s.tr.private[s.reads[1]] // the 1×1 input, not its sum
	if sh := t.Shape(); sh.Dims() != 2 || sh[1] != 1 || p == nil || !sameDims(p.Shape(), tensor.Shape{1, 1}) {
		return translateScalarOperand(s)
	}
	return s.laid(col, s.apply(ops.BiasAddOp{}, t, p)), nil
}

// elementOf returns m, i, j when n is one element of the matrix m picked
// by two slices, G.Slice(m, S(i), S(j)) (a row, then its element) or a
// column then its element.
func elementOf(n *G.Node) (m *G.Node, i, j int, ok bool) {
	if typeName(n.Op()) != "sliceOp" || len(graph.Children(n)) != 1 {
		return nil, 0, 0, false
	}
	u := graph.Children(n)[0]
	if typeName(u.Op()) != "sliceOp" || len(graph.Children(u)) != 1 || u.Shape().Dims() != 1 {
		return nil, 0, 0, false
	}
	m = graph.Children(u)[0]
	if m.Shape().Dims() != 2 {
		return nil, 0, 0, false
	}
	outer, err1 := sliceSpec(u, m)
	inner, err2 := sliceSpec(n, u)
	if err1 != nil || err2 != nil || outer.all || inner.all || !outer.dropped || !inner.dropped {
		return nil, 0, 0, false
	}
	if outer.op.Axis == 0 {
		return m, outer.op.From, inner.op.From, true
	}
	return m, inner.op.From, outer.op.From, true
}

// element: G.Slice(m, S(i), S(j)), one element of a matrix — a loss
// picked from a row of log-probabilities — as one ops.ElementOp, a term
// of sample i's row alone (the per-sample route sees the loss as a sum
// over the rows; a row slice on its own takes the row out of its place).
func matchElement(s *Site) error {
	m, _, _, ok := elementOf(s.n)
	if !ok {
		return Skip
	}
	s.Reads(m)
	return nil
}

func translateElement(s *Site) (*G.Node, error) {
	_, i, j, _ := elementOf(s.n)
	return s.apply(ops.ElementOp{Row: i, Col: j}, s.x(0)), nil
}
