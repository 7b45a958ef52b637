package ops

import (
	"fmt"
	"hash"
	"math"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	"github.com/newtonia/newtonia/errs"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// RowSolveOp solves one small symmetric system per sample (method.md §9):
// with inputs (λ, X, R_1, …, R_N), all but λ of shape B×N, sample i's
// matrix M_i has column j equal to row i of R_j (the R_j are the JVPs of
// a row-wise map along 1e_jᵀ, so M_i is that map's Jacobian at sample i),
// and
//
//	Y_i = (M_i + λI)⁺ X_i        (each row)
//
// of the symmetrised (M_i + Mᵢᵀ)/2 + λI: by LU where its condition
// estimate is below 1e8, else by its eigendecomposition, dropping the
// eigenvalues within 10·N·ε·|μ|_max of zero: the inverse when M_i + λI is
// nonsingular, the minimum-norm solution otherwise (a Newton-only block;
// Condition reports the smallest rank).
//
//	backward:  X̄_i = (M_i + λI)⁺ Ȳ_i    (symmetric)
//	JVP:       Ẏ_i = (M_i + λI)⁺ Ẋ_i;   derivatives with respect to λ and
//	           the R_j are not provided (an error if asked for)
//
// With Chunk = c > 1 the columns come stacked, c to an input (the JVPs
// replayed on replicated rows, graph.ReplayRows): inputs (λ, X, T_1, …,
// T_⌈N/c⌉), T_t of c·B rows (the last of fewer when c does not divide
// N), R_j being rows r·B … (r+1)·B − 1 of T_t for j = (t−1)·c + r.
type RowSolveOp struct {
	Pure
	N     int
	Chunk int // columns an input; 0 or 1: one
}

// layout is how the op reads its columns (N, Chunk), part of its inputs'
// key in the conditions' cache: the same buffers read as another layout
// are other systems.
func (o RowSolveOp) layout() uint64 { return uint64(o.N)<<32 | uint64(max(o.Chunk, 1)) }

// inputs is the number of column inputs: N, or ⌈N/Chunk⌉.
func (o RowSolveOp) inputs() int {
	c := max(o.Chunk, 1)
	return (o.N + c - 1) / c
}

var _ interface {
	G.Op
	VJPer
	JVPer
	RowWiser
	FlopCounter
	Conditioner
} = RowSolveOp{}

// RowSolve returns the node of the per-sample solves (M_i + λI)⁺ x_i.
func RowSolve(lambda, x *G.Node, cols ...*G.Node) (*G.Node, error) {
	return Apply(RowSolveOp{N: len(cols)}, append([]*G.Node{lambda, x}, cols...)...)
}

func (o RowSolveOp) String() string {
	if o.Chunk > 1 {
		return fmt.Sprintf("rowsolve%d/%d", o.N, o.Chunk)
	}
	return fmt.Sprintf("rowsolve%d", o.N)
}
func (o RowSolveOp) Arity() int            { return o.inputs() + 2 }
func (o RowSolveOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o RowSolveOp) Hashcode() uint32      { return Hashcode(o) }

func (o RowSolveOp) Type() hm.Type {
	ts := []hm.Type{tensor.Float64}
	for i := 0; i <= o.inputs(); i++ {
		ts = append(ts, tvA)
	}
	return hm.NewFnType(append(ts, tvA)...)
}

func (o RowSolveOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	ss, err := Shapes(o, o.inputs()+2, in)
	if err != nil {
		return nil, err
	}
	x := ss[1]
	if len(x) != 2 || x[1] != o.N {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("X has shape %v, want (B, %d)", x, o.N)}
	}
	for i, s := range ss[2:] {
		if want := (tensor.Shape{o.stacked(i) * x[0], o.N}); !s.Eq(want) {
			return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("column input %d has shape %v, want %v (X has %v)", i, s, want, x)}
		}
	}
	return x.Clone(), nil
}

