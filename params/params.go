// Package params is the vector type of newtonia: the values of a model's
// weights (or of a direction, a gradient, a product) as one flat float64
// vector with the layout that says which values belong to which weight and
// to which block.
//
// Every product of package hvp takes and returns a *Vector; every optimizer
// of package solver steps in them; the dense references of package
// reference index their rows and columns by Vector.Flat's order. Tensors
// appear only at the edge: FromTensors reads one tensor per weight (any
// dtype, any shape: scalars, vectors, matrices, kernels), and Tensors gives
// them back in the user's dtype and shapes.
//
// # Order
//
// The flat order is weight by weight, in the order of the layout's weights
// (the order given to hvp.New), each weight's elements in row-major order.
// A block is a group of weights (a layer's weight and its bias); Block(l)
// is a view of its values sharing memory with the whole vector, whose own
// layout holds just the block's weights.
//
// # Arithmetic
//
// The methods follow gonum's floats: the receiver is the destination
// (AddScaled, Scale, CopyFrom), vectors of one layout combine, and a
// mismatch of layouts panics with a "params: " message — it is a
// programming error, like gonum's length mismatches.
package params

import (
	"fmt"
	"math"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

// Layout is the shapes, names and dtype of a model's weights and their
// grouping into blocks. It is immutable once made.
type Layout struct {
	names  []string
	shapes []tensor.Shape
	dtype  tensor.Dtype
	off    []int   // off[k] is weight k's first value; off[len] is the length
	blocks [][]int // weight indices of each block
	parent *Layout // for a block's layout: the whole
	sub    []*Layout
}

// NewLayout returns the layout of weights with the given names and shapes
// (a scalar has shape (), a vector (n)), all of dtype (float64 or float32),
// grouped into blocks (each a list of weight indices; together every weight
// once). blocks nil makes every weight a block of its own.
func NewLayout(names []string, shapes []tensor.Shape, dtype tensor.Dtype, blocks [][]int) (*Layout, error) {
	if len(names) != len(shapes) {
		return nil, &errs.ShapeError{What: "layout", Reason: fmt.Sprintf("%d names for %d shapes", len(names), len(shapes))}
	}
	if dtype != tensor.Float64 && dtype != tensor.Float32 {
		return nil, &errs.ArgumentError{What: "layout dtype", Value: dtype, Reason: "want float64 or float32"}
	}
	l := &Layout{names: append([]string(nil), names...), dtype: dtype, off: make([]int, len(shapes)+1)}
	for k, s := range shapes {
		for _, d := range s {
			if d <= 0 {
				return nil, &errs.ShapeError{What: "weight " + names[k], Got: s, Reason: "every dimension must be positive"}
			}
		}
		l.shapes = append(l.shapes, s.Clone())
		l.off[k+1] = l.off[k] + size(s)
	}
	if blocks == nil {
		for k := range shapes {
			blocks = append(blocks, []int{k})
		}
	}
	seen := make([]bool, len(shapes))
	for b, ws := range blocks {
		if len(ws) == 0 {
			return nil, &errs.ArgumentError{What: fmt.Sprintf("block %d", b), Value: ws, Reason: "empty"}
		}
		for _, k := range ws {
			if k < 0 || k >= len(shapes) || seen[k] {
				return nil, &errs.ArgumentError{What: fmt.Sprintf("block %d", b), Value: ws, Reason: "want weight indices, every weight in one block"}
			}
			seen[k] = true
		}
		l.blocks = append(l.blocks, append([]int(nil), ws...))
	}
	for k, s := range seen {
		if !s {
			return nil, &errs.ArgumentError{What: "blocks", Value: blocks, Reason: fmt.Sprintf("weight %s is in no block", names[k])}
		}
	}
	for b, ws := range l.blocks {
		sl := &Layout{dtype: dtype, off: []int{0}, blocks: [][]int{nil}, parent: l}
		for i, k := range ws {
			sl.names = append(sl.names, l.names[k])
			sl.shapes = append(sl.shapes, l.shapes[k])
			sl.off = append(sl.off, sl.off[i]+size(l.shapes[k]))
			sl.blocks[0] = append(sl.blocks[0], i)
		}
		_ = b
		l.sub = append(l.sub, sl)
	}
	return l, nil
}

// shapeString prints a shape as 4×3, (3) for a vector, () for a scalar.
func shapeString(s tensor.Shape) string {
	switch len(s) {
	case 0:
		return "()"
	case 1:
		return fmt.Sprintf("(%d)", s[0])
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, "×") + ")"
}

func size(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Len is the number of values.
func (l *Layout) Len() int { return l.off[len(l.off)-1] }

// Weights is the number of weights.
func (l *Layout) Weights() int { return len(l.shapes) }

// Name is weight k's name.
func (l *Layout) Name(k int) string { return l.names[l.check(k)] }

// Shape is weight k's shape, as the user's tensor has it.
func (l *Layout) Shape(k int) tensor.Shape { return l.shapes[l.check(k)].Clone() }

// Offset is the flat index of weight k's first value.
func (l *Layout) Offset(k int) int { return l.off[l.check(k)] }

// Dtype is the dtype of the user's tensors (values are float64 inside).
func (l *Layout) Dtype() tensor.Dtype { return l.dtype }

// Blocks is the number of blocks.
func (l *Layout) Blocks() int { return len(l.blocks) }

// Block is the layout of block b: its weights alone, one block.
func (l *Layout) Block(b int) *Layout {
	if b < 0 || b >= len(l.blocks) {
		panic(fmt.Sprintf("params: block %d out of range [0, %d)", b, len(l.blocks)))
	}
	if l.parent != nil { // a block's layout is its own single block
		return l
	}
	return l.sub[b]
}

// BlockWeights is the indices of block b's weights.
func (l *Layout) BlockWeights(b int) []int {
	l.Block(b)
	return append([]int(nil), l.blocks[b]...)
}

// BlockName is block b's name: its weights' names joined by "+".
func (l *Layout) BlockName(b int) string { return strings.Join(l.Block(b).names, "+") }

// Whole is the layout a block's layout was cut from (l itself for a whole
// layout).
func (l *Layout) Whole() *Layout {
	if l.parent != nil {
		return l.parent
	}
	return l
}

func (l *Layout) check(k int) int {
	if k < 0 || k >= len(l.shapes) {
		panic(fmt.Sprintf("params: weight %d out of range [0, %d)", k, len(l.shapes)))
	}
	return k
}

// Same reports whether a and b describe the same values: equal shapes in
// the same order (names and blocks aside).
func Same(a, b *Layout) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || len(a.shapes) != len(b.shapes) {
		return false
	}
	for k := range a.shapes {
		if !a.shapes[k].Eq(b.shapes[k]) {
			return false
		}
	}
	return true
}

// String describes the layout, e.g. "W1 (4×3) + b1 (3) | W2 (3×2): 23 values".
func (l *Layout) String() string {
	var bs []string
	for _, ws := range l.blocks {
		var parts []string
		for _, k := range ws {
			parts = append(parts, fmt.Sprintf("%s %s", l.names[k], shapeString(l.shapes[k])))
		}
		bs = append(bs, strings.Join(parts, " + "))
	}
	return fmt.Sprintf("%s: %d values", strings.Join(bs, " | "), l.Len())
}

// Vector is values laid out by a Layout: a whole model's, or one block's
// (a view of the whole).
type Vector struct {
	layout *Layout
	parts  [][]float64 // weight k's values, row-major; views into one backing array
	flat   []float64   // the contiguous values, when they are contiguous
}

// New returns the zero vector of layout l.
func New(l *Layout) *Vector { return FromFlat(l, make([]float64, l.Len())) }

// FromFlat returns the vector of layout l holding x (not a copy), in Flat
// order. It panics if len(x) differs from l.Len().
func FromFlat(l *Layout, x []float64) *Vector {
	if len(x) != l.Len() {
		panic(fmt.Sprintf("params: %d values for a layout of %d", len(x), l.Len()))
	}
	v := &Vector{layout: l, flat: x, parts: make([][]float64, l.Weights())}
	for k := range v.parts {
		v.parts[k] = x[l.off[k]:l.off[k+1]:l.off[k+1]]
	}
	return v
}

// FromTensors returns the vector of layout l holding a copy of ts (one
// tensor per weight, of the weight's shape; float64 or float32). what
// names the values in errors ("direction", "gradient").
func FromTensors(l *Layout, ts []*tensor.Dense, what string) (*Vector, error) {
	if len(ts) != l.Weights() {
		return nil, &errs.ShapeError{What: what, Reason: fmt.Sprintf("%d tensors for %d weights (%s)", len(ts), l.Weights(), l)}
	}
	v := New(l)
	for k, t := range ts {
		if t == nil {
			return nil, &errs.ShapeError{What: fmt.Sprintf("%s for %s", what, l.names[k]), Reason: "nil"}
		}
		if !sameShape(t.Shape(), l.shapes[k]) {
			return nil, &errs.ShapeError{What: fmt.Sprintf("%s for %s", what, l.names[k]), Got: t.Shape(), Want: l.shapes[k]}
		}
		if err := read(v.parts[k], t); err != nil {
			return nil, &errs.ShapeError{What: fmt.Sprintf("%s for %s", what, l.names[k]), Reason: err.Error()}
		}
	}
	return v, nil
}

// sameShape compares shapes, reading a scalar's () and (1) as one.
func sameShape(a, b tensor.Shape) bool {
	if size(a) == 1 && size(b) == 1 && len(a) <= 1 && len(b) <= 1 {
		return true
	}
	return a.Eq(b)
}

func read(dst []float64, t *tensor.Dense) error {
	if t.IsView() || t.RequiresIterator() {
		t = t.Materialize().(*tensor.Dense)
	}
	switch t.Dtype() {
	case tensor.Float64:
		copy(dst, t.Float64s())
	case tensor.Float32:
		for i, x := range t.Float32s() {
			dst[i] = float64(x)
		}
	default:
		return fmt.Errorf("dtype %v, want float64 or float32", t.Dtype())
	}
	return nil
}

// Tensors returns the values as one new tensor per weight, in the layout's
// dtype and shapes (float32 values rounded to nearest).
func (v *Vector) Tensors() []*tensor.Dense {
	out := make([]*tensor.Dense, len(v.parts))
	for k, p := range v.parts {
		s := v.layout.shapes[k].Clone()
		if v.layout.dtype == tensor.Float32 {
			d := make([]float32, len(p))
			for i, x := range p {
				d[i] = float32(x)
			}
			out[k] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
			continue
		}
		out[k] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), p...)))
	}
	return out
}

