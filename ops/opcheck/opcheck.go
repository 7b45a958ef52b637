// Package opcheck checks an op's rules against central finite differences
// and its inverse by a round trip: the one checker every op of newtonia is
// tested with, exported for people writing new ops.
//
// For an op y = f(x_1, …, x_n) at given inputs, random directions d_i and a
// random output weight ȳ, it measures
//
//	JVP       ‖Σ_i J_i d_i − (f(x + r d) − f(x − r d)) / 2r‖ / ‖·‖
//	VJP       |Σ_i ⟨VJP_i(ȳ), d_i⟩ − ⟨ȳ, JVP(d)⟩| / scale    (the adjoint identity)
//	VJP-FD    |Σ_i ⟨VJP_i(ȳ), d_i⟩ − (s(x + r d) − s(x − r d)) / 2r|, s = ⟨ȳ, f⟩
//	inverse   ‖Inverse_i(y, x_{≠i}) − x_i‖ / ‖x_i‖  for each input i
//	          (InverseAt, on the branch of x_i, for an ops.PatternInverter)
//	gradient  for an ops.GradientInverter, the inverse of the whole gradient
//	inverse   map: with c = (∂f/∂x_i)ᵀ f̄ the VJP contribution,
//	          ‖InverseGradient_i(c) − x_i‖ / ‖x_i‖ (round trip) and
//	          ‖J_inv (J_c d_i) − d_i‖ / ‖d_i‖ (the Jacobian of the inverse
//	          times the Jacobian of the gradient map is I), both by JVPs
//
// all through the op's graph-building rules, evaluated as graph programs.
// It also checks the claims an op makes about itself, which the rewriter
// and the conditions report trust:
//
//	inverse   the ops.InverseKind of each inverse (ops.Bijective when the
//	kind      op does not say), against the rank of the Jacobian of
//	          x_i ↦ f(x) built from the JVP: bijective = injective and onto,
//	          left inverse = injective only, minimum-norm = onto only; a
//	          minimum-norm inverse is checked for being a preimage with no
//	          component in the Jacobian's null space instead of by a round
//	          trip
//	row-wise  for an ops.RowWiser, every marking of the inputs that
//	          describes samples: the claim must hold (changing one sample's
//	          rows changes only that sample's output row, or a scalar output
//	          is a sum of per-sample terms) and a denial must be needed
//	          (some change leaks into other rows)
package opcheck

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Tolerances are the relative errors a Check accepts. Zero fields take the
// defaults of DefaultTolerances.
type Tolerances struct {
	FD      float64 // JVP and VJP against central differences: O(r²) + O(ε/r)
	Adjoint float64 // ⟨VJP, d⟩ against ⟨ȳ, JVP d⟩: rounding only
	Inverse float64 // round trip: rounding times the conditioning of the op
	Step    float64 // the finite-difference step r
	RowWise float64 // a row-wise op's leak between samples: rounding
}

// DefaultTolerances suit well-scaled inputs of size about 1: central
// differences at r = 1e-6 are good to about 1e-9 relative, the adjoint
// identity holds to rounding (1e-12 leaves room for sums of a few hundred
// terms), and the inverse round trip to rounding times a moderate
// condition number.
var DefaultTolerances = Tolerances{FD: 1e-7, Adjoint: 1e-12, Inverse: 1e-10, Step: 1e-6, RowWise: 1e-10}

// Report holds the measured errors of one Check.
type Report struct {
	JVP, VJP, VJPFD float64
	// Inverse is, by input, the error of the inverse as its kind defines
	// it (see Check); inputs without an inverse are absent.
	Inverse   map[int]float64
	NoInverse map[int]error           // why an input has none
	Kind      map[int]ops.InverseKind // the kind checked for each input in Inverse
	// For an ops.GradientInverter, by input: the round trip of the
	// gradient map's inverse and ‖J_inv J_c d − d‖/‖d‖.
	GradientInverse, GradientJacobian map[int]float64
	// RowWise is, for an ops.RowWiser, every marking of the inputs checked.
	RowWise []RowWiseCheck
}

