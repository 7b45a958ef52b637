// Command writeup computes, for the two functions the writeup derives by
// hand, Hv by the R-pass and H⁻¹v by the B-pass, beside their closed forms,
// finite differences of the inverse and the residual:
//
//	f(x) = Σ xᵢ³    H = 6 diag(x), H⁻¹v = v/(6x); inverse pass x = sign(x₀)·√(g/3),
//	                the sign pattern of the current point frozen (ops.PowFunc)
//	f(x) = x₁x₂x₃   H = [[0,x₃,x₂],[x₃,0,x₁],[x₂,x₁,0]]; no op-by-op inverse: the
//	                whole gradient map is inverted at once (ops.ProductOp)
//
//	go run ./examples/writeup -x 1.5,-2,0.5 -v 1,2,3
//
// At a point with a zero coordinate H is singular: the B-pass refuses with
// an error naming the condition that failed (exit status 3).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	x, v := []float64{1.5, -2, 0.5}, []float64{1, 2, 3}
	flag.Func("x", "the point x: three comma-separated numbers (default 1.5,-2,0.5)", func(s string) (err error) { x, err = parseVec(s); return })
	flag.Func("v", "the direction v: three comma-separated numbers (default 1,2,3)", func(s string) (err error) { v, err = parseVec(s); return })
	flag.Parse()
	rs, err := run(os.Stdout, x, v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writeup:", err)
		os.Exit(2)
	}
	if refused(rs) {
		os.Exit(3)
	}
}

// parseVec reads three comma-separated finite numbers.
func parseVec(s string) ([]float64, error) {
	fs := strings.Split(s, ",")
	if len(fs) != 3 {
		return nil, &errs.ArgumentError{What: "a point", Value: s, Reason: "want three coordinates (x₁x₂x₃ has three factors)"}
	}
	out := make([]float64, 3)
	for i, f := range fs {
		var err error
		if out[i], err = strconv.ParseFloat(strings.TrimSpace(f), 64); err != nil || math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
			return nil, &errs.ArgumentError{What: "a point", Value: s, Reason: fmt.Sprintf("%q is not a finite number", f)}
		}
	}
	return out, nil
}

// function is one of the writeup's functions: its ops, closed forms and inverse pass.
type function struct {
	name, inverse string
	build         func(x *G.Node) (*G.Node, error)
	hv, invHv     func(x, v []float64) []float64
}

var functions = []function{
	{"Σ xᵢ³", "op by op: x = sign(x₀)·√(g/3), pattern frozen",
		func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) },
		func(x, v []float64) []float64 { return []float64{6 * x[0] * v[0], 6 * x[1] * v[1], 6 * x[2] * v[2]} },
		func(x, v []float64) []float64 {
			return []float64{v[0] / (6 * x[0]), v[1] / (6 * x[1]), v[2] / (6 * x[2])}
		}},
	{"x₁x₂x₃", "whole gradient map: x = P ⊘ g, P = sign(x₁x₂x₃)·√(g₁g₂g₃)", ops.Product,
		func(x, v []float64) []float64 {
			return []float64{x[2]*v[1] + x[1]*v[2], x[2]*v[0] + x[0]*v[2], x[1]*v[0] + x[0]*v[1]}
		},
		func(x, v []float64) []float64 { // H⁻¹ = [x_i x_j − 2δ_ij x_i²] / (2x₁x₂x₃)
			p, xv := 2*x[0]*x[1]*x[2], floats.Dot(x, v)
			return []float64{x[0] * (xv - 2*x[0]*v[0]) / p, x[1] * (xv - 2*x[1]*v[1]) / p, x[2] * (xv - 2*x[2]*v[2]) / p}
		}},
}

// result is one function's numbers; the relative differences are from its closed forms.
type result struct {
	Function                        string
	HvRelErr, InvHvRelErr, FDRelErr float64   // of the R-pass, the B-pass, central differences of the inverse pass
	InvHv                           []float64 // by the B-pass, nil where refused
	Certified                       bool
	Residual                        float64 // ‖H u − v‖/‖v‖ by the exact R-pass
	Error                           string  // why there is no H⁻¹v
}

// refused reports whether H⁻¹v was refused for some function.
func refused(rs []result) bool { return rs[0].Error != "" || rs[1].Error != "" }

func relDiff(a, b []float64) float64 { return floats.Distance(a, b, 2) / floats.Norm(b, 2) }

// run prints, and returns, both functions' products at x in direction v.
func run(w io.Writer, x, v []float64) ([]result, error) {
	const fdStep = 1e-6 // of the finite differences of the inverse pass: ‖δg‖ (bench/fdstep varies it)
	fmt.Fprintf(w, "x = %.10g, v = %.10g\n", x, v)
	var out []result
	for _, f := range functions {
		xt := tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), x...)))
		wt := G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(3, 1), G.WithName("x"), G.WithValue(xt)) // f's weight
		loss, err := f.build(wt)
		if err != nil {
			return nil, err
		}
		p, err := hvp.New(loss, wt)
		if err != nil {
			return nil, err
		}
		dir := params.FromFlat(p.Layout(), append([]float64(nil), v...))
		hv, err := p.Hv(dir) // newtonia: the R-pass
		if err != nil {
			return nil, err
		}
		r := result{Function: f.name, HvRelErr: relDiff(hv.Flat(), f.hv(x, v))}
		fmt.Fprintf(w, "\nf(x) = %s\n  H v    R-pass                      %.10g   rel. diff from the closed form %.1e\n", f.name, hv.Flat(), r.HvRelErr)
		inv, err := p.Block(0).InvHv(dir, nil) // newtonia: the B-pass
		if errors.Is(err, errs.ErrCondition) || errors.Is(err, errs.ErrNoInverse) {
			r.Error = err.Error() // H is singular at x: the condition that failed, named
			fmt.Fprintf(w, "  H⁻¹v   none: %s\n", r.Error)
			out = append(out, r)
			continue
		} else if err != nil {
			return nil, err
		}
		r.InvHv, r.Certified, r.Residual, r.InvHvRelErr = inv.U.Flat(), inv.Certified, inv.Residual, relDiff(inv.U.Flat(), f.invHv(x, v))
		fd, err := reference.InvHvFD(p, 0, dir, fdStep, &hvp.Options{BestEffort: true})
		if err != nil {
			return nil, err
		}
		r.FDRelErr = relDiff(fd.U.Flat(), f.invHv(x, v))
		fmt.Fprintf(w, "  H⁻¹v   B-pass (%s)\n                                     %.10g   %v, certified %v, residual ‖Hu − v‖/‖v‖ %.1e; rel. diff from the closed form %.1e\n",
			f.inverse, r.InvHv, inv.Kind, r.Certified, r.Residual, r.InvHvRelErr)
		fmt.Fprintf(w, "         FD of the inverse, r=%.0e %.10g   rel. diff %.1e\n", fdStep, fd.U.Flat(), r.FDRelErr)
		out = append(out, r)
	}
	return out, nil
}
