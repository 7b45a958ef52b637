package ops

import (
	"fmt"
	"math"

	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// floats returns the float64 elements of v in row-major order and its shape.
// Scalars (*gorgonia.F64 or 0-d tensors) have shape (). Views are
// materialised, so the returned slice never aliases a strided view.
func floats(v G.Value) ([]float64, tensor.Shape, error) {
	switch v := v.(type) {
	case *G.F64:
		return []float64{float64(*v)}, tensor.ScalarShape(), nil
	case *tensor.Dense:
		if v.Dtype() != tensor.Float64 {
			return nil, nil, &errs.ShapeError{What: "ops: value", Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
		}
		if v.IsView() || v.RequiresIterator() {
			v = v.Materialize().(*tensor.Dense)
		}
		return v.Float64s(), v.Shape(), nil
	case nil:
		return nil, nil, &errs.ShapeError{What: "ops: value", Reason: "missing (input not set?)"}
	default:
		return nil, nil, &errs.ShapeError{What: "ops: value", Reason: fmt.Sprintf("of type %T, want *tensor.Dense or *gorgonia.F64", v)}
	}
}

// newValue wraps data (owned by the result from now on) as a Gorgonia value of shape s.
func newValue(s tensor.Shape, data []float64) G.Value {
	if s.IsScalar() {
		return G.NewF64(data[0])
	}
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data))
}

// Matrix views v, which must be a non-empty float64 matrix, as a gonum
// matrix sharing its memory (a strided view is copied first): the input
// side of an op's computation.
func Matrix(v G.Value) (*mat.Dense, error) {
	data, s, err := floats(v)
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, &errs.ShapeError{What: "ops: value", Reason: fmt.Sprintf("shape %v, want a matrix", s)}
	}
	if s[0] == 0 || s[1] == 0 {
		return nil, &errs.ShapeError{What: "ops: value", Reason: fmt.Sprintf("empty matrix of shape %v", s)}
	}
	return mat.NewDense(s[0], s[1], data), nil
}

// FromMatrix returns m as a tensor, sharing memory when m is contiguous:
// the output side of an op's computation (the op must own m).
func FromMatrix(m *mat.Dense) *tensor.Dense {
	r, c := m.Dims()
	raw := m.RawMatrix()
	data := raw.Data
	if raw.Stride != c || len(data) != r*c {
		data = make([]float64, r*c)
		for i := 0; i < r; i++ {
			copy(data[i*c:(i+1)*c], raw.Data[i*raw.Stride:i*raw.Stride+c])
		}
	}
	return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(data))
}

// scalar returns the value of a scalar input.
func scalar(v G.Value) (float64, error) {
	data, s, err := floats(v)
	if err != nil {
		return 0, err
	}
	if !s.IsScalar() && len(data) != 1 {
		return 0, &errs.ShapeError{What: "ops: value", Reason: fmt.Sprintf("shape %v, want a scalar", s)}
	}
	return data[0], nil
}

// pair returns the elements of two values of equal shape, and the shape.
func pair(a, b G.Value) (x, y []float64, s tensor.Shape, err error) {
	x, sx, err := floats(a)
	if err != nil {
		return nil, nil, nil, err
	}
	y, sy, err := floats(b)
	if err != nil {
		return nil, nil, nil, err
	}
	if !sx.Eq(sy) {
		return nil, nil, nil, &errs.ShapeError{What: "ops: values", Reason: fmt.Sprintf("shapes %v and %v differ", sx, sy)}
	}
	return x, y, sx, nil
}

// matrices returns the first two values as gonum matrices.
func matrices(v []G.Value) (a, b *mat.Dense, err error) {
	if a, err = Matrix(v[0]); err != nil {
		return nil, nil, err
	}
	if b, err = Matrix(v[1]); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// zip applies f elementwise to two values of equal shape.
func zip(a, b G.Value, f func(x, y float64) (float64, error)) (G.Value, error) {
	x, y, sx, err := pair(a, b)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(x))
	for i := range x {
		if out[i], err = f(x[i], y[i]); err != nil {
			return nil, fmt.Errorf("ops: element %d: %w", i, err)
		}
	}
	return newValue(sx, out), nil
}

// zipFast is zip for operations that cannot fail, over whole slices; f
// writes every element of out.
func zipFast(a, b G.Value, f func(out, x, y []float64)) (G.Value, error) {
	x, y, sx, err := pair(a, b)
	if err != nil {
		return nil, err
	}
	out := alloc(len(x))
	f(out, x, y)
	return newValue(sx, out), nil
}

// mapValue applies f to each element of a.
func mapValue(a G.Value, f func(x float64) (float64, error)) (G.Value, error) {
	x, s, err := floats(a)
	if err != nil {
		return nil, err
	}
	out := alloc(len(x))
	for i := range x {
		if out[i], err = f(x[i]); err != nil {
			return nil, fmt.Errorf("ops: element %d (x=%g): %w", i, x[i], err)
		}
	}
	return newValue(s, out), nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checked returns v, or an error naming op if v holds a NaN or an Inf.
func checked(op fmt.Stringer, v G.Value, err error) (G.Value, error) {
	if err != nil {
		return nil, err
	}
	data, _, err := floats(v)
	if err != nil {
		return nil, err
	}
	if i := FirstNonFinite(data); i >= 0 {
		return nil, &errs.NotFiniteError{What: "result of " + op.String(), Index: i, Value: data[i]}
	}
	return v, nil
}

// FirstNonFinite returns the index of the first NaN or ±Inf in data, or −1.
// x − x is 0 for a finite x and NaN otherwise: one branch-free pass (with
// AVX-512 over the leading multiple of 32 elements when the CPU has it,
// scanVector; then eight independent sums so that the additions overlap),
// then a search only if something is off.
func FirstNonFinite(data []float64) int {
	sum, done := scanVector(data)
	var acc [8]float64
	acc[0] = sum
	rest := data[done:]
	n := len(rest) &^ 7
	for i := 0; i < n; i += 8 {
		d := rest[i : i+8 : i+8]
		acc[0] += d[0] - d[0]
		acc[1] += d[1] - d[1]
		acc[2] += d[2] - d[2]
		acc[3] += d[3] - d[3]
		acc[4] += d[4] - d[4]
		acc[5] += d[5] - d[5]
		acc[6] += d[6] - d[6]
		acc[7] += d[7] - d[7]
	}
	for _, x := range rest[n:] {
		acc[0] += x - x
	}
	if (acc[0]+acc[1])+(acc[2]+acc[3])+(acc[4]+acc[5])+(acc[6]+acc[7]) == 0 {
		return -1
	}
	for i, x := range data {
		if !finite(x) {
			return i
		}
	}
	return -1
}