// Check measures op's rules at inputs (float64 tensors; scalars as shape
// ()) and returns the report and an error naming every rule outside tol.
// Inputs listed in skip are held constant (no direction, no inverse).
func Check(op G.Op, inputs []*tensor.Dense, tol Tolerances, rng *rand.Rand, skip ...int) (rep Report, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("opcheck: %v: panic: %v", op, r)
		}
	}()
	tol = withDefaults(tol)
	c, err := newCase(op, inputs, rng, skip)
	if err != nil {
		return rep, err
	}
	var failures []error
	fail := func(rule string, got, limit float64) {
		if !(got <= limit) {
			failures = append(failures, fmt.Errorf("%v: %s error %.3g > %.3g", op, rule, got, limit))
		}
	}
	if err := FreshResult(op, inputs); err != nil {
		failures = append(failures, err)
	}
	if rep.JVP, err = c.jvpError(tol.Step); err != nil {
		return rep, err
	}
	fail("JVP vs finite differences", rep.JVP, tol.FD)
	if rep.VJP, rep.VJPFD, err = c.vjpErrors(tol.Step); err != nil {
		return rep, err
	}
	fail("VJP adjoint identity", rep.VJP, tol.Adjoint)
	fail("VJP vs finite differences", rep.VJPFD, tol.FD)
	rep.Inverse, rep.NoInverse, rep.Kind = map[int]float64{}, map[int]error{}, map[int]ops.InverseKind{}
	if _, ok := op.(ops.Inverter); ok {
		for i := range inputs {
			if c.skip[i] {
				continue
			}
			ic, err := c.inverseClaim(i, tol)
			switch {
			case errors.Is(err, errs.ErrNoInverse):
				rep.NoInverse[i] = err
				continue
			case err != nil:
				return rep, err
			}
			rep.Inverse[i], rep.Kind[i] = ic.err, ic.kind
			if ic.kind == ops.MinNorm {
				fail(fmt.Sprintf("minimum-norm inverse (input %d)", i), ic.err, tol.Inverse)
			} else if ic.kind != ops.Lossy {
				fail(fmt.Sprintf("inverse round trip (input %d)", i), ic.err, tol.Inverse)
			}
			if ic.wrongKind != nil {
				failures = append(failures, ic.wrongKind)
			}
		}
	}
	if rw, ok := op.(ops.RowWiser); ok {
		if rep.RowWise, err = c.rowWise(rw); err != nil {
			return rep, err
		}
		for _, r := range rep.RowWise {
			switch {
			case r.Claim && !(r.Leak <= tol.RowWise):
				failures = append(failures, fmt.Errorf("%v: RowWise(%v) claims row by row, but changing one sample's rows leaks %.3g > %.3g", op, r.Marked, r.Leak, tol.RowWise))
			case !r.Claim && r.Leak <= tol.RowWise:
				failures = append(failures, fmt.Errorf("%v: RowWise(%v) denies row by row, but changing one sample's rows leaks only %.3g ≤ %.3g", op, r.Marked, r.Leak, tol.RowWise))
			}
		}
	}
	rep.GradientInverse, rep.GradientJacobian = map[int]float64{}, map[int]float64{}
	if _, ok := op.(ops.GradientInverter); ok {
		for i := range inputs {
			if c.skip[i] {
				continue
			}
			rt, jac, err := c.gradientInverseErrors(i)
			if errors.Is(err, errs.ErrNoInverse) {
				continue
			}
			if err != nil {
				return rep, err
			}
			rep.GradientInverse[i], rep.GradientJacobian[i] = rt, jac
			fail(fmt.Sprintf("gradient-map inverse round trip (input %d)", i), rt, tol.Inverse)
			fail(fmt.Sprintf("gradient-map inverse Jacobian J_inv·J = I (input %d)", i), jac, tol.Inverse)
		}
	}
	return rep, errors.Join(failures...)
}

func withDefaults(t Tolerances) Tolerances {
	d := DefaultTolerances
	if t.FD == 0 {
		t.FD = d.FD
	}
	if t.Adjoint == 0 {
		t.Adjoint = d.Adjoint
	}
	if t.Inverse == 0 {
		t.Inverse = d.Inverse
	}
	if t.Step == 0 {
		t.Step = d.Step
	}
	if t.RowWise == 0 {
		t.RowWise = d.RowWise
	}
	return t
}

// testCase is one op at one point, with its directions.
type testCase struct {
	op     G.Op
	x, d   []*tensor.Dense
	ybar   *tensor.Dense
	skip   map[int]bool
	yshape tensor.Shape
}

func newCase(op G.Op, inputs []*tensor.Dense, rng *rand.Rand, skip []int) (*testCase, error) {
	c := &testCase{op: op, x: inputs, skip: map[int]bool{}}
	for _, i := range skip {
		c.skip[i] = true
	}
	for i, x := range inputs {
		if c.skip[i] {
			c.d = append(c.d, nil)
			continue
		}
		c.d = append(c.d, randLike(rng, x))
	}
	y, err := c.eval(inputs)
	if err != nil {
		return nil, err
	}
	c.yshape = y.Shape()
	c.ybar = randLike(rng, y)
	return c, nil
}

