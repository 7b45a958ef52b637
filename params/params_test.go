package params

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

// layout: W1 (2×3), W2 (3×1), b1 (3), c (): blocks W1+b1 (not contiguous) and W2, c.
func testLayout(t *testing.T, dt tensor.Dtype) *Layout {
	t.Helper()
	l, err := NewLayout([]string{"W1", "W2", "b1", "c"},
		[]tensor.Shape{{2, 3}, {3, 1}, {3}, {}}, dt, [][]int{{0, 2}, {1}, {3}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func seq(n int, f func(i int) float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = f(i)
	}
	return x
}

func TestLayout(t *testing.T) {
	l := testLayout(t, tensor.Float64)
	if l.Len() != 6+3+3+1 || l.Weights() != 4 || l.Blocks() != 3 || l.Offset(2) != 9 {
		t.Fatalf("len %d weights %d blocks %d offset(b1) %d", l.Len(), l.Weights(), l.Blocks(), l.Offset(2))
	}
	if got := l.BlockName(0); got != "W1+b1" {
		t.Fatalf("block name %q", got)
	}
	if b := l.Block(0); b.Len() != 9 || b.Blocks() != 1 || b.Whole() != l || b.Block(0) != b {
		t.Fatalf("block layout %v", b)
	}
	if s := l.String(); !strings.Contains(s, "W1 (2×3) + b1 (3) | W2 (3×1) | c (): 13 values") {
		t.Fatalf("String %q", s)
	}
	for _, bad := range [][][]int{{{0}, {1}}, {{0, 0}, {1, 2, 3}}, {{0, 1, 2, 3, 4}}, {{}, {0, 1, 2, 3}}} {
		if _, err := NewLayout(l.names, l.shapes, tensor.Float64, bad); !errors.Is(err, errs.ErrArgument) {
			t.Errorf("blocks %v: got %v, want an argument error", bad, err)
		}
	}
	if _, err := NewLayout([]string{"W"}, []tensor.Shape{{2, 0}}, tensor.Float64, nil); !errors.Is(err, errs.ErrShape) {
		t.Errorf("zero dimension: got %v", err)
	}
	if _, err := NewLayout([]string{"W"}, []tensor.Shape{{2}}, tensor.Int, nil); !errors.Is(err, errs.ErrArgument) {
		t.Errorf("int dtype: got %v", err)
	}
}

// The arithmetic against gonum's floats on the flat values (the oracle).
func TestArithmetic(t *testing.T) {
	l := testLayout(t, tensor.Float64)
	x := seq(l.Len(), func(i int) float64 { return math.Sin(float64(i) + 1) })
	y := seq(l.Len(), func(i int) float64 { return math.Cos(3 * float64(i)) })
	a, b := FromFlat(l, append([]float64(nil), x...)), FromFlat(l, append([]float64(nil), y...))
	if got, want := a.Dot(b), floats.Dot(x, y); math.Abs(got-want) > 1e-15*floats.Norm(x, 2)*floats.Norm(y, 2) {
		t.Errorf("Dot %v, want %v", got, want)
	}
	if got, want := a.Norm(), floats.Norm(x, 2); math.Abs(got-want) > 2e-16*want {
		t.Errorf("Norm %v, want %v", got, want)
	}
	a.AddScaled(-2.5, b)
	floats.AddScaled(x, -2.5, y)
	if !floats.Equal(a.Flat(), x) {
		t.Errorf("AddScaled %v, want %v", a.Flat(), x)
	}
	a.Scale(3)
	floats.Scale(3, x)
	if !floats.Equal(a.Flat(), x) {
		t.Errorf("Scale")
	}
	if d := RelDiff(a, a.Clone()); d != 0 {
		t.Errorf("RelDiff of a copy %v", d)
	}
	c := New(l)
	c.CopyFrom(b)
	if !floats.Equal(c.Flat(), y) {
		t.Errorf("CopyFrom")
	}
	// Norm neither overflows nor underflows (floats.Norm's plain sum of
	// squares would give +Inf and 0).
	for _, s := range []float64{1e300, 1e-300} {
		v := FromFlat(l, seq(l.Len(), func(int) float64 { return s }))
		if got, want := v.Norm(), s*math.Sqrt(float64(l.Len())); math.Abs(got-want) > 4e-16*want {
			t.Errorf("Norm of %g·1: %v, want %v", s, got, want)
		}
	}
	nan := New(l)
	nan.Weight(3)[0] = math.NaN()
	if !math.IsNaN(nan.Norm()) {
		t.Errorf("Norm with a NaN: %v", nan.Norm())
	}
	if k, i, ok := nan.FirstNonFinite(); !ok || k != 3 || i != 0 {
		t.Errorf("FirstNonFinite %d %d %v", k, i, ok)
	}
}

// A block view shares memory with the whole, contiguous or not.
func TestBlockViews(t *testing.T) {
	l := testLayout(t, tensor.Float64)
	v := FromFlat(l, seq(l.Len(), func(i int) float64 { return float64(i) }))
	b0 := v.Block(0) // W1 (values 0–5) and b1 (9–11): not contiguous
	if got := b0.Flat(); !floats.Equal(got, []float64{0, 1, 2, 3, 4, 5, 9, 10, 11}) {
		t.Fatalf("block 0 %v", got)
	}
	b0.Scale(-1)
	if got := v.Flat(); got[1] != -1 || got[9] != -9 || got[6] != 6 {
		t.Fatalf("the view does not write through: %v", got)
	}
	b1 := v.Block(1) // W2: contiguous, its Flat is v's memory
	b1.Flat()[0] = 100
	if v.Flat()[6] != 100 {
		t.Fatalf("contiguous block's Flat is not a view")
	}
	if b := b0.Clone(); b.Layout() != l.Block(0) || b.Len() != 9 {
		t.Fatalf("clone of a view %v", b.Layout())
	}
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(r.(string), "params: Dot of vectors of layouts") {
			t.Fatalf("mismatched layouts: recovered %v", r)
		}
	}()
	b0.Dot(b1)
}

// Tensors at the edge: shapes and dtype restored, float32 rounded once.
func TestTensors(t *testing.T) {
	l := testLayout(t, tensor.Float32)
	ts := []*tensor.Dense{
		tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6})),
		tensor.New(tensor.WithShape(3, 1), tensor.WithBacking([]float32{7, 8, 9})),
		tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{10, 11, 12})),
		tensor.New(tensor.FromScalar(float32(0.1))),
	}
	v, err := FromTensors(l, ts, "weights")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Weight(3)[0]; got != float64(float32(0.1)) {
		t.Fatalf("float32 promoted to %v", got)
	}
	back := v.Tensors()
	for k, b := range back {
		if b.Dtype() != tensor.Float32 || !b.Shape().Eq(ts[k].Shape()) {
			t.Fatalf("weight %d: %v %v, want float32 %v", k, b.Dtype(), b.Shape(), ts[k].Shape())
		}
	}
	if back[3].Float32s()[0] != float32(0.1) {
		t.Fatalf("scalar round trip %v", back[3].Data())
	}
	ts[1] = tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{7, 8, 9}))
	if _, err := FromTensors(l, ts, "direction"); !errors.Is(err, errs.ErrShape) || !strings.Contains(err.Error(), "direction for W2") {
		t.Fatalf("wrong shape: %v", err)
	}
	if _, err := FromTensors(l, ts[:2], "direction"); !errors.Is(err, errs.ErrShape) {
		t.Fatalf("too few: %v", err)
	}
}

