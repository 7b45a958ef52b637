// Command householder runs Newton's, Halley's and Chebyshev's steps for ∇_l J = 0 per block (solver.IterateBlock)
// on the writeup's functions plus a linear term, tanh and softplus nets per block and a leaky net (T = 0), and
// prints ‖∇_l J‖ per iteration, the orders, iterations and seconds to 1e-12 (fastest and median of -reps
// interleaved runs; docs/householder.md); -json prints {"problems": [{"name": …, "methods": {"newton": [e0, …],
// …}}]}. go run ./examples/householder [-json] [-full] [-reps 300] [-png docs/householder.png]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/newtonia/newtonia/internal/plots"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/solver"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	G "gorgonia.org/gorgonia"
)

var methods = []solver.Householder{solver.HouseholderNewton, solver.HouseholderHalley, solver.HouseholderChebyshev}

// runs times the methods on pr, interleaved (the load weighs on each alike), reps runs each after one that builds
// the passes; it returns their traces, seconds and step orders from w* + r·(w₀ − w*), r = 2⁻⁴…2⁻¹⁰ (NaN: T = 0).
func runs(pr problem, opt *solver.HouseholderOptions, reps int) (trs []*solver.BlockTrace, secs [][]float64, ords []float64) {
	p, l := pr.make()
	w0, err := p.Current()
	check(pr.name, err)
	secs = make([][]float64, len(methods))
	run := func(m solver.Householder) *solver.BlockTrace {
		check(pr.name, p.SetWeights(w0))
		tr, err := solver.IterateBlock(p, l, m, 30, 1e-12, opt)
		check(fmt.Sprintf("%s, %v", pr.name, m), err)
		return tr
	}
	for k := 0; k <= reps; k++ {
		for i, m := range methods {
			if tr := run(m); k > 0 {
				secs[i] = append(secs[i], tr.Seconds[len(tr.Seconds)-1])
			}
		}
	}
	for _, m := range methods {
		tr := run(m)
		ws, err := p.Current()
		check(pr.name, err)
		ord, _, _, err := solver.StepOrder(p, l, m, ws, w0, []float64{0x1p-4, 0x1p-5, 0x1p-6, 0x1p-7, 0x1p-8, 0x1p-9, 0x1p-10}, 1e-13, nil)
		check(fmt.Sprintf("%s, %v: order", pr.name, m), err)
		trs, ords = append(trs, tr), append(ords, ord)
	}
	return trs, secs, ords
}

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object of the errors per iteration")
	png := flag.String("png", "", "write the error curves to this PNG file (atomically)")
	full := flag.Bool("full", false, "full steps only: without IterateBlock's rule skipping a correction that cannot matter")
	reps := flag.Int("reps", 300, "timed runs of each method, interleaved, after one that builds the passes")
	flag.Parse()
	// Each net's seed is the first from 0 where all three methods converge from its start.
	problems := []problem{
		{"Σ xᵢ³ − c·x", cubic(func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) }, []float64{1.1, -1.3, 2.2}, []float64{3, 6.75, 12})}, // root (1, −1.5, 2)
		{"x₁x₂x₃ − c·x", cubic(ops.Product, []float64{2.2, 1.1, 0.5}, []float64{1, 2, 4})},                                                                    // root (2√2, √2, √2/2)
		{"tanh net, W1+b1", net(ops.TanhFunc{}, 0, 0.05, 2)}, {"tanh net, W2+b2", net(ops.TanhFunc{}, 1, 0.05, 0)}, {"softplus net, W1+b1", net(ops.SoftplusFunc{}, 0, 0.05, 0)},
		{"softplus net, W2+b2", net(ops.SoftplusFunc{}, 1, 0.05, 0)}, {"leaky net, W2+b2 (T = 0)", net(ops.LeakyReLUFunc{Alpha: 0.5}, 1, 0.05, 0)},
	}
	out, panels := []map[string]any{}, []*plot.Plot{}
	for _, pr := range problems {
		ms, series := map[string][]float64{}, []any{} // series: name, points, … for plotutil
		pl := plot.New()
		pl.Title.Text, pl.X.Label.Text, pl.Y.Label.Text = pr.name, "iteration", "log10 of the gradient norm"
		trs, secs, ords := runs(pr, &solver.HouseholderOptions{FullSteps: *full}, *reps)
		for i, m := range methods {
			e, s := trs[i].Errors, slices.Sorted(slices.Values(secs[i]))
			if ms[m.String()] = e; !*asJSON {
				fmt.Printf("%-26s %-9v %2d iterations, %.2e s (median %.2e), %d skipped   errors %.1e\n%38s step order %.2f; run's orders %.2f\n",
					pr.name, m, len(e)-1, s[0], s[len(s)/2], trs[i].Skipped(), e, "", ords[i], solver.Orders(e, 1e-14))
			}
			xy := make(plotter.XYs, len(e))
			for k := range e {
				xy[k] = plotter.XY{X: float64(k), Y: math.Log10(math.Max(e[k], 1e-17))}
			}
			series = append(series, m.String(), xy)
		}
		check("plot", plotutil.AddLinePoints(pl, series...))
		out, panels = append(out, map[string]any{"name": pr.name, "methods": ms}), append(panels, pl)
	}
	if *asJSON {
		check("json", json.NewEncoder(os.Stdout).Encode(map[string]any{"problems": out}))
	}
	if *png != "" {
		b, err := plots.PNG([][]*plot.Plot{panels[0:4], panels[4:]}, 32*vg.Centimeter, 16*vg.Centimeter)
		check("png", err)
		check("png", nets.WriteFile(*png, b, true)) // a temporary file renamed into place
	}
}

// check ends the program on an error, naming what failed.
func check(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "householder: %s: %v\n", what, err)
		os.Exit(1)
	}
}