// systems calls f with each sample's symmetrised, damped matrix (n×n,
// row-major, both triangles) and its row of X. Samples are independent:
// with several CPUs they are split into contiguous ranges solved
// concurrently (f must be safe for distinct i); an error is that of the
// first failing sample, as a serial loop would report, and a panic in a
// worker is recovered into an error.
func (o RowSolveOp) systems(v []G.Value, f func(ws *sampleWork, i int, m *mat.Dense, x []float64) error) error {
	lambda, err := scalar(v[0])
	if err != nil {
		return err
	}
	x, s, err := floats(v[1])
	if err != nil {
		return err
	}
	n, c := o.N, max(o.Chunk, 1)
	if len(s) != 2 || s[1] != n || len(v) != o.inputs()+2 {
		return &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("X of shape %v with %d column inputs", s, len(v)-2)}
	}
	samples := s[0]
	ins := make([][]float64, o.inputs())
	for t := range ins {
		if ins[t], _, err = floats(v[t+2]); err != nil {
			return err
		}
		if len(ins[t]) != o.stacked(t)*samples*n {
			return &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("column input %d of %d values, want %d", t, len(ins[t]), o.stacked(t)*samples*n)}
		}
	}
	col := func(j, i int) []float64 { // row i of R_j
		at := ((j%c)*samples + i) * n
		return ins[j/c][at : at+n]
	}
	solve := func(lo, hi int) (err error) {
		defer errs.Recover(o.String(), &err)
		t := make([]float64, n*n) // Mᵢᵀ: row j is row i of R_j, a contiguous copy
		m := mat.NewDense(n, n, nil)
		md := m.RawMatrix().Data
		ws := new(sampleWork)
		for i := lo; i < hi; i++ {
			for j := range n {
				copy(t[j*n:(j+1)*n], col(j, i))
			}
			for a := range n {
				for b := a; b < n; b++ {
					mab := (t[b*n+a] + t[a*n+b]) / 2
					md[a*n+b], md[b*n+a] = mab, mab
				}
				md[a*n+a] += lambda
			}
			if err := f(ws, i, m, x[i*n:(i+1)*n]); err != nil {
				return err
			}
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), samples, max(1, samples*n*n*n/parallelFlops))
	if workers <= 1 {
		return solve(0, samples)
	}
	failed := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed[w] = solve(w*samples/workers, (w+1)*samples/workers)
		}()
	}
	wg.Wait()
	for _, err := range failed {
		if err != nil {
			return err
		}
	}
	return nil
}

// sampleWork is one worker's storage for the per-sample factorisations
// (Condition's, which keeps none).
type sampleWork struct{ lu *luFactors }

// parallelFlops: the per-sample solves run concurrently from about this
// many flops (B·n³) on.
const parallelFlops = 1 << 18

// eig returns the eigenvalues (ascending) and, if vectors, eigenvectors of m,
// and the tolerance below which an eigenvalue counts as zero.
func eig(m *mat.SymDense, vectors bool) ([]float64, *mat.Dense, float64, error) {
	var e mat.EigenSym
	if !e.Factorize(m, vectors) {
		return nil, nil, 0, &errs.ConditionError{Block: -1, Reason: "per-sample eigendecomposition did not converge"}
	}
	vals := e.Values(nil)
	top := 0.0
	for _, l := range vals {
		top = math.Max(top, math.Abs(l))
	}
	var q mat.Dense
	if vectors {
		e.VectorsTo(&q)
	}
	return vals, &q, 10 * float64(len(vals)) * 0x1p-52 * top, nil
}

// luCond is the 1-norm condition estimate below which a sample's system
// is solved by LU (≈ n³/3 flops); above it, by the eigendecomposition,
// which finds the rank (≈ 9n³ flops).
const luCond = 1e8

// sampleFactor is one sample's factorisation of M + λI: its LU where
// the condition estimate is below luCond, else its eigendecomposition
// (vals ascending, q's columns the vectors, row-major) with the tolerance
// below which an eigenvalue counts as zero. rank and cond are what
// Condition reports for the sample.
type sampleFactor struct {
	lu   *luFactors // nil: solved by eigendecomposition
	vals []float64
	q    []float64
	tol  float64
	rank int
	cond float64
}

