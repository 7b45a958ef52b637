package native

import (
	"fmt"
	"math"
	"sort"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float64s returns v's elements in row-major order, promoted to float64
// (exactly, from float32), and v's shape: v's own slice for a contiguous
// float64 tensor, a copy otherwise.
func Float64s(v G.Value) ([]float64, tensor.Shape, error) {
	switch v := v.(type) {
	case *G.F64:
		return []float64{float64(*v)}, tensor.ScalarShape(), nil
	case *G.F32:
		return []float64{float64(*v)}, tensor.ScalarShape(), nil
	case *tensor.Dense:
		if v.IsView() || v.RequiresIterator() {
			v = v.Materialize().(*tensor.Dense)
		}
		switch v.Dtype() {
		case tensor.Float64:
			return v.Float64s(), v.Shape(), nil
		case tensor.Float32:
			src := v.Float32s()
			out := make([]float64, len(src))
			for i, x := range src {
				out[i] = float64(x)
			}
			return out, v.Shape(), nil
		}
		return nil, nil, fmt.Errorf("dtype %v, want float64 or float32", v.Dtype())
	case nil:
		return nil, nil, fmt.Errorf("no value")
	}
	return nil, nil, fmt.Errorf("a value of type %T", v)
}

// Bind adds to bind, for every private input not bound yet, the value of
// the user's input node it copies, promoted to float64 and shaped like the
// private node (a float64 value is shared, not copied), and for the input
// of a random node its current draw. An input without a value is left out
// (the run reports it).
func (t *Translation) Bind(bind graph.Values) error {
	t.bindDraws(bind) // a random node's input: its current draw (random.go)
	for p, u := range t.inputs {
		if bind[p] != nil || u.Value() == nil {
			continue
		}
		v, err := t.internal(p, u.Value(), "input "+name(u))
		if err != nil {
			return err
		}
		bind[p] = v
	}
	return nil
}

// internal converts v, a value of the user's node for p, into p's dtype
// and shape: float64, vectors as rows or columns.
func (t *Translation) internal(p *G.Node, v G.Value, what string) (G.Value, error) {
	s := p.Shape()
	if d, ok := v.(*tensor.Dense); ok && d.Dtype() == tensor.Float64 && !d.IsView() && d.Shape().TotalSize() == s.TotalSize() && !s.IsScalar() {
		if sameDims(d.Shape(), s) {
			return d, nil
		}
		return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(d.Float64s())), nil
	}
	data, vs, err := Float64s(v)
	if err != nil {
		return nil, &errs.ShapeError{What: what, Reason: err.Error()}
	}
	if len(data) != s.TotalSize() {
		return nil, &errs.ShapeError{What: what, Got: vs, Want: userShape(t, p)}
	}
	if s.IsScalar() {
		return G.NewF64(data[0]), nil
	}
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data)), nil
}

func userShape(t *Translation, p *G.Node) tensor.Shape {
	if u := t.UserNode(p); u != nil {
		return u.Shape()
	}
	return p.Shape()
}

// asDtype returns t as a tensor of dtype dt (float64 or float32): t itself
// when it already is, else a converted copy (rounded to nearest for
// float32).
func asDtype(t *tensor.Dense, dt tensor.Dtype) *tensor.Dense {
	if t.Dtype() == dt {
		return t
	}
	d, _, _ := Float64s(t)
	if dt == tensor.Float32 {
		out := make([]float32, len(d))
		for i, x := range d {
			out[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(t.Shape().Clone()...), tensor.WithBacking(out))
	}
	return tensor.New(tensor.WithShape(t.Shape().Clone()...), tensor.WithBacking(append([]float64(nil), d...)))
}

// external converts v, a float64 value bound to the private copy of the
// user's input u, into a value for u in the user's graph: u's shape and
// dtype, a scalar as Gorgonia's scalar value.
func (t *Translation) external(u *G.Node, v G.Value) (G.Value, error) {
	data, _, err := Float64s(v)
	if err != nil {
		return nil, &errs.ShapeError{What: "input " + name(u), Reason: err.Error()}
	}
	if u.Shape().IsScalar() && len(data) == 1 {
		if t.Dtype == tensor.Float32 {
			return G.NewF32(float32(data[0])), nil
		}
		return G.NewF64(data[0]), nil
	}
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, &errs.ShapeError{What: "input " + name(u), Reason: fmt.Sprintf("a value of type %T", v)}
	}
	if !sameDims(d.Shape(), u.Shape()) {
		d = tensor.New(tensor.WithShape(u.Shape().Clone()...), tensor.WithBacking(data))
	}
	return asDtype(d, t.Dtype), nil
}

