package graph

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Program evaluates a set of nodes, op by op in topological order, in the
// calling goroutine. It replaces Gorgonia's TapeMachine for the passes:
//
//   - a panic inside an op (or Gorgonia, or gonum) is recovered into an
//     error naming the node — the TapeMachine runs ops in a goroutine of
//     its own, where a panic kills the process;
//   - values live in the run, not in the nodes: a Program is immutable and
//     safe for concurrent use, input values can be bound per run without
//     touching the graph (Run's bind), and nothing is clobbered in place;
//   - a value is dropped after its last use (unless asked for), so memory
//     follows the live set, not the graph; when it was made and read only by
//     ops of package ops (ops.Recyclable), its memory goes back to their
//     pool for the next results (ops.Release);
//   - a transpose read only by matrix products is never formed: the
//     product (an ops.TransposeFuser) reads its input with a flag;
//   - with several CPUs and enough work, independent nodes run
//     concurrently (the B-passes of different blocks, the weight
//     gradients and the backpropagated errors, ...): a node starts when
//     its inputs are ready, on GOMAXPROCS workers;
//   - compiling is linear in the number of nodes.
//
// Input nodes (no op) take their value from bind, else from the node
// (gorgonia.Let); constants evaluate their op.
type Program struct {
	Name    string
	nodes   []*G.Node
	args    [][]int  // indices into nodes of each node's inputs
	trans   [][]bool // per input, read transposed (fused TransposeOp); nil: none
	last    []int    // the last node reading each value; -1: kept
	readers [][]int  // per node, the nodes reading it (once per reading)
	recycle []bool   // per node, its value is Released after its last reading
	cut     []bool   // per node, an op node taken from bind as an input (CompileCut); nil: none
	work    int      // Σ of the nodes' sizes: a proxy for the cost of a run
	flops   float64  // the floating-point operations of a run (ops.FlopCounter)
}

// parallelWork is the work (Σ of node sizes) from which a run with several
// CPUs schedules nodes concurrently; below it the bookkeeping costs more
// than it saves.
const parallelWork = 1 << 16

// Compile returns the program computing roots; the values of keep (nodes
// among the roots' ancestors) are also returned by Run.
func Compile(name string, roots []*G.Node, keep ...*G.Node) *Program {
	return compile(name, roots, nil, keep)
}

