// Command writeup computes, for the two functions the writeup derives by
// hand, Hv by the R-pass and H⁻¹v by the B-pass, beside their closed
// forms, finite differences of the inverse and the residual:
//
//	f(x) = Σ xᵢ³      ∇f = 3x²,  H = 6 diag(x),  H⁻¹v = v/(6x);
//	                  inverse pass x = sign(x₀)·√(g/3), the sign pattern of
//	                  the current point frozen (ops.PowFunc)
//	f(x) = x₁x₂x₃     ∇f = (x₂x₃, x₁x₃, x₁x₂),  H = [[0,x₃,x₂],[x₃,0,x₁],[x₂,x₁,0]];
//	                  no op-by-op inverse: the whole gradient map is inverted
//	                  at once, x₁ = ±√(g₂g₃/g₁), … (ops.ProductOp, an
//	                  "inverse of this subgraph" rule)
//
// Usage:
//
//	go run ./examples/writeup -x 1.5,-2,0.5 -v 1,2,3 [-json]
//	go run ./examples/writeup -plot docs/fd-vs-step.png
//
// At a point with a zero coordinate H is singular and H⁻¹v does not
// exist: the B-pass refuses with an error saying which condition failed
// (exit status 3). -plot draws the relative error of finite-difference Hv
// and H⁻¹v against the step r, from 1e-12 to 1e-1, for these two
// functions, the seed's 3×3 net and a tanh net, with the exact R-pass and
// B-pass as flat lines at their measured error.
package main

import (
	"encoding/json"
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
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	xs := flag.String("x", "1.5,-2,0.5", "the point x, comma-separated (three coordinates)")
	vs := flag.String("v", "1,2,3", "the direction v, comma-separated (as many as x)")
	asJSON := flag.Bool("json", false, "print JSON instead of text")
	step := flag.Float64("r", 1e-6, "the step of the finite differences of the inverse")
	plotTo := flag.String("plot", "", "write the finite-difference-error-against-step plot to this PNG file (and its data beside it as .csv) instead")
	force := flag.Bool("force", false, "with -plot, replace existing files")
	flag.Parse()
	if *plotTo != "" {
		if err := plotFD(*plotTo, *force, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "writeup:", err)
			os.Exit(1)
		}
		return
	}
	x, err := parseVec("-x", *xs)
	if err == nil {
		var v []float64
		if v, err = parseVec("-v", *vs); err == nil && len(v) != len(x) {
			err = &errs.ArgumentError{What: "flag -v", Value: *vs, Reason: fmt.Sprintf("%d coordinates for a point of %d", len(v), len(x))}
		}
		if err == nil && len(x) != 3 {
			err = &errs.ArgumentError{What: "flag -x", Value: *xs, Reason: "want three coordinates (x₁x₂x₃ has three factors)"}
		}
		if err == nil && (!(*step > 0) || math.IsInf(*step, 0)) {
			err = &errs.ArgumentError{What: "flag -r", Value: *step, Reason: "want a finite step > 0"}
		}
		if err == nil {
			var rep *report
			if rep, err = run(x, v, *step); err == nil {
				err = rep.write(os.Stdout, *asJSON)
				if err == nil && rep.refused() {
					os.Exit(3)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writeup:", err)
		os.Exit(2)
	}
}

// parseVec reads comma-separated finite numbers.
func parseVec(flagName, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &errs.ArgumentError{What: "flag " + flagName, Value: s, Reason: fmt.Sprintf("%q is not a finite number", f)}
		}
		out = append(out, x)
	}
	return out, nil
}

// function is one of the writeup's functions: how to build it from
// newtonia's ops, and its closed forms.
type function struct {
	name   string
	build  func(x *G.Node) (*G.Node, error)
	hv     func(x, v []float64) []float64
	invHv  func(x, v []float64) []float64 // nil where H is singular
	method string
}

var functions = []function{
	{
		name:  "Σ xᵢ³",
		build: func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) },
		hv: func(x, v []float64) []float64 {
			out := make([]float64, len(x))
			for i := range x {
				out[i] = 6 * x[i] * v[i]
			}
			return out
		},
		invHv: func(x, v []float64) []float64 {
			out := make([]float64, len(x))
			for i := range x {
				out[i] = v[i] / (6 * x[i])
			}
			return out
		},
		method: "op by op: x = sign(x₀)·√(g/3), pattern frozen",
	},
	{
		name:  "x₁x₂x₃",
		build: ops.Product,
		hv: func(x, v []float64) []float64 {
			return []float64{x[2]*v[1] + x[1]*v[2], x[2]*v[0] + x[0]*v[2], x[1]*v[0] + x[0]*v[1]}
		},
		invHv: func(x, v []float64) []float64 { // H⁻¹ = [x_i x_j − 2δ_ij x_i²] / (2x₁x₂x₃)
			p, xv := x[0]*x[1]*x[2], x[0]*v[0]+x[1]*v[1]+x[2]*v[2]
			out := make([]float64, 3)
			for i := range out {
				out[i] = x[i] * (xv - 2*x[i]*v[i]) / (2 * p)
			}
			return out
		},
		method: "whole gradient map: x = P ⊘ g, P = sign(x₁x₂x₃)·√(g₁g₂g₃)",
	},
}