func randLike(rng *rand.Rand, x *tensor.Dense) *tensor.Dense {
	data := make([]float64, max(1, x.Shape().TotalSize()))
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return dense(x.Shape(), data)
}

func zerosLike(x *tensor.Dense) *tensor.Dense {
	return dense(x.Shape(), make([]float64, max(1, x.Shape().TotalSize())))
}

func dense(s tensor.Shape, data []float64) *tensor.Dense {
	if s.IsScalar() {
		return tensor.New(tensor.FromScalar(data[0]))
	}
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(data))
}

// inputs builds a graph with named inputs holding vals, and returns them.
func inputs(vals []*tensor.Dense, prefix string) (*G.ExprGraph, []*G.Node, error) {
	return inputsInto(G.NewGraph(), vals, prefix)
}

// inputsInto adds to g named inputs holding vals.
func inputsInto(g *G.ExprGraph, vals []*tensor.Dense, prefix string) (*G.ExprGraph, []*G.Node, error) {
	ns := make([]*G.Node, len(vals))
	for i, v := range vals {
		name := fmt.Sprintf("%s%d", prefix, i)
		if v.Shape().IsScalar() {
			ns[i] = G.NewScalar(g, tensor.Float64, G.WithName(name))
			if err := G.Let(ns[i], G.NewF64(v.ScalarValue().(float64))); err != nil {
				return nil, nil, err
			}
			continue
		}
		ns[i] = G.NewTensor(g, tensor.Float64, v.Dims(), G.WithShape(v.Shape()...), G.WithName(name))
		if err := G.Let(ns[i], v); err != nil {
			return nil, nil, err
		}
	}
	return g, ns, nil
}

// run evaluates roots and returns their values.
func run(g *G.ExprGraph, roots ...*G.Node) ([]*tensor.Dense, error) {
	vals, err := graph.Compile("opcheck", roots).Run(nil)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(roots))
	for i, r := range roots {
		data, s, err := flat(vals[r])
		if err != nil {
			return nil, err
		}
		out[i] = dense(s, data)
	}
	return out, nil
}

func flat(v G.Value) ([]float64, tensor.Shape, error) {
	switch v := v.(type) {
	case *G.F64:
		return []float64{float64(*v)}, tensor.ScalarShape(), nil
	case *tensor.Dense:
		if v.IsView() {
			v = v.Materialize().(*tensor.Dense)
		}
		if v.Shape().IsScalar() {
			return []float64{v.ScalarValue().(float64)}, v.Shape(), nil
		}
		return append([]float64(nil), v.Float64s()...), v.Shape(), nil
	}
	return nil, nil, fmt.Errorf("opcheck: value %T", v)
}

func data(t *tensor.Dense) []float64 {
	d, _, _ := flat(t)
	return d
}

