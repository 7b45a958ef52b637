package main

import (
	"fmt"
	"math"
	"runtime/debug"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tape evaluates a model with Gorgonia alone: the loss and the gradient
// G.Grad built, run by a TapeMachine. Weights are flat float64 values in
// params.Vector's order (weight by weight, row-major), so that the check
// works even when newtonia refuses the model.
type tape struct {
	m     *model
	grads G.Nodes // nil when G.Grad failed
}

// safe runs f, turning a panic into an error.
func safe(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s panicked: %v\n%s", what, r, firstFrames(debug.Stack()))
		}
	}()
	return f()
}

// firstFrames keeps the panic's first frames, for a readable report.
func firstFrames(s []byte) string {
	lines, n := 0, 0
	for i, c := range s {
		if c == '\n' {
			lines++
			if lines == 12 {
				n = i
				break
			}
		}
	}
	if n == 0 {
		n = len(s)
	}
	return string(s[:n])
}

func newTape(m *model, withGrad bool) (*tape, error) {
	t := &tape{m: m}
	if !withGrad {
		return t, nil
	}
	err := safe("G.Grad", func() error {
		gs, err := G.Grad(m.cost, m.weights...)
		t.grads = gs
		return err
	})
	return t, err
}

// current returns the weights' values.
func (t *tape) current() ([]float64, error) {
	var w []float64
	for _, n := range t.m.weights {
		d, err := flat(n.Value())
		if err != nil {
			return nil, fmt.Errorf("weight %s: %w", n.Name(), err)
		}
		w = append(w, d...)
	}
	return w, nil
}

// set binds w to the weight nodes as fresh values of their shapes and dtype.
func (t *tape) set(w []float64) error {
	off := 0
	for _, n := range t.m.weights {
		shape := n.Shape()
		k := shape.TotalSize()
		if shape.IsScalar() {
			k = 1
		}
		d := w[off : off+k]
		off += k
		var v interface{}
		switch {
		case shape.IsScalar() && n.Dtype() == tensor.Float32:
			v = float32(d[0])
		case shape.IsScalar():
			v = d[0]
		case n.Dtype() == tensor.Float32:
			f := make([]float32, k)
			for i, x := range d {
				f[i] = float32(x)
			}
			v = tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(f))
		default:
			v = tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(append([]float64(nil), d...)))
		}
		if err := G.Let(n, v); err != nil {
			return fmt.Errorf("binding %s: %w", n.Name(), err)
		}
	}
	return nil
}

// run evaluates the loss (and the gradient, with grad) at w by a new
// TapeMachine (a machine made once was seen to ignore a G.Let).
func (t *tape) run(w []float64, grad bool) (loss float64, g []float64, err error) {
	if grad && t.grads == nil {
		return 0, nil, fmt.Errorf("no G.Grad")
	}
	err = safe("Gorgonia's TapeMachine", func() error {
		if err := t.set(w); err != nil {
			return err
		}
		vm := G.NewTapeMachine(t.m.g) // not closed: Close unbinds the graph's values
		if err := vm.RunAll(); err != nil {
			return err
		}
		l, err := flat(t.m.cost.Value())
		if err != nil || len(l) != 1 {
			return fmt.Errorf("the loss is not a scalar (%v)", err)
		}
		loss = l[0]
		if !grad {
			return nil
		}
		for k, n := range t.grads {
			d, err := flat(n.Value())
			if err != nil {
				return fmt.Errorf("G.Grad of %s: %w", t.m.weights[k].Name(), err)
			}
			g = append(g, d...)
		}
		return nil
	})
	return loss, g, err
}

func (t *tape) loss(w []float64) (float64, error) {
	l, _, err := t.run(w, false)
	return l, err
}

// flat copies a Gorgonia value's data as float64.
func flat(v G.Value) ([]float64, error) {
	switch v := v.(type) {
	case *G.F64:
		return []float64{float64(*v)}, nil
	case *G.F32:
		return []float64{float64(*v)}, nil
	case tensor.Tensor:
		if v.RequiresIterator() { // a view: its Data is the backing's order
			v = tensor.Materialize(v)
		}
		switch d := v.Data().(type) {
		case []float64:
			return append([]float64(nil), d...), nil
		case []float32:
			o := make([]float64, len(d))
			for i, x := range d {
				o[i] = float64(x)
			}
			return o, nil
		case float64:
			return []float64{d}, nil
		case float32:
			return []float64{float64(d)}, nil
		}
	case nil:
		return nil, fmt.Errorf("no value")
	}
	return nil, fmt.Errorf("value of type %T", v)
}

func axpy(a float64, x, y []float64) []float64 {
	o := make([]float64, len(y))
	for i := range y {
		o[i] = y[i] + a*x[i]
	}
	return o
}

func norm(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// relErr is ‖a − b‖/‖b‖.
func relErr(a, b []float64) float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	nb := norm(b)
	if nb == 0 {
		return norm(d)
	}
	return norm(d) / nb
}