// Layout is v's layout.
func (v *Vector) Layout() *Layout { return v.layout }

// Len is the number of values.
func (v *Vector) Len() int { return v.layout.Len() }

// Weight returns weight k's values (a view, row-major).
func (v *Vector) Weight(k int) []float64 { return v.parts[v.layout.check(k)] }

// Block returns block b's values: a view sharing v's memory, laid out by
// v.Layout().Block(b). A block vector's only block is itself.
func (v *Vector) Block(b int) *Vector {
	bl := v.layout.Block(b)
	if bl == v.layout {
		return v
	}
	w := &Vector{layout: bl}
	contiguous := true
	for i, k := range v.layout.blocks[b] {
		w.parts = append(w.parts, v.parts[k])
		if i > 0 && k != v.layout.blocks[b][i-1]+1 {
			contiguous = false
		}
	}
	if contiguous && v.flat != nil {
		first := v.layout.blocks[b][0]
		w.flat = v.flat[v.layout.off[first] : v.layout.off[first]+bl.Len()]
	}
	return w
}

// Flat returns the values in flat order: v's own memory when contiguous
// (always for a whole vector), else a copy.
func (v *Vector) Flat() []float64 {
	if v.flat != nil {
		return v.flat
	}
	out := make([]float64, 0, v.Len())
	for _, p := range v.parts {
		out = append(out, p...)
	}
	return out
}

