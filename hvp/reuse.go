package hvp

import (
	"math"

	"github.com/newtonia/newtonia/graph"
	G "gorgonia.org/gorgonia"
)

// reused holds, for one B-pass program, the values that do not depend on
// the direction — the forward and gradient passes, the inverse pass's
// values, the factorisations (M_i's LU, the chain route's op-by-op
// inverses) — from the last run, with the inputs they were computed from.
// A later run whose every other input (weights, data, random draws, the
// damping λ) is bitwise equal to those evaluates only the nodes that
// depend on the direction (graph.Split); any change, by SetWeights,
// gorgonia.Let, Redraw or a new λ, recomputes everything. The comparison
// is of the values bound at run time, so invalidation needs no hook and
// cannot be missed.
type reused struct {
	split  *graph.Split
	inputs []*G.Node  // the fixed program's inputs, vary excluded
	snap   [][]uint64 // their bits at the last full run (nil: none yet)
	vals   graph.Values
}

// runReusing is run for a program whose roots depend on the inputs vary
// (the B-pass's directions): at inputs equal to the last run's it reuses
// the values computed without vary (see reused). The results are those
// of run, op for op.
func (p *Problem) runReusing(key string, roots, vary []*G.Node, bind graph.Values, c cost, keep ...*G.Node) (graph.Values, error) {
	if err := p.model.Prepare(bind); err != nil {
		return nil, err
	}
	r := p.reusedFor(key, roots, vary, keep)
	p.mu.Lock()
	hit := r.snap != nil && sameBits(r.snap, r.inputs, bind)
	cached := r.vals
	p.mu.Unlock()
	if hit {
		b := make(graph.Values, len(bind)+len(r.split.Frontier))
		for n, v := range bind {
			b[n] = v
		}
		for _, n := range r.split.Frontier {
			b[n] = cached[n]
		}
		vals, err := r.split.Cut.Run(b)
		p.add(c, r.split.Cut.Flops())
		return vals, p.model.UserError(err)
	}
	snap, ok := snapshot(r.inputs, bind)
	vals, err := r.split.Fixed.Run(bind)
	p.add(c, r.split.Fixed.Flops())
	if err != nil {
		return nil, p.model.UserError(err)
	}
	if ok {
		p.keepFrontier(r, snap, vals)
	}
	return vals, nil
}

// keepFrontier keeps, for r's next run at the inputs of snap, the values
// of a full run (vals) that do not depend on the direction.
func (p *Problem) keepFrontier(r *reused, snap [][]uint64, vals graph.Values) {
	kept := graph.Values{}
	for _, n := range r.split.Frontier {
		kept[n] = vals[n]
	}
	p.mu.Lock()
	r.snap, r.vals = snap, kept
	p.mu.Unlock()
}

// runSeeding runs in full a program computing extra besides key's roots
// (another product at the same inputs: InvHvThird's third derivative) and
// keeps key's direction-independent values from it, as runReusing's full
// run would, so that key's next run at these inputs reuses them. The
// values of roots are those of run, op for op.
func (p *Problem) runSeeding(key string, roots, vary, extra []*G.Node, bind graph.Values, c cost, keep ...*G.Node) (graph.Values, error) {
	if err := p.model.Prepare(bind); err != nil {
		return nil, err
	}
	r := p.reusedFor(key, roots, vary, keep)
	prog := p.program(key+"+extra", append(append([]*G.Node{}, roots...), extra...), append(append([]*G.Node{}, keep...), r.split.Frontier...)...)
	vals, err := prog.Run(bind)
	p.add(c, prog.Flops())
	if err != nil {
		return nil, p.model.UserError(err)
	}
	if snap, ok := snapshot(r.inputs, bind); ok {
		p.keepFrontier(r, snap, vals)
	}
	return vals, nil
}

// reusedFor returns key's reuse entry, splitting its program on first use.
func (p *Problem) reusedFor(key string, roots, vary []*G.Node, keep []*G.Node) *reused {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reuse == nil {
		p.reuse = map[string]*reused{}
	}
	r, ok := p.reuse[key]
	if !ok {
		s := graph.NewSplit(key, roots, vary, keep...)
		skip := map[*G.Node]bool{}
		for _, n := range vary {
			skip[n] = true
		}
		r = &reused{split: s}
		for _, n := range s.Fixed.Inputs() {
			if !skip[n] {
				r.inputs = append(r.inputs, n)
			}
		}
		p.reuse[key] = r
	}
	return r
}