// result is one function's numbers.
type result struct {
	Function      string    `json:"function"`
	Hv            []float64 `json:"hv"`
	HvClosed      []float64 `json:"hv_closed_form"`
	HvRelErr      float64   `json:"hv_rel_error"`
	InvHv         []float64 `json:"invhv,omitempty"` // by the B-pass
	Kind          string    `json:"kind,omitempty"`
	Certified     bool      `json:"certified"`
	Residual      float64   `json:"residual,omitempty"` // ‖H u − v‖/‖v‖ by the exact R-pass
	InvHvClosed   []float64 `json:"invhv_closed_form,omitempty"`
	InvHvRelErr   float64   `json:"invhv_rel_error,omitempty"`
	InvHvFD       []float64 `json:"invhv_fd,omitempty"` // central differences of the inverse pass
	InvHvFDRelErr float64   `json:"invhv_fd_rel_error,omitempty"`
	Inverse       string    `json:"inverse_pass"`
	Error         string    `json:"error,omitempty"` // why there is no H⁻¹v
}

type report struct {
	X       []float64 `json:"x"`
	V       []float64 `json:"v"`
	FDStep  float64   `json:"fd_step"`
	Results []result  `json:"results"`
}

func (r *report) refused() bool {
	for _, res := range r.Results {
		if res.Error != "" {
			return true
		}
	}
	return false
}

// newProducts builds f at x (a 3×1 weight) and its products.
func newProducts(f function, x []float64) (*hvp.Problem, error) {
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(len(x), 1), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(len(x), 1), tensor.WithBacking(append([]float64(nil), x...)))))
	loss, err := f.build(w)
	if err != nil {
		return nil, err
	}
	return hvp.New(loss, w)
}

// column returns v as a vector of p's layout (a weight of one column).
func column(p *hvp.Problem, v []float64) *params.Vector {
	return params.FromFlat(p.Layout(), append([]float64(nil), v...))
}

// relDiff returns ‖a − b‖/‖b‖ of two values of one weight.
func relDiff(a, b []float64) float64 {
	l, err := params.NewLayout([]string{"x"}, []tensor.Shape{{len(a)}}, tensor.Float64, nil)
	if err != nil {
		panic(err)
	}
	return params.RelDiff(params.FromFlat(l, a), params.FromFlat(l, b))
}

func run(x, v []float64, step float64) (*report, error) {
	rep := &report{X: x, V: v, FDStep: step}
	for _, f := range functions {
		p, err := newProducts(f, x)
		if err != nil {
			return nil, err
		}
		res := result{Function: f.name, Inverse: f.method, HvClosed: f.hv(x, v)}
		hv, err := p.Hv(column(p, v))
		if err != nil {
			return nil, err
		}
		res.Hv = hv.Flat()
		res.HvRelErr = relDiff(res.Hv, res.HvClosed)
		inv, err := p.Block(0).InvHv(column(p, v), nil)
		if err != nil {
			if !errors.Is(err, errs.ErrCondition) && !errors.Is(err, errs.ErrNoInverse) {
				return nil, err
			}
			res.Error = err.Error()
			rep.Results = append(rep.Results, res)
			continue
		}
		res.InvHv, res.Kind, res.Certified, res.Residual = inv.U.Flat(), inv.Kind.String(), inv.Certified, inv.Residual
		res.InvHvClosed = f.invHv(x, v)
		res.InvHvRelErr = relDiff(res.InvHv, res.InvHvClosed)
		fd, err := reference.InvHvFD(p, 0, column(p, v), step, &hvp.Options{BestEffort: true})
		if err != nil {
			return nil, err
		}
		res.InvHvFD = fd.U.Flat()
		res.InvHvFDRelErr = relDiff(res.InvHvFD, res.InvHvClosed)
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func (r *report) write(w io.Writer, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(r)
	}
	vec := func(x []float64) string {
		s := make([]string, len(x))
		for i, xi := range x {
			s[i] = strconv.FormatFloat(xi, 'g', 10, 64)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	fmt.Fprintf(w, "x = %s, v = %s\n", vec(r.X), vec(r.V))
	for _, res := range r.Results {
		fmt.Fprintf(w, "\nf(x) = %s\n", res.Function)
		fmt.Fprintf(w, "  H v    R-pass                     %s\n", vec(res.Hv))
		fmt.Fprintf(w, "         closed form                %s   rel. diff %.1e\n", vec(res.HvClosed), res.HvRelErr)
		if res.Error != "" {
			fmt.Fprintf(w, "  H⁻¹v   none: %s\n", res.Error)
			continue
		}
		fmt.Fprintf(w, "  H⁻¹v   B-pass (%s)\n", res.Inverse)
		fmt.Fprintf(w, "                                    %s   %s, certified %v, residual ‖Hu − v‖/‖v‖ %.1e\n", vec(res.InvHv), res.Kind, res.Certified, res.Residual)
		fmt.Fprintf(w, "         closed form                %s   rel. diff %.1e\n", vec(res.InvHvClosed), res.InvHvRelErr)
		fmt.Fprintf(w, "         FD of the inverse, r=%.0e %s   rel. diff %.1e\n", r.FDStep, vec(res.InvHvFD), res.InvHvFDRelErr)
	}
	return nil
}