// factorSample factorises M + λI (m: symmetric, both triangles, not
// changed) into f, its LU into lu's storage when lu is non-nil and of m's
// size (fastblas's Dgetrf on a row-major copy, gonum's 1-norm estimate);
// it returns the LU storage used.
func factorSample(f *sampleFactor, lu *luFactors, m *mat.Dense) (*luFactors, error) {
	n, _ := m.Dims()
	lu = factorLUTo(lu, m)
	if c := lu.Cond(); lu.ok && c < luCond {
		*f = sampleFactor{lu: lu, rank: n, cond: c}
		return lu, nil
	}
	vals, q, tol, err := eig(mat.NewSymDense(n, m.RawMatrix().Data), true)
	if err != nil {
		return lu, err
	}
	*f = sampleFactor{vals: vals, q: q.RawMatrix().Data, tol: tol}
	lo, hi := math.Inf(1), 0.0
	for _, l := range vals {
		if math.Abs(l) > tol {
			f.rank++
			lo, hi = math.Min(lo, math.Abs(l)), math.Max(hi, math.Abs(l))
		}
	}
	f.cond = math.Inf(1)
	if f.rank > 0 {
		f.cond = hi / lo
	}
	return lu, nil
}

// solve writes (M + λI)⁺ x into y: by the LU's triangular solves, or
// from the eigenvalues kept (the minimum-norm solution when some are
// dropped).
func (f *sampleFactor) solve(x, y []float64) {
	n := len(x)
	if f.lu != nil {
		copy(y, x)
		lapack64.Getrs(blas.NoTrans, f.lu.lu, blas64.General{Rows: n, Cols: 1, Stride: 1, Data: y}, f.lu.ipiv)
		return
	}
	clear(y)
	for k, l := range f.vals {
		if !(math.Abs(l) > f.tol) {
			continue
		}
		var c float64
		for a := range n {
			c += f.q[a*n+k] * x[a]
		}
		c /= l
		for a := range n {
			y[a] += c * f.q[a*n+k]
		}
	}
}

// bytes is the memory f holds.
func (f *sampleFactor) bytes() int {
	if f.lu != nil {
		return 8*len(f.lu.lu.Data) + 8*len(f.lu.ipiv)
	}
	return 8 * (len(f.vals) + len(f.q))
}

func (o RowSolveOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o RowSolveOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(x))
	n := o.N
	key, keyed := rowConditions.key(v, o.layout())        // hashes the columns once for the lookup and the record
	if keyed && rowConditions.solveKept(key, n, x, out) { // the same λ and columns as a solve before
		return newValue(s, out), nil
	}
	// Inputs solved before are solved again: keep this solve's factors
	// (in a store) for the next. A first solve factorises into each
	// worker's storage, which stays in cache, and keeps nothing.
	b := s[0]
	var fs []sampleFactor
	var st *factorStore
	if _, seen := rowConditions.lookup(key); seen && keyed {
		fs, st = make([]sampleFactor, b), rowConditions.store(b, n)
	}
	mc := o.emptyCondition()
	var mu sync.Mutex
	err = o.systems(v, func(ws *sampleWork, i int, m *mat.Dense, xi []float64) error {
		var f sampleFactor
		if st == nil {
			var err error
			if ws.lu, err = factorSample(&f, ws.lu, m); err != nil {
				return err
			}
			f.solve(xi, out[i*n:(i+1)*n])
			mu.Lock()
			mc.add(f.rank, f.cond)
			mu.Unlock()
			return nil
		}
		lu := &luFactors{lu: blas64.General{Rows: n, Cols: n, Stride: n, Data: st.lu[i*n*n : (i+1)*n*n]}, ipiv: st.ipiv[i*n : (i+1)*n]}
		if _, err := factorSample(&fs[i], lu, m); err != nil {
			return err
		}
		fs[i].solve(xi, out[i*n:(i+1)*n])
		mu.Lock()
		mc.add(fs[i].rank, fs[i].cond)
		mu.Unlock()
		return nil
	})
	if err != nil {
		rowConditions.putKey(key, false, mc, nil, st) // only gives st back
		return nil, err
	}
	rowConditions.putKey(key, keyed, mc, fs, st)
	return newValue(s, out), nil
}