func (c *testCase) eval(x []*tensor.Dense) (*tensor.Dense, error) {
	g, ns, err := inputs(x, "x")
	if err != nil {
		return nil, err
	}
	y, err := ops.Apply(c.op, ns...)
	if err != nil {
		return nil, err
	}
	v, err := run(g, y)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// shifted returns x + s·d.
func (c *testCase) shifted(s float64) []*tensor.Dense {
	out := make([]*tensor.Dense, len(c.x))
	for i, x := range c.x {
		if c.d[i] == nil {
			out[i] = x
			continue
		}
		xs, ds := data(x), data(c.d[i])
		v := make([]float64, len(xs))
		for k := range xs {
			v[k] = xs[k] + s*ds[k]
		}
		out[i] = dense(x.Shape(), v)
	}
	return out
}

// centralDiff returns (f(x + r d) − f(x − r d)) / 2r.
func (c *testCase) centralDiff(r float64) ([]float64, error) {
	yp, err := c.eval(c.shifted(r))
	if err != nil {
		return nil, err
	}
	ym, err := c.eval(c.shifted(-r))
	if err != nil {
		return nil, err
	}
	p, m := data(yp), data(ym)
	out := make([]float64, len(p))
	for k := range p {
		out[k] = (p[k] - m[k]) / (2 * r)
	}
	return out, nil
}

// rules builds the op with its JVP along d and its VJP of ȳ, and returns
// the values of JVP and of each VJP.
func (c *testCase) rules() (jvp *tensor.Dense, vjp []*tensor.Dense, err error) {
	vals := append(append([]*tensor.Dense{}, c.x...), c.ybar)
	for _, d := range c.d {
		if d != nil {
			vals = append(vals, d)
		}
	}
	g, ns, err := inputs(vals, "in")
	if err != nil {
		return nil, nil, err
	}
	n := len(c.x)
	x, ybar := ns[:n], ns[n]
	tan := make([]*G.Node, n)
	k := n + 1
	for i := range c.x {
		if c.d[i] != nil {
			tan[i], k = ns[k], k+1
		}
	}
	y, err := ops.Apply(c.op, x...)
	if err != nil {
		return nil, nil, err
	}
	jr, ok := c.op.(ops.JVPer)
	if !ok {
		return nil, nil, fmt.Errorf("opcheck: %v has no JVP rule", c.op)
	}
	jn, err := jr.JVP(x, y, tan)
	if err != nil {
		return nil, nil, fmt.Errorf("opcheck: %v: JVP: %w", c.op, err)
	}
	vr, ok := c.op.(ops.VJPer)
	if !ok {
		return nil, nil, fmt.Errorf("opcheck: %v has no VJP rule", c.op)
	}
	need := make([]bool, n)
	for i := range need {
		need[i] = !c.skip[i]
	}
	vn, err := vr.VJP(x, y, ybar, need)
	if err != nil {
		return nil, nil, fmt.Errorf("opcheck: %v: VJP: %w", c.op, err)
	}
	// A nil JVP or VJP node is a zero (a piecewise-constant op): it
	// stands for zeros, which the finite differences must then confirm.
	roots := []*G.Node{y}
	if jn != nil {
		roots = append(roots, jn)
	}
	for i := range c.x {
		if need[i] && i < len(vn) && vn[i] != nil {
			roots = append(roots, vn[i])
		}
	}
	vals, err = run(g, roots...)
	if err != nil {
		return nil, nil, err
	}
	k = 1
	jvp = zerosLike(vals[0])
	if jn != nil {
		jvp, k = vals[1], 2
	}
	vjp = make([]*tensor.Dense, n)
	for i := range c.x {
		switch {
		case !need[i]:
		case i < len(vn) && vn[i] != nil:
			vjp[i], k = vals[k], k+1
		default:
			vjp[i] = zerosLike(c.x[i])
		}
	}
	return jvp, vjp, nil
}

func (c *testCase) jvpError(r float64) (float64, error) {
	jvp, _, err := c.rules()
	if err != nil {
		return 0, err
	}
	fd, err := c.centralDiff(r)
	if err != nil {
		return 0, err
	}
	return relErr(data(jvp), fd), nil
}

func (c *testCase) vjpErrors(r float64) (adjoint, fdErr float64, err error) {
	jvp, vjp, err := c.rules()
	if err != nil {
		return 0, 0, err
	}
	var lhs, lhsScale float64 // Σ ⟨VJP_i, d_i⟩
	for i := range c.x {
		if vjp[i] == nil {
			continue
		}
		a, b := data(vjp[i]), data(c.d[i])
		for k := range a {
			lhs += a[k] * b[k]
			lhsScale += math.Abs(a[k] * b[k])
		}
	}
	var rhs, rhsScale float64 // ⟨ȳ, JVP d⟩
	yb, jd := data(c.ybar), data(jvp)
	for k := range yb {
		rhs += yb[k] * jd[k]
		rhsScale += math.Abs(yb[k] * jd[k])
	}
	fd, err := c.centralDiff(r)
	if err != nil {
		return 0, 0, err
	}
	var fdDot float64
	for k := range yb {
		fdDot += yb[k] * fd[k]
	}
	scale := math.Max(math.Max(lhsScale, rhsScale), math.SmallestNonzeroFloat64)
	return math.Abs(lhs-rhs) / scale, math.Abs(lhs-fdDot) / math.Max(scale, math.Abs(fdDot)), nil
}

// inverse builds Inverse(i) from f(x) and the other inputs (InverseAt, on
// the branch of x_i, for a PatternInverter) and returns its value.
func (c *testCase) inverse(i int) (*tensor.Dense, error) {
	g, ns, err := inputs(c.x, "x")
	if err != nil {
		return nil, err
	}
	y, err := ops.Apply(c.op, ns...)
	if err != nil {
		return nil, err
	}
	known := append([]*G.Node(nil), ns...)
	known[i] = nil
	var xi *G.Node
	if pi, ok := c.op.(ops.PatternInverter); ok {
		xi, err = pi.InverseAt(i, known, y, ns[i])
	} else {
		xi, err = c.op.(ops.Inverter).Inverse(i, known, y)
	}
	if err != nil {
		return nil, err
	}
	v, err := run(g, xi)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// relErr returns ‖a − b‖ / ‖b‖, or ‖a − b‖ when b is zero (the
// derivative of a piecewise-constant op).
func relErr(a, b []float64) float64 {
	var d, n float64
	for k := range a {
		d += (a[k] - b[k]) * (a[k] - b[k])
		n += b[k] * b[k]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// gradientInverseErrors checks the GradientInverter rule for input i: the
// round trip x_i → c = VJP_i(f̄) → InverseGradient(c) and, by JVPs, that
// the inverse's Jacobian undoes the gradient map's along d_i.
func (c *testCase) gradientInverseErrors(i int) (roundTrip, jacobian float64, err error) {
	g, ns, err := inputs(c.x, "x")
	if err != nil {
		return 0, 0, err
	}
	y, err := ops.Apply(c.op, ns...)
	if err != nil {
		return 0, 0, err
	}
	if !y.Shape().IsScalar() { // a gradient map is that of a scalar function
		return 0, 0, &errs.NoInverseError{Op: c.op.String(), Input: i, Reason: fmt.Sprintf("output of shape %v: no gradient map", y.Shape())}
	}
	adj := G.NewScalar(g, tensor.Float64, G.WithName("adj"))
	if err := G.Let(adj, G.NewF64(1.3)); err != nil {
		return 0, 0, err
	}
	needs := make([]bool, len(ns))
	needs[i] = true
	vjp, ok := c.op.(ops.VJPer)
	if !ok {
		return 0, 0, fmt.Errorf("opcheck: %v: a gradient inverse without a VJP rule", c.op)
	}
	contrib, err := vjp.VJP(ns, y, adj, needs)
	if err != nil {
		return 0, 0, err
	}
	// The contribution's value and its JVP along d_i.
	d := G.NewTensor(g, tensor.Float64, c.x[i].Dims(), G.WithShape(c.x[i].Shape()...), G.WithName("d"))
	if err := G.Let(d, c.d[i]); err != nil {
		return 0, 0, err
	}
	cdot, _, err := graph.JVP("opcheck JVP", []*G.Node{contrib[i]}, map[*G.Node]*G.Node{ns[i]: d})
	if err != nil {
		return 0, 0, err
	}
	vals, err := run(g, contrib[i], cdot[0])
	if err != nil {
		return 0, 0, err
	}
	// The inverse from a node standing for c, and its JVP along ċ.
	val := G.NewTensor(g, tensor.Float64, c.x[i].Dims(), G.WithShape(c.x[i].Shape()...), G.WithName("c"))
	vdot := G.NewTensor(g, tensor.Float64, c.x[i].Dims(), G.WithShape(c.x[i].Shape()...), G.WithName("cdot"))
	if err := G.Let(val, vals[0]); err != nil {
		return 0, 0, err
	}
	if err := G.Let(vdot, vals[1]); err != nil {
		return 0, 0, err
	}
	known := append([]*G.Node(nil), ns...)
	known[i] = nil
	x, err := c.op.(ops.GradientInverter).InverseGradient(i, known, adj, val, ns[i])
	if err != nil {
		return 0, 0, err
	}
	xdot, _, err := graph.JVP("opcheck B-pass", []*G.Node{x}, map[*G.Node]*G.Node{val: vdot})
	if err != nil {
		return 0, 0, err
	}
	out, err := run(g, x, xdot[0])
	if err != nil {
		return 0, 0, err
	}
	return relErr(data(out[0]), data(c.x[i])), relErr(data(out[1]), data(c.d[i])), nil
}

// FreshResult checks the promise of ops.Recyclable for an op of package
// ops: its result shares no memory with its inputs (its buffers may be
// recycled once no node reads them).
func FreshResult(op G.Op, inputs []*tensor.Dense) error {
	if !ops.Recyclable(op) {
		return nil
	}
	in := make([]G.Value, len(inputs))
	for i, x := range inputs {
		in[i] = x
	}
	out, err := op.Do(in...)
	t, ok := out.(*tensor.Dense)
	if err != nil || !ok || t.MemSize() == 0 {
		return nil // errors are other checks' concern; scalars own nothing
	}
	lo, hi := t.Uintptr(), t.Uintptr()+t.MemSize()
	for i, x := range inputs {
		if x.MemSize() > 0 && lo < x.Uintptr()+x.MemSize() && x.Uintptr() < hi {
			return fmt.Errorf("%v: the result shares memory with input %d (ops.Recyclable promises fresh results)", op, i)
		}
	}
	return nil
}
