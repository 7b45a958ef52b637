package reference

import (
	"fmt"
	"math"
	"time"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Defaults of Limits.
const (
	// DefaultMaxBytes caps the memory of a dense reference: the n×n matrix
	// and the workspace of its decomposition (about 3 n² float64s).
	DefaultMaxBytes = 2 << 30
	// DefaultMaxTime caps the estimated and the actual time of building
	// one dense reference, and the estimated time of solving it
	// (MinNormSolveWithin).
	DefaultMaxTime = 10 * time.Minute
	// DefaultStep is the finite-difference step of the FD dense references.
	DefaultStep = 1e-3
)

// Limits bound a dense reference. Zero fields mean the defaults above.
// Before building, the cost is estimated (memory exactly, time from one
// timed product) and a reference over either cap is refused with an
// *errs.LimitError carrying the estimate; while building, passing MaxTime
// stops it with an *errs.LimitError (Reached).
type Limits struct {
	MaxBytes int64
	MaxTime  time.Duration
	// Progress, if set, is called after each column with the columns done
	// and the total.
	Progress func(done, total int)
	// Busy, if set, is called every two seconds while a step that has no
	// columns to count runs (the factorisation of MinNormSolveWithin), with
	// the time spent and the step's estimate.
	Busy func(elapsed, estimate time.Duration)
}

func (l *Limits) withDefaults() Limits {
	var r Limits
	if l != nil {
		r = *l
	}
	if r.MaxBytes == 0 {
		r.MaxBytes = DefaultMaxBytes
	}
	if r.MaxTime == 0 {
		r.MaxTime = DefaultMaxTime
	}
	return r
}

// DenseBlock returns the diagonal block H_ll (n×n, n the number of block
// l's parameters) with column j = H_ll e_j from the exact R-pass: exact up
// to rounding, with no finite-difference error, for any net. Dense
// matrices index parameters in the flat order of params.Vector: weight by
// weight, in the order of the problem's layout, each in row-major order.
func DenseBlock(p *hvp.Problem, l int, lim *Limits) (*mat.Dense, error) {
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	return dense(p, p.Layout().BlockWeights(l), lim, "dense block "+b.Name(), func(k, i int) ([]float64, error) {
		hv, err := b.Hv(unit(p, k, i).Block(l))
		if err != nil {
			return nil, err
		}
		return hv.Flat(), nil
	})
}

// DenseHessian returns the full Hessian with column j = H e_j from the
// exact R-pass, blocks in the order of the weights.
func DenseHessian(p *hvp.Problem, lim *Limits) (*mat.Dense, error) {
	return dense(p, all(p), lim, "dense Hessian", func(k, i int) ([]float64, error) {
		hv, err := p.Hv(unit(p, k, i))
		if err != nil {
			return nil, err
		}
		return hv.Flat(), nil
	})
}

// DenseBlockFD returns H_ll as a reference independent of the R-pass:
// column j is the central difference of the block gradient g_l in
// coordinate j, with one Richardson step
//
//	H e_j ≈ (4 D(r/2) − D(r)) / 3,   D(h) = (g(w + h e_j) − g(w − h e_j)) / 2h
//
// (error O(r⁴) plus rounding about ε‖g‖/r). The step is halved for a
// coordinate, up to 30 times, until no piecewise-constant node (the
// activation pattern) changes. For piecewise-linear nets the block map
// W_l ↦ g_l is then affine and the block exact up to rounding (method.md
// §8). r = 0 means DefaultStep.
func DenseBlockFD(p *hvp.Problem, l int, r float64, lim *Limits) (*mat.Dense, error) {
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	return denseFD(p, p.Layout().BlockWeights(l), r, lim, "FD dense block "+b.Name())
}

// DenseHessianFD returns the full Hessian the same way, from all blocks'
// gradients. Across blocks the gradient is not affine in the weights, so
// this reference carries an O(r⁴) truncation error (method.md §8).
func DenseHessianFD(p *hvp.Problem, r float64, lim *Limits) (*mat.Dense, error) {
	return denseFD(p, all(p), r, lim, "FD dense Hessian")
}

func all(p *hvp.Problem) []int {
	out := make([]int, p.Layout().Weights())
	for k := range out {
		out[k] = k
	}
	return out
}

// unit returns e_i of weight k as a direction over all weights.
func unit(p *hvp.Problem, k, i int) *params.Vector {
	e := params.New(p.Layout())
	e.Weight(k)[i] = 1
	return e
}

// dense builds the n×n matrix of the parameters of weights ks column by
// column, within lim (the time estimated from the first column).
func dense(p *hvp.Problem, ks []int, lim *Limits, what string, column func(k, i int) ([]float64, error)) (h *mat.Dense, err error) {
	defer errs.Recover(what, &err)
	o := lim.withDefaults()
	n := 0
	for _, k := range ks {
		n += p.Layout().Shape(k).TotalSize()
	}
	if err := memoryCheck(what, n, o); err != nil {
		return nil, err
	}
	t0 := time.Now()
	first, err := column(ks[0], 0) // timed: the estimate
	if err != nil {
		return nil, err
	}
	if err := timeCheck(what, n, time.Since(t0), o); err != nil {
		return nil, err
	}
	h = mat.NewDense(n, n, nil)
	col := 0
	for _, k := range ks {
		for i := 0; i < p.Layout().Shape(k).TotalSize(); i++ {
			c := first
			if col > 0 {
				if c, err = column(k, i); err != nil {
					return nil, err
				}
			}
			h.SetCol(col, c)
			col++
			if err := progress(what, col, n, t0, o); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

func memoryCheck(what string, n int, o Limits) error {
	bytes := 4 * 8 * float64(n) * float64(n) // the matrix and its decomposition's workspace
	if bytes > float64(o.MaxBytes) {
		return &errs.LimitError{What: what, Resource: "memory", Estimate: bytes, Limit: float64(o.MaxBytes), Unit: "B",
			Hint: fmt.Sprintf("%d parameters: about 4·8·n² bytes for the matrix and its decomposition", n)}
	}
	return nil
}

func timeCheck(what string, n int, one time.Duration, o Limits) error {
	est := one.Seconds() * float64(n)
	if est > o.MaxTime.Seconds() {
		return &errs.LimitError{What: what, Resource: "time", Estimate: est, Limit: o.MaxTime.Seconds(), Unit: "s",
			Hint: fmt.Sprintf("%d columns at %.3g s each", n, one.Seconds())}
	}
	return nil
}

func progress(what string, done, n int, t0 time.Time, o Limits) error {
	if o.Progress != nil {
		o.Progress(done, n)
	}
	if el := time.Since(t0); el > o.MaxTime && done < n {
		return &errs.LimitError{What: what, Resource: "time", Estimate: el.Seconds(), Limit: o.MaxTime.Seconds(), Unit: "s",
			Reached: true, Hint: fmt.Sprintf("stopped after %d of %d columns", done, n)}
	}
	return nil
}

func denseFD(p *hvp.Problem, ks []int, r float64, lim *Limits, what string) (*mat.Dense, error) {
	if r == 0 {
		r = DefaultStep
	}
	if !(r > 0) || math.IsInf(r, 0) {
		return nil, &errs.ArgumentError{What: "finite-difference step r", Value: r, Reason: "want a finite r > 0"}
	}
	base, err := p.Current()
	if err != nil {
		return nil, err
	}
	at, err := p.At(base)
	if err != nil {
		return nil, err
	}
	return dense(p, ks, lim, what, func(k, i int) ([]float64, error) {
		return fdColumn(p, base, ks, k, i, r, at.Pattern)
	})
}

// fdColumn returns the Richardson-extrapolated central difference of the
// gradients of weights ks in coordinate i of weight k.
func fdColumn(p *hvp.Problem, base *params.Vector, ks []int, k, i int, r float64, pattern [][]float64) ([]float64, error) {
	for try := 0; try < 30; try, r = try+1, r/2 {
		d1, ok1, err := centralDiff(p, base, ks, k, i, r, pattern)
		if err != nil {
			return nil, err
		}
		d2, ok2, err := centralDiff(p, base, ks, k, i, r/2, pattern)
		if err != nil {
			return nil, err
		}
		if !ok1 || !ok2 {
			continue
		}
		floats.Scale(4, d2)
		floats.Sub(d2, d1)
		floats.Scale(1.0/3, d2)
		return d2, nil
	}
	return nil, &errs.ConditionError{Block: k, Weight: p.Layout().Name(k),
		Reason: fmt.Sprintf("the activation pattern changes for every finite-difference step tried at element %d", i)}
}

// centralDiff returns (g(w + h e_i) − g(w − h e_i)) / 2h for the selected
// weights ks, and whether the activation pattern stayed as at w.
func centralDiff(p *hvp.Problem, base *params.Vector, ks []int, k, i int, h float64, pattern [][]float64) ([]float64, bool, error) {
	var gs [2]*params.Vector
	for s, sign := range []float64{1, -1} {
		w := base.Clone()
		w.Weight(k)[i] += sign * h
		pt, err := p.At(w)
		if err != nil {
			return nil, false, err
		}
		if !samePattern(pt.Pattern, pattern) {
			return nil, false, nil
		}
		gs[s] = pt.Grad
	}
	var out []float64
	for _, b := range ks {
		d := append([]float64(nil), gs[0].Weight(b)...)
		floats.Sub(d, gs[1].Weight(b))
		floats.Scale(1/(2*h), d)
		out = append(out, d...)
	}
	return out, true, nil
}

func samePattern(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !floats.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Damp returns h + λ·(h̃ᵀh̃ ⊗ I) for a dense block h of block l: the
// operator that hvp.Options.Damping inverts, its metric from
// hvp.Block.Gram (per-sample blocks only). Parameters are ordered as in
// h: the block's weights row-major, W then b, so that entry (a·n + j,
// c·n + j) of the metric is (h̃ᵀh̃)_ac, n the width of the layer.
func Damp(p *hvp.Problem, l int, h *mat.Dense, lambda float64) (*mat.Dense, error) {
	b, err := block(p, l)
	if err != nil {
		return nil, err
	}
	g, err := b.Gram()
	if err != nil {
		return nil, err
	}
	k, _ := g.Dims()
	size, _ := h.Dims()
	if k == 0 || size%k != 0 {
		return nil, &errs.ShapeError{What: "dense block " + b.Name(), Reason: fmt.Sprintf("%d×%d, not k·n for h̃ᵀh̃ of size %d", size, size, k)}
	}
	n := size / k
	out := mat.DenseCopyOf(h)
	for a := range k {
		for c := range k {
			for j := range n {
				out.Set(a*n+j, c*n+j, out.At(a*n+j, c*n+j)+lambda*g.At(a, c))
			}
		}
	}
	return out, nil
}