// compile is Compile with the nodes of cut read from bind as inputs.
func compile(name string, roots []*G.Node, cut map[*G.Node]bool, keep []*G.Node) *Program {
	order := topo(roots...)
	index := make(map[*G.Node]int, len(order))
	for i, n := range order {
		index[n] = i
	}
	args := make([][]int, len(order))
	trans := make([][]bool, len(order))
	for i, n := range order {
		if cut[n] {
			continue // an input of this program: no arguments
		}
		kids := Children(n)
		args[i] = make([]int, len(kids))
		_, fuses := n.Op().(ops.TransposeFuser)
		for j, c := range kids {
			if _, ok := c.Op().(ops.TransposeOp); ok && fuses {
				if trans[i] == nil {
					trans[i] = make([]bool, len(kids))
				}
				trans[i][j] = true
				c = Children(c)[0]
			}
			args[i][j] = index[c]
		}
	}
	// Keep the nodes the roots and kept nodes still read: a fused
	// transpose read by nothing else drops out.
	live := make([]bool, len(order))
	outs := append(append([]*G.Node{}, roots...), keep...)
	for _, n := range outs {
		if i, ok := index[n]; ok {
			live[i] = true
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		if live[i] {
			for _, k := range args[i] {
				live[k] = true
			}
		}
	}
	p := &Program{Name: name}
	renumber := make([]int, len(order))
	for i, n := range order {
		if !live[i] {
			continue
		}
		renumber[i] = len(p.nodes)
		p.nodes = append(p.nodes, n)
		a := make([]int, len(args[i]))
		for j, k := range args[i] {
			a[j] = renumber[k]
		}
		p.args = append(p.args, a)
		p.trans = append(p.trans, trans[i])
		if cut != nil {
			p.cut = append(p.cut, cut[n])
		}
	}
	p.last = make([]int, len(p.nodes))
	p.readers = make([][]int, len(p.nodes))
	for i, a := range p.args {
		for _, k := range a {
			p.last[k] = i
			p.readers[k] = append(p.readers[k], i)
		}
		n := p.nodes[i]
		if p.cut != nil && p.cut[i] {
			continue // computed by another program
		}
		p.work += n.Shape().TotalSize()
		if fc, ok := n.Op().(ops.FlopCounter); ok {
			var shapes []tensor.Shape
			for _, c := range Children(n) { // the logical shapes: transposes included
				shapes = append(shapes, c.Shape())
			}
			p.flops += fc.Flops(shapes)
		} else if n.Op() != nil {
			p.flops += float64(n.Shape().TotalSize())
		}
	}
	for _, n := range outs {
		if i, ok := index[n]; ok && live[i] {
			p.last[renumber[i]] = -1
		}
	}
	p.recycle = make([]bool, len(p.nodes))
	for k, n := range p.nodes {
		r := p.last[k] != -1 && !p.isInput(k) && ops.Recyclable(n.Op())
		for _, i := range p.readers[k] {
			r = r && ops.Recyclable(p.nodes[i].Op())
		}
		p.recycle[k] = r
	}
	return p
}

// Flops returns the floating-point operations of a run: matrix products,
// factorisations and solves counted from their shapes (ops.FlopCounter),
// every other op as one per element of its result. For reporting speed.
func (p *Program) Flops() float64 { return p.flops }

// Len returns the number of nodes the program evaluates.
func (p *Program) Len() int { return len(p.nodes) }

// Values holds the values a run returns: of its roots and kept nodes.
type Values map[*G.Node]G.Value

// Run evaluates the program. bind gives values for some input nodes (they
// are not copied and must not be modified); other inputs use their own.
// The values of op nodes it returns share no memory with an input or with
// each other (see own): the caller may keep and modify them. An input
// node asked for is returned as it is.
// An op's failure is an *errs.RunError naming the node and wrapping the
// op's error (a recovered panic: an *errs.InternalError).
func (p *Program) Run(bind Values) (Values, error) {
	if p.work >= parallelWork && runtime.GOMAXPROCS(0) > 1 {
		return p.runParallel(bind)
	}
	vals := make([]G.Value, len(p.nodes))
	for i := range p.nodes {
		if err := p.eval(i, vals, bind); err != nil {
			return nil, err
		}
		for _, k := range p.args[i] { // free what no later node reads
			if p.last[k] == i {
				p.drop(k, vals)
			}
		}
	}
	return p.results(vals, bind), nil
}

// input returns input node n's value in a run: bound, else its own.
func input(n *G.Node, bind Values) G.Value {
	if v := bind[n]; v != nil {
		return v
	}
	return n.Value()
}

// eval computes node i's value into vals[i]: an input's, checked, or its
// op's on the values of its inputs.
func (p *Program) eval(i int, vals []G.Value, bind Values) error {
	n := p.nodes[i]
	if n.Op() == nil {
		v := input(n, bind)
		if err := checkInput(n, v); err != nil {
			return err
		}
		vals[i] = v
		return nil
	}
	if p.isInput(i) {
		if vals[i] = bind[n]; vals[i] == nil {
			return &errs.RunError{Product: p.Name, Node: n, Err: fmt.Errorf("cut node has no bound value")}
		}
		return nil
	}
	in := make([]G.Value, len(p.args[i]))
	for j, k := range p.args[i] {
		in[j] = vals[k]
	}
	v, err := do(n, in, p.trans[i])
	if err != nil {
		return &errs.RunError{Product: p.Name, Node: n, Err: err}
	}
	vals[i] = v
	return nil
}

// drop forgets value k after its last reading, its memory recycled when
// the program may (recycle).
func (p *Program) drop(k int, vals []G.Value) {
	if vals[k] != nil && p.recycle[k] {
		ops.Release(vals[k])
	}
	vals[k] = nil
}

// results returns the values of the roots and kept nodes (never dropped),
// made the caller's (own).
func (p *Program) results(vals []G.Value, bind Values) Values {
	out := make(Values)
	for i, n := range p.nodes {
		if p.last[i] == -1 {
			out[n] = vals[i]
		}
	}
	return p.own(out, bind)
}

// own makes the values a run returns its caller's: an op's value that
// shares memory with an input's (an op may return a view of its input) or
// with another returned value is replaced by a copy, so that the caller may
// keep or modify each returned value without touching an input or another.
func (p *Program) own(out Values, bind Values) Values {
	type span struct{ lo, hi uintptr }
	spanOf := func(v G.Value) (span, bool) {
		t, ok := v.(*tensor.Dense)
		if !ok || t.MemSize() == 0 {
			return span{}, false
		}
		return span{t.Uintptr(), t.Uintptr() + t.MemSize()}, true
	}
	var taken []span
	for i, n := range p.nodes {
		if !p.isInput(i) {
			continue
		}
		if s, ok := spanOf(input(n, bind)); ok {
			taken = append(taken, s)
		}
	}
	for i, n := range p.nodes { // in program order: deterministic
		v, ok := out[n]
		if !ok || p.isInput(i) {
			continue
		}
		s, ok := spanOf(v)
		if !ok {
			continue
		}
		for _, u := range taken {
			if s.lo < u.hi && u.lo < s.hi {
				c := v.(*tensor.Dense).Clone().(*tensor.Dense)
				out[n] = c
				s, _ = spanOf(c)
				break
			}
		}
		taken = append(taken, s)
	}
	return out
}

// runParallel is Run with nodes scheduled as their inputs become ready, on
// GOMAXPROCS workers. A value is dropped when its last reader finishes;
// the first failure stops the scheduling and is returned.
func (p *Program) runParallel(bind Values) (Values, error) {
	n := len(p.nodes)
	vals := make([]G.Value, n)
	pending := make([]atomic.Int32, n) // inputs not yet computed
	unread := make([]atomic.Int32, n)  // readings still to happen
	ready := make(chan int, n)
	for i := range p.nodes {
		pending[i].Store(int32(len(p.args[i])))
		unread[i].Store(int32(len(p.readers[i])))
		if len(p.args[i]) == 0 {
			ready <- i
		}
	}
	var (
		left     atomic.Int32 // nodes not yet finished
		failOnce sync.Once
		failure  error
		quit     = make(chan struct{})
		wg       sync.WaitGroup
	)
	left.Store(int32(n))
	fail := func(err error) {
		failOnce.Do(func() { failure = err; close(quit) })
	}
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { // the scheduler's own bookkeeping: never a crash
				if r := recover(); r != nil {
					fail(&errs.InternalError{Where: "graph.Program scheduler", Panic: r, Stack: string(debug.Stack())})
				}
			}()
			for {
				var i int
				select {
				case <-quit:
					return
				case i = <-ready:
				}
				if err := p.eval(i, vals, bind); err != nil {
					fail(err)
					return
				}
				for _, k := range p.args[i] { // free what no later node reads
					if unread[k].Add(-1) == 0 && p.last[k] != -1 {
						p.drop(k, vals)
					}
				}
				for _, r := range p.readers[i] {
					if pending[r].Add(-1) == 0 {
						ready <- r
					}
				}
				if left.Add(-1) == 0 {
					fail(nil) // done: stop the workers
				}
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	return p.results(vals, bind), nil
}

// do applies n's op, recovering a panic; trans flags inputs to read
// transposed (the op is then an ops.TransposeFuser).
func do(n *G.Node, in []G.Value, trans []bool) (v G.Value, err error) {
	defer errs.RecoverOf(func() string { return fmt.Sprintf("op %v", n.Op()) }, &err)
	if trans != nil {
		v, err = n.Op().(ops.TransposeFuser).DoTransposed(trans, in...)
	} else {
		v, err = n.Op().Do(in...)
	}
	if err == nil && v == nil {
		err = &errs.InternalError{Where: fmt.Sprintf("op %v", n.Op()), Panic: "returned no value"}
	}
	if err == nil && !sameShape(v.Shape(), n.Shape()) {
		err = &errs.ShapeError{What: fmt.Sprintf("value of op %v", n.Op()), Got: v.Shape(), Want: n.Shape()}
	}
	return v, err
}

func checkInput(n *G.Node, v G.Value) error {
	if v == nil {
		return &errs.ShapeError{What: "input " + errs.Label(n), Reason: "has no value (gorgonia.Let it first)"}
	}
	if !sameShape(v.Shape(), n.Shape()) {
		return &errs.ShapeError{What: "input " + errs.Label(n), Got: v.Shape(), Want: n.Shape()}
	}
	return nil
}

// sameShape compares shapes, all scalar shapes (() and (1)) being equal.
func sameShape(a, b tensor.Shape) bool {
	if a.IsScalar() || b.IsScalar() {
		return a.TotalSize() == b.TotalSize() && (a.IsScalar() || a.TotalSize() == 1) && (b.IsScalar() || b.TotalSize() == 1)
	}
	return a.Eq(b)
}
