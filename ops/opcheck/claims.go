package opcheck

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/ops"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The claims an op makes about itself, checked numerically: the kind of its
// inverse (ops.InverseKinder, the conditions report trusts it) and whether
// it acts row by row (ops.RowWiser, without which the per-sample route
// refuses a block). Their perturbations come from a generator of their
// own, seeded alike for every op, so that the other measurements of a
// Check do not depend on which claims an op makes.

func claimRand() *rand.Rand { return rand.New(rand.NewPCG(20, 4)) }

// inverseResult is the check of input i's inverse against its kind.
type inverseResult struct {
	kind      ops.InverseKind
	err       float64 // as the kind defines it
	wrongKind error   // the Jacobian contradicts the kind
}

// inverseClaim checks the inverse with respect to input i against the
// InverseKind the op claims (ops.Bijective for an Inverter that does not
// say). The Jacobian J of x_i ↦ f(…, x_i, …), built column by column from
// the op's JVP, has the rank the kind implies — Bijective: injective and
// onto; LeftInverse: injective, not onto; MinNorm: onto, not injective;
// Lossy: neither (rank counted above Inverse·σ_max). The inverse x* of
// y = f(x) must then be x_i itself (Bijective, LeftInverse: a round trip),
// or a preimage of y orthogonal to the null space of J (MinNorm: the
// minimum-norm one); a Lossy inverse's round trip is reported, not judged.
func (c *testCase) inverseClaim(i int, tol Tolerances) (inverseResult, error) {
	xs, err := c.inverse(i)
	if err != nil {
		return inverseResult{}, err
	}
	res := inverseResult{kind: ops.Bijective}
	why := "the op does not say (taken to be bijective)"
	if k, ok := c.op.(ops.InverseKinder); ok {
		_, ns, err := inputs(c.x, "x")
		if err != nil {
			return res, err
		}
		y, err := ops.Apply(c.op, ns...)
		if err != nil {
			return res, err
		}
		known := append([]*G.Node(nil), ns...)
		known[i] = nil
		res.kind, why = k.InverseKind(i, known, y)
	}
	j, err := c.jacobian(i)
	if err != nil {
		return res, err
	}
	out, in := j.Dims()
	var svd mat.SVD
	if !svd.Factorize(j, mat.SVDFull) {
		return res, fmt.Errorf("opcheck: %v: SVD of the Jacobian (input %d) did not converge", c.op, i)
	}
	sv := svd.Values(nil)
	rank := 0
	for _, s := range sv {
		if s > tol.Inverse*sv[0] {
			rank++
		}
	}
	injective, onto := rank == in, rank == out
	want := map[ops.InverseKind][2]bool{ops.Bijective: {true, true}, ops.LeftInverse: {true, false},
		ops.MinNorm: {false, true}, ops.Lossy: {false, false}}[res.kind]
	if want != [2]bool{injective, onto} {
		res.wrongKind = fmt.Errorf("%v: input %d: InverseKind says %v (%s), but the map's Jacobian (%d outputs × %d inputs) has rank %d",
			c.op, i, res.kind, why, out, in, rank)
	}
	if res.kind != ops.MinNorm {
		res.err = relErr(data(xs), data(c.x[i]))
		return res, nil
	}
	// A preimage: f(…, x*, …) = y.
	at := append([]*tensor.Dense(nil), c.x...)
	at[i] = xs
	y, err := c.eval(at)
	if err != nil {
		return res, err
	}
	y0, err := c.eval(c.x)
	if err != nil {
		return res, err
	}
	res.err = relErr(data(y), data(y0))
	// Of minimum norm: no component along the null space of J.
	var v mat.Dense
	svd.VTo(&v)
	x := mat.NewVecDense(in, data(xs))
	var null, norm float64
	for k := rank; k < in; k++ {
		p := mat.Dot(v.ColView(k), x)
		null += p * p
	}
	norm = mat.Norm(x, 2)
	if norm > 0 {
		res.err = math.Max(res.err, math.Sqrt(null)/norm)
	}
	return res, nil
}

// jacobian returns the Jacobian of the op's output with respect to input
// i (outputs × elements of x_i, row-major), by the op's JVP along each
// unit direction, all in one graph.
func (c *testCase) jacobian(i int) (*mat.Dense, error) {
	g, ns, err := inputs(c.x, "x")
	if err != nil {
		return nil, err
	}
	y, err := ops.Apply(c.op, ns...)
	if err != nil {
		return nil, err
	}
	jvp, ok := c.op.(ops.JVPer)
	if !ok {
		return nil, fmt.Errorf("opcheck: %v has no JVP rule", c.op)
	}
	in, out := max(1, c.x[i].Shape().TotalSize()), max(1, y.Shape().TotalSize())
	cols := make([]*G.Node, in)
	var roots []*G.Node
	for k := range in {
		e := make([]float64, in)
		e[k] = 1
		_, dir, err := inputsInto(g, []*tensor.Dense{dense(c.x[i].Shape(), e)}, fmt.Sprintf("e%d_", k))
		if err != nil {
			return nil, err
		}
		tan := make([]*G.Node, len(ns))
		tan[i] = dir[0]
		if cols[k], err = jvp.JVP(ns, y, tan); err != nil {
			return nil, fmt.Errorf("opcheck: %v: JVP: %w", c.op, err)
		}
		if cols[k] != nil {
			roots = append(roots, cols[k])
		}
	}
	j := mat.NewDense(out, in, nil)
	if len(roots) == 0 {
		return j, nil
	}
	vals, err := run(g, roots...)
	if err != nil {
		return nil, err
	}
	r := 0
	for k, col := range cols {
		if col == nil {
			continue
		}
		j.SetCol(k, data(vals[r]))
		r++
	}
	return j, nil
}