// Dense returns a weight's value as a tensor: v itself when it is one, a
// tensor of shape () holding a scalar weight's value (*gorgonia.F64 or
// F32) otherwise.
func Dense(v G.Value) (*tensor.Dense, bool) {
	switch v := v.(type) {
	case *tensor.Dense:
		return v, true
	case *G.F64:
		return tensor.New(tensor.WithShape(), tensor.WithBacking([]float64{float64(*v)})), true
	case *G.F32:
		return tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{float32(*v)})), true
	}
	return nil, false
}

// Tolerance is the largest relative difference (in norm) Verify accepts
// between a translated node and Gorgonia's value of it: summation order
// and the fused cross-entropy move float64 values by ~1e-15 per term,
// float32 values by ~6e-8 per term; a wrong translation moves them by
// O(1).
func (t *Translation) Tolerance() float64 {
	if t.Dtype == tensor.Float32 {
		return 1e-3
	}
	return 1e-8
}

// Verify evaluates the user's graph with Gorgonia's own ops and the
// translation with newtonia's, at the inputs' current values (weights
// from bind where bound), and compares every translated node. A node
// whose Gorgonia value is not finite is skipped (log of an underflowed
// softmax, which the fused cross-entropy computes finitely).
func (t *Translation) Verify(bind graph.Values) (err error) {
	defer errs.Recover("native.Verify", &err)
	user := graph.Values{}
	for p, u := range t.inputs {
		if v := bind[p]; v != nil {
			if user[u], err = t.external(u, v); err != nil {
				return err
			}
		}
	}
	keepU, keepP := t.checked()
	uv, err := graph.Compile("your graph (Gorgonia's ops)", []*G.Node{t.userLoss}, append(keepU, t.randomReads()...)...).Run(user)
	if err != nil {
		return err
	}
	pb := graph.Values{}
	for k, v := range bind {
		pb[k] = v
	}
	// Gorgonia drew its own random values in its run: the translation is
	// checked at that draw (random.go).
	draws, err := t.gorgoniaDraws(uv)
	if err != nil {
		return err
	}
	for k, v := range draws {
		pb[k] = v
	}
	if err := t.Bind(pb); err != nil {
		return err
	}
	pv, err := graph.Compile("translation", []*G.Node{t.Loss}, keepP...).Run(pb)
	if err != nil {
		return err
	}
	// rel holds each compared node's relative difference: a node whose
	// inputs already differ by δ (float32 rounding in Gorgonia's run,
	// amplified by the ops before it) may differ by a few δ itself (x² by
	// 2δ, a difference of near-equal values by more), so its tolerance is
	// max(Tolerance, 10·δ), at most 1e-2 — a misidentified op moves a node
	// by O(1) even from equal inputs. (FuzzGorgoniaNets found a float32
	// square at 1.27e-3 after an input at 6e-4.)
	rel := map[*G.Node]float64{}
	for i, p := range keepP {
		u := keepU[i]
		if uv[u] == nil || pv[p] == nil { // not on the path to the loss (a repeat replaced by a bias)
			continue
		}
		a, _, err1 := Float64s(uv[u])
		b, _, err2 := Float64s(pv[p])
		if err1 != nil || err2 != nil || len(a) != len(b) {
			return &errs.NoRuleError{Node: u, Op: u.Op(), Rule: "translation", Err: fmt.Errorf("values %v and %v", err1, err2)}
		}
		if !allFinite(a) {
			continue
		}
		d := floats.Distance(a, b, 2)
		s := floats.Norm(a, 2)
		tol := t.Tolerance()
		for _, c := range graph.Children(u) {
			tol = max(tol, min(10*rel[c], 1e-2))
		}
		if !(d <= tol*s+1e-300) {
			return &errs.NoRuleError{Node: u, Op: u.Op(), Rule: "translation",
				Err: fmt.Errorf("the translation (%v) differs from Gorgonia's value of node %s by %.3g relative (tolerance %.2g): an op misidentified", p.Op(), name(u), d/s, tol)}
		}
		rel[u] = d / max(s, 1e-300)
	}
	return nil
}

// checked returns the op nodes of the user's graph that Verify compares
// and their translations, in the user's graph order (every node after its
// inputs), so that the first mismatch reported is the earliest cause, the
// same at every run (issue 19 item 21).
func (t *Translation) checked() (user, private []*G.Node) {
	pos := map[*G.Node]int{}
	for i, n := range graph.Sorted(t.userLoss) {
		pos[n] = i
	}
	for p, u := range t.mapped {
		if _, ok := pos[u]; ok && u.Op() != nil {
			private = append(private, p)
		}
	}
	sort.Slice(private, func(i, j int) bool {
		a, b := pos[t.mapped[private[i]]], pos[t.mapped[private[j]]]
		if a != b {
			return a < b
		}
		return private[i].ID() < private[j].ID()
	})
	user = make([]*G.Node, len(private))
	for i, p := range private {
		user[i] = t.mapped[p]
	}
	return user, private
}

func allFinite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// sameDims compares shapes dimension by dimension (tensor.Shape.Eq takes
// a vector (n) for a column (n, 1)).
func sameDims(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