// Dot is floats.Dot of the flat values, bit for bit, for a whole vector
// and for a view whose weights are not contiguous (the same number as for
// its Clone), so that a product's inner products do not depend on how
// its vectors are held.
func TestDotFlatOrder(t *testing.T) {
	l := testLayout(t, tensor.Float64)
	x := seq(l.Len(), func(i int) float64 { return math.Sin(7*float64(i)) * 1e3 })
	y := seq(l.Len(), func(i int) float64 { return math.Cos(float64(i)/3) / 7 })
	a, b := FromFlat(l, x), FromFlat(l, y)
	if got, want := a.Dot(b), floats.Dot(x, y); got != want {
		t.Errorf("Dot %x, floats.Dot %x", got, want)
	}
	a0, b0 := a.Block(0), b.Block(0) // W1 and b1: not contiguous
	if got, want := a0.Dot(b0), floats.Dot(a0.Flat(), b0.Flat()); got != want {
		t.Errorf("Dot of views %x, floats.Dot %x", got, want)
	}
	if got, want := a0.Dot(b0.Clone()), a0.Clone().Dot(b0); got != want || got != a0.Dot(b0) {
		t.Errorf("Dot of a view and of its clone differ: %x %x", got, want)
	}
}

// Divide divides (the oracle: x/s element by element), also by a
// subnormal s, whose reciprocal overflows; Round rounds to the layout's
// dtype (the oracle: float32 conversion).
func TestDivideRound(t *testing.T) {
	l := testLayout(t, tensor.Float64)
	x := seq(l.Len(), func(i int) float64 { return (float64(i) + 0.5) * 1e-310 })
	for _, s := range []float64{3, 0x1p-1070, -7e-310} {
		v := FromFlat(l, append([]float64(nil), x...))
		v.Divide(s)
		for i, got := range v.Flat() {
			if want := x[i] / s; got != want {
				t.Fatalf("Divide by %g: value %d is %v, want %v", s, i, got, want)
			}
		}
	}
	y := seq(l.Len(), func(i int) float64 { return math.Sqrt(float64(i) + 2) })
	v := FromFlat(l, append([]float64(nil), y...))
	v.Round()
	if !floats.Equal(v.Flat(), y) {
		t.Errorf("Round changed a float64 vector")
	}
	l32 := testLayout(t, tensor.Float32)
	w := FromFlat(l32, append([]float64(nil), y...))
	w.Block(0).Round() // a view rounds the whole's memory
	for i, got := range w.Flat() {
		want := y[i]
		if i < 6 || i >= 9 && i < 12 { // W1 and b1
			want = float64(float32(y[i]))
		}
		if got != want {
			t.Fatalf("Round of block 0: value %d is %v, want %v", i, got, want)
		}
	}
}
