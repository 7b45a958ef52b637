package hvp_test

import (
	"fmt"
	"testing"

	"github.com/newtonia/newtonia/native"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

// The tests' own readers and builders of values: the oracles compare flat
// values, and some directions are built from tensors (a wrong shape, a
// float32 value), as a user at the API edge does.

// vec returns a vector holding copies of ts, of a layout with their shapes
// and dtype (one block per tensor).
func vec(t testing.TB, ts ...*tensor.Dense) *params.Vector {
	t.Helper()
	names := make([]string, len(ts))
	shapes := make([]tensor.Shape, len(ts))
	for k, x := range ts {
		names[k], shapes[k] = fmt.Sprintf("t%d", k), x.Shape()
	}
	dt := tensor.Float64
	if len(ts) > 0 {
		dt = ts[0].Dtype()
	}
	l, err := params.NewLayout(names, shapes, dt, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := params.FromTensors(l, ts, "values")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// like returns a vector of layout l holding copies of ts (one per weight).
func like(t testing.TB, l *params.Layout, ts ...*tensor.Dense) *params.Vector {
	t.Helper()
	v, err := params.FromTensors(l, ts, "values")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// flatRelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0) of flat values.
func flatRelDiff(a, b []float64) float64 {
	d := floats.Distance(a, b, 2)
	if n := floats.Norm(b, 2); n > 0 {
		return d / n
	}
	return d
}

// panicMessage returns what f panics with, "" if it returns.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// data returns t's elements in row-major order as float64 (float32
// promoted exactly): the one reader of the tests' tensors.
func data(t *tensor.Dense) []float64 {
	d, _, err := native.Float64s(t)
	if err != nil {
		panic(err)
	}
	return d
}
