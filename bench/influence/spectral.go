package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/reference"
	"github.com/newtonia/newtonia/spectral"
	"gonum.org/v1/gonum/mat"
)

// spectralTargets measures issue 22's spectral targets on the tanh net of
// docs/spectral.md (width w with biases, batch w+1, three layers: every
// block exact) against dense eigendecompositions of exact R-pass columns
// (reference.DenseHessian, DenseBlock): the top 5 eigenvalues of H and of
// each block by Lanczos (relative errors, residuals), each block's
// smallest-magnitude eigenvalue by shift-invert (relative error, B-passes),
// Hutch++ on H over 20 seeds (how many within 1, 2, 3 reported standard
// errors).
func spectralTargets(w io.Writer, width int) error {
	var layers []nets.Layer
	for range 3 {
		layers = append(layers, nets.Layer{Out: width, Act: ops.TanhFunc{}, Bias: true})
	}
	m, err := nets.Build(nets.Spec{Batch: width + 1, In: width, Layers: layers})
	if err != nil {
		return err
	}
	if err := m.Randomize(rand.New(rand.NewPCG(1, 1)), 1/math.Sqrt(float64(width)), 1); err != nil {
		return err
	}
	p, err := hvp.New(m.Loss, m.Params()...)
	if err != nil {
		return err
	}
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		return err
	}
	hEigs, err := eigsOf(hd)
	if err != nil {
		return err
	}
	n := len(hEigs)
	fmt.Fprintf(w, "spectral targets: tanh net %d×3, batch %d, %d parameters\n\n", width, width+1, n)
	fmt.Fprintln(w, "| operator | top 5 (Lanczos) | largest relative error | largest residual ‖Hx − λx‖/|λ| | Lanczos steps |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	top := func(name string, op spectral.Operator, dense []float64) error {
		e, err := spectral.Lanczos(op, 5, spectral.LargestAlgebraic, &spectral.Options{Seed: 3})
		if err != nil {
			return err
		}
		relErr, relRes := 0.0, 0.0
		for i := range 5 {
			want := dense[len(dense)-1-i]
			relErr = math.Max(relErr, math.Abs(e.Values[i]-want)/math.Abs(want))
			relRes = math.Max(relRes, e.Residuals[i]/math.Abs(want))
		}
		fmt.Fprintf(w, "| %s | %.6g … %.6g | %.1e | %.1e | %d |\n", name, e.Values[0], e.Values[4], relErr, relRes, e.Iterations)
		return nil
	}
	if err := top("H", spectral.Hessian(p), hEigs); err != nil {
		return err
	}
	blockEigs := make([][]float64, p.Blocks())
	for l := range p.Blocks() {
		hl, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			return err
		}
		if blockEigs[l], err = eigsOf(hl); err != nil {
			return err
		}
		if err := top("block "+p.Block(l).Name(), spectral.BlockHessian(p.Block(l)), blockEigs[l]); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\n| block | smallest |λ| (dense) | shift-invert relative error | residual | B-passes | Hv (certificates) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for l := range p.Blocks() {
		d := slices.Clone(blockEigs[l])
		sort.Slice(d, func(a, b int) bool { return math.Abs(d[a]) < math.Abs(d[b]) })
		e, err := spectral.ShiftInvert(p.Block(l), 1, 0, &spectral.Options{Seed: 5}, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %s | %.6g | %.1e | %.1e | %d | %d |\n", p.Block(l).Name(), d[0], math.Abs(e.Values[0]-d[0])/math.Abs(d[0]), e.Residuals[0], e.Products, e.HvProducts)
	}
	exact := 0.0
	for i := range n {
		exact += hd.At(i, i)
	}
	var within [3]int
	zsum := 0.0
	for seed := range uint64(20) {
		est, err := spectral.HutchPP(spectral.Hessian(p), &spectral.TraceOptions{Samples: 60, Seed: seed})
		if err != nil {
			return err
		}
		z := math.Abs(est.Value-exact) / est.StdErr
		zsum += z / 20
		for k := range within {
			if z <= float64(k+1) {
				within[k]++
			}
		}
	}
	fmt.Fprintf(w, "\nHutch++ on H (60 products, seeds 0–19; exact trace %.6g): within 1 / 2 / 3 reported stderr: %d / %d / %d of 20; mean |error|/stderr %.2f\n",
		exact, within[0], within[1], within[2], zsum)
	return nil
}

// eigsOf returns the eigenvalues (ascending) of the symmetric part of a.
func eigsOf(a *mat.Dense) ([]float64, error) {
	n, _ := a.Dims()
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	var e mat.EigenSym
	if !e.Factorize(s, false) {
		return nil, fmt.Errorf("the dense eigendecomposition of a %d × %d matrix failed", n, n)
	}
	return e.Values(nil), nil
}