// Clone returns a copy of v with memory of its own (a block view's copy is
// a whole vector of the block's layout).
func (v *Vector) Clone() *Vector {
	return FromFlat(v.layout, append([]float64(nil), v.Flat()...))
}

func (v *Vector) same(x *Vector, op string) {
	if !Same(v.layout, x.layout) {
		panic(fmt.Sprintf("params: %s of vectors of layouts %s and %s", op, v.layout, x.layout))
	}
}

// CopyFrom sets v = x.
func (v *Vector) CopyFrom(x *Vector) {
	v.same(x, "CopyFrom")
	for k := range v.parts {
		copy(v.parts[k], x.parts[k])
	}
}

// AddScaled sets v = v + alpha·x.
func (v *Vector) AddScaled(alpha float64, x *Vector) {
	v.same(x, "AddScaled")
	for k := range v.parts {
		floats.AddScaled(v.parts[k], alpha, x.parts[k])
	}
}

// Scale sets v = alpha·v.
func (v *Vector) Scale(alpha float64) {
	for _, p := range v.parts {
		floats.Scale(alpha, p)
	}
}

// Dot returns ⟨v, x⟩, computed as gonum's floats.Dot of the values in
// flat order: the same number for a block view and for its Clone (a view
// whose weights are not contiguous in the whole is copied first).
func (v *Vector) Dot(x *Vector) float64 {
	v.same(x, "Dot")
	return floats.Dot(v.Flat(), x.Flat())
}