func (o RowSolveOp) emptyCondition() MatrixCondition {
	return MatrixCondition{Rows: o.N, Cols: o.N, Rank: o.N, Cond: 1, Method: "per-sample LU (1-norm estimate), or eigendecomposition (2-norm) past 1e8"}
}

// add counts one sample of rank and condition number cond.
func (mc *MatrixCondition) add(rank int, cond float64) {
	mc.Samples++
	mc.Rank = min(mc.Rank, rank)
	mc.Cond = math.Max(mc.Cond, cond)
}

// Condition reports the smallest rank and the largest condition number
// (the LU's 1-norm estimate, or |μ|_max/|μ|_min over the eigenvalues kept
// for a sample solved by eigendecomposition) among the per-sample matrices
// M_i + λI. A solve of the same λ and columns (rowConditions) found them
// already: they are not factorised again.
func (o RowSolveOp) Condition(in []G.Value) (MatrixCondition, error) {
	key, keyed := rowConditions.key(in, o.layout()) // the columns hashed once for the lookup and the record
	if keyed {
		if mc, ok := rowConditions.lookup(key); ok {
			return mc, nil
		}
	}
	mc := o.emptyCondition()
	var mu sync.Mutex
	err := o.systems(in, func(ws *sampleWork, i int, m *mat.Dense, x []float64) error {
		var f sampleFactor
		var err error
		if ws.lu, err = factorSample(&f, ws.lu, m); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		mc.add(f.rank, f.cond)
		return nil
	})
	if err == nil {
		rowConditions.putKey(key, keyed, mc, nil, nil)
	}
	return mc, err
}

func (o RowSolveOp) rest(in []*G.Node, x *G.Node) []*G.Node {
	return append([]*G.Node{in[0], x}, in[2:]...)
}

func (o RowSolveOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	g := make([]*G.Node, len(in))
	for i := range in {
		if i != 1 && need(needs, i) {
			return nil, &errs.NoRuleError{Op: o, Rule: fmt.Sprintf("VJP with respect to input %d (λ or a Jacobian column)", i)}
		}
	}
	var b Builder
	if need(needs, 1) {
		g[1] = b.Apply(o, o.rest(in, adj)...)
	}
	return g, b.Err
}

func (o RowSolveOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	for i, t := range tan {
		if i != 1 && t != nil {
			return nil, &errs.NoRuleError{Op: o, Rule: fmt.Sprintf("JVP with respect to input %d (λ or a Jacobian column)", i)}
		}
	}
	if tan[1] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, o.rest(in, tan[1])...), b.Err
}

// Flops: per sample, symmetrising and damping M_i (n²), its LU (2n³/3) and
// the solve (2n²) — the eigendecomposition taken past a condition of 1e8
// is not counted.
func (o RowSolveOp) Flops(in []tensor.Shape) float64 {
	if len(in) < 2 || len(in[1]) != 2 {
		return 0
	}
	n := float64(o.N)
	return float64(in[1][0]) * (2*n*n*n/3 + 3*n*n)
}

// RowWise: sample i's output row depends on sample i's rows only, when λ
// is a constant (a λ depending on every sample changes every row) and the
// columns, if stacked (Chunk > 1), are constants too (row i of the output
// reads rows r·B + i of theirs).
func (o RowSolveOp) RowWise(in []*G.Node, marked []bool) bool {
	if o.Chunk > 1 {
		for _, m := range marked[2:] {
			if m {
				return false
			}
		}
	}
	return !marked[0]
}

// stacked is the number of columns input t (from 0) of the columns holds.
func (o RowSolveOp) stacked(t int) int {
	c := max(o.Chunk, 1)
	return min(c, o.N-t*c)
}