// bitsOf returns the bits of a value's numbers, exactly (−0 and NaNs
// distinct); false for a kind of value it does not know, never reused.
func bitsOf(v G.Value) ([]uint64, bool) {
	if v == nil {
		return nil, false
	}
	switch d := v.Data().(type) {
	case []float64:
		out := make([]uint64, len(d))
		for i, x := range d {
			out[i] = math.Float64bits(x)
		}
		return out, true
	case []float32:
		out := make([]uint64, len(d))
		for i, x := range d {
			out[i] = uint64(math.Float32bits(x))
		}
		return out, true
	case float64:
		return []uint64{math.Float64bits(d)}, true
	case float32:
		return []uint64{uint64(math.Float32bits(d))}, true
	}
	return nil, false
}

// sameBits reports whether the inputs' values as bound for a run (bind,
// else the node's own value) have exactly the bits of snap, reading them
// in place: runReusing's test for a hit, with no copy.
func sameBits(snap [][]uint64, inputs []*G.Node, bind graph.Values) bool {
	if len(snap) != len(inputs) {
		return false
	}
	for i, n := range inputs {
		v := bind[n]
		if v == nil {
			v = n.Value()
		}
		if v == nil {
			return false
		}
		s := snap[i]
		switch d := v.Data().(type) {
		case []float64:
			if len(d) != len(s) {
				return false
			}
			for j, x := range d {
				if math.Float64bits(x) != s[j] {
					return false
				}
			}
		case []float32:
			if len(d) != len(s) {
				return false
			}
			for j, x := range d {
				if uint64(math.Float32bits(x)) != s[j] {
					return false
				}
			}
		case float64:
			if len(s) != 1 || math.Float64bits(d) != s[0] {
				return false
			}
		case float32:
			if len(s) != 1 || uint64(math.Float32bits(d)) != s[0] {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// denseReused is a dense route's factorisation with the inputs and
// damping it was formed at.
type denseReused struct {
	snap          [][]uint64
	damp, maxCond float64
	factor        *denseFactor
}

// denseFactorOf returns block l's dense factorisation at the current
// inputs and o.Damping: the last one when every input of the loss and its
// gradient is bitwise unchanged and the damping equal (fresh false), else
// formed and factorised anew (fresh true).
func (p *Problem) denseFactorOf(l int, r *route, c denseCost, o Options) (*denseFactor, bool, error) {
	bind := graph.Values{}
	if err := p.model.Prepare(bind); err != nil {
		return nil, false, err
	}
	roots := append([]*G.Node{p.loss}, p.grad.Grads...)
	ins := p.program("gradient", roots, p.frozen...).Inputs()
	p.mu.Lock()
	d := p.dense[l]
	p.mu.Unlock()
	if d != nil && math.Float64bits(d.damp) == math.Float64bits(o.Damping) && d.maxCond == o.MaxCond && sameBits(d.snap, ins, bind) {
		return d.factor, false, nil
	}
	snap, ok := snapshot(ins, bind) // a miss: the inputs' bits, kept with the new factor
	h, err := p.denseMatrix(l, r, c, o)
	if err != nil {
		return nil, false, err
	}
	f := factorDense(h, o.MaxCond)
	if ok {
		p.mu.Lock()
		if p.dense == nil {
			p.dense = map[int]*denseReused{}
		}
		p.dense[l] = &denseReused{snap: snap, damp: o.Damping, maxCond: o.MaxCond, factor: f}
		p.mu.Unlock()
	}
	return f, true, nil
}

// snapshot returns the bits of each input's value as bound for a run (bind,
// else the node's own value); ok is false if one cannot be read as bits,
// and such a run is never reused.
func snapshot(inputs []*G.Node, bind graph.Values) (snap [][]uint64, ok bool) {
	snap = make([][]uint64, len(inputs))
	for i, n := range inputs {
		v := bind[n]
		if v == nil {
			v = n.Value()
		}
		if snap[i], ok = bitsOf(v); !ok {
			return nil, false
		}
	}
	return snap, true
}