// Divide sets v = v/s, dividing every value by s (not multiplying by 1/s,
// which overflows for a subnormal s).
func (v *Vector) Divide(s float64) {
	for _, p := range v.parts {
		for i := range p {
			p[i] /= s
		}
	}
}

// Round rounds every value to the layout's dtype: to the nearest float32
// for a float32 layout (values keep their float64 storage, so that what
// Tensors returns is exactly v), nothing for float64.
func (v *Vector) Round() {
	if v.layout.dtype != tensor.Float32 {
		return
	}
	for _, p := range v.parts {
		for i, x := range p {
			p[i] = float64(float32(x))
		}
	}
}

// Norm returns the Euclidean norm ‖v‖ (Frobenius over all weights), without
// overflow or underflow for any finite values.
func (v *Vector) Norm() float64 {
	scale, ssq := 0.0, 1.0 // LAPACK's dnrm2 recurrence, across parts
	for _, p := range v.parts {
		for _, x := range p {
			if x == 0 {
				continue
			}
			a := math.Abs(x)
			if math.IsNaN(a) {
				return math.NaN()
			}
			if scale < a {
				ssq = 1 + ssq*(scale/a)*(scale/a)
				scale = a
			} else {
				ssq += (a / scale) * (a / scale)
			}
		}
	}
	if math.IsInf(scale, 1) {
		return scale
	}
	return scale * math.Sqrt(ssq)
}

// RelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0).
func RelDiff(a, b *Vector) float64 {
	d := a.Clone()
	d.AddScaled(-1, b)
	if n := b.Norm(); n > 0 {
		return d.Norm() / n
	}
	return d.Norm()
}

// FirstNonFinite returns the weight and flat index within it of v's first
// NaN or ±Inf, or ok false (by ops.FirstNonFinite's scan of each weight:
// AVX-512 where the CPU has it).
func (v *Vector) FirstNonFinite() (weight, index int, ok bool) {
	for k, p := range v.parts {
		if i := ops.FirstNonFinite(p); i >= 0 {
			return k, i, true
		}
	}
	return 0, 0, false
}