// RowWiseCheck is one marking of an op's inputs — those that depend on a
// block's pre-activation, row i on sample i, or that are sums over the
// samples (scalars) — with the op's ops.RowWiser claim for it and the leak
// measured: for a matrix output, the part of the change of the output
// outside sample r's row when sample r's rows of the marked inputs change
// (relative to the whole change); for a scalar output, how far it is from
// a sum of per-sample terms, |f(x+δ_r+δ_q) − f(x+δ_r) − f(x+δ_q) + f(x)|
// relative to the two changes; +Inf when the output's rows are not the
// samples. A row-wise claim needs a leak at rounding level, its negation
// more.
type RowWiseCheck struct {
	Marked []bool
	Claim  bool
	Leak   float64
}

// rowWise checks the claim for every non-empty marking of the inputs not
// skipped that describes samples: the marked matrices have one number of
// rows B (the samples), at least two; marked scalars alone stand for sums
// over two samples. Markings that describe no samples are left out.
func (c *testCase) rowWise(rw ops.RowWiser) ([]RowWiseCheck, error) {
	_, ns, err := inputs(c.x, "x")
	if err != nil {
		return nil, err
	}
	y0, err := c.eval(c.x)
	if err != nil {
		return nil, err
	}
	rng := claimRand()
	var checks []RowWiseCheck
	for mask := 1; mask < 1<<len(c.x); mask++ {
		marked := make([]bool, len(c.x))
		ok := true
		for i := range marked {
			marked[i] = mask&(1<<i) != 0
			ok = ok && !(marked[i] && c.skip[i])
		}
		if !ok {
			continue
		}
		samples := 0 // 0: only scalars marked
		for i, x := range c.x {
			if s := x.Shape(); marked[i] && !s.IsScalar() {
				if len(s) != 2 || (samples != 0 && s[0] != samples) {
					ok = false
				}
				samples = s[0]
			}
		}
		if !ok || samples == 1 {
			continue
		}
		leak, err := c.leak(marked, samples, y0, rng)
		if err != nil {
			return nil, err
		}
		checks = append(checks, RowWiseCheck{Marked: marked, Claim: rw.RowWise(ns, marked), Leak: leak})
	}
	return checks, nil
}

// leak measures one marking (see RowWiseCheck), perturbing the first and
// the last sample.
func (c *testCase) leak(marked []bool, samples int, y0 *tensor.Dense, rng *rand.Rand) (float64, error) {
	ys := y0.Shape()
	scalarOut := ys.IsScalar()
	if !scalarOut && (samples == 0 || len(ys) != 2 || ys[0] != samples) {
		return math.Inf(1), nil // the output's rows are not the samples
	}
	last := max(samples, 2) - 1
	// δ[i][s]: the change of sample s ∈ {0, last} in marked input i.
	delta := make([][2][]float64, len(c.x))
	for i, x := range c.x {
		if !marked[i] {
			continue
		}
		for s := range 2 {
			d := make([]float64, max(1, x.Shape().TotalSize()))
			row := []int{0, last}[s]
			for k := range d {
				if x.Shape().IsScalar() || k/x.Shape()[1] == row {
					d[k] = 1e-2 * rng.NormFloat64()
				}
			}
			delta[i][s] = d
		}
	}
	eval := func(which ...int) ([]float64, error) {
		at := append([]*tensor.Dense(nil), c.x...)
		for i, x := range c.x {
			if !marked[i] {
				continue
			}
			v := append([]float64(nil), data(x)...)
			for _, s := range which {
				for k, d := range delta[i][s] {
					v[k] += d
				}
			}
			at[i] = dense(x.Shape(), v)
		}
		y, err := c.eval(at)
		if err != nil {
			return nil, err
		}
		return data(y), nil
	}
	f0 := data(y0)
	if scalarOut {
		fr, err := eval(0)
		if err != nil {
			return 0, err
		}
		fq, err := eval(1)
		if err != nil {
			return 0, err
		}
		frq, err := eval(0, 1)
		if err != nil {
			return 0, err
		}
		mixed := math.Abs(frq[0] - fr[0] - fq[0] + f0[0])
		change := math.Abs(fr[0]-f0[0]) + math.Abs(fq[0]-f0[0])
		if mixed == 0 {
			return 0, nil
		}
		return mixed / change, nil
	}
	var worst float64
	cols := ys[1]
	for s, row := range []int{0, last} {
		f, err := eval(s)
		if err != nil {
			return 0, err
		}
		var outside, all float64
		for k := range f {
			d := (f[k] - f0[k]) * (f[k] - f0[k])
			all += d
			if k/cols != row {
				outside += d
			}
		}
		if outside > 0 {
			worst = math.Max(worst, math.Sqrt(outside/all))
		}
	}
	return worst, nil
}
