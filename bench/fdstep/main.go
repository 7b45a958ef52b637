// Command fdstep measures what finite differences cost: for the writeup's
// Σxᵢ³ and x₁x₂x₃, the seed's 3×3 leaky net and a 4-4-4 tanh net (block
// W1), the relative error of finite-difference Hv and H⁻¹v against the step
// r, from 1e-12 to 1e-1, beside the exact R-pass and B-pass as flat lines at
// their measured error. Every error is against a closed-form dense block
// (6 diag(x), the product Hessian, J₁ᵀJ₁, the per-sample form of method.md
// §9), solved by LU. It writes a PNG and, beside it, the data as CSV:
//
//	go run ./bench/fdstep -png docs/fd-vs-step.png [-force]
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/plots"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	png := flag.String("png", "docs/fd-vs-step.png", "write the plot to this PNG file (and its data beside it as .csv)")
	force := flag.Bool("force", false, "replace existing files")
	flag.Parse()
	if err := plotFD(*png, *force, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fdstep:", err)
		os.Exit(1)
	}
}

// curve is one problem's errors against the step.
type curve struct {
	name         string
	fdInvLabel   string
	steps        []float64
	hvFD, invFD  []float64 // relative errors of the finite differences
	rpass, bpass float64   // relative errors of the exact products
}

// problem is a block with its independent references: the dense block
// (closed form) and a direction.
type problem struct {
	name string
	p    *hvp.Problem
	h    *mat.Dense     // the block Hessian, from a closed form
	v    *params.Vector // of block 0's layout
	// invFD is the finite-difference H⁻¹v at step r.
	invFD      func(r float64) ([]float64, error)
	invFDLabel string
}

// floor keeps a zero error visible on a log axis.
const floor = 1e-17

func plotFD(path string, force bool, log io.Writer) error {
	if !strings.HasSuffix(path, ".png") {
		return fmt.Errorf("-png %s: want a .png file", path)
	}
	probs, err := problems()
	if err != nil {
		return err
	}
	var steps []float64
	for k := -48; k <= -4; k++ { // 1e-12 … 1e-1, four per decade
		steps = append(steps, math.Pow(10, float64(k)/4))
	}
	var curves []curve
	for _, pr := range probs {
		c, err := measure(pr, steps)
		if err != nil {
			return fmt.Errorf("%s: %w", pr.name, err)
		}
		fmt.Fprintf(log, "%-28s R-pass %.1e, B-pass %.1e; best FD Hv %.1e, best FD H⁻¹v %.1e\n",
			pr.name, c.rpass, c.bpass, minOf(c.hvFD), minOf(c.invFD))
		curves = append(curves, c)
	}
	png, err := draw4(curves)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"problem", "step", "hv_fd_rel_error", "invhv_fd_rel_error", "invhv_fd_method", "rpass_rel_error", "bpass_rel_error"})
	for _, c := range curves {
		for i, r := range c.steps {
			w.Write([]string{c.name, strconv.FormatFloat(r, 'g', 6, 64), strconv.FormatFloat(c.hvFD[i], 'g', 4, 64),
				strconv.FormatFloat(c.invFD[i], 'g', 4, 64), c.fdInvLabel, strconv.FormatFloat(c.rpass, 'g', 4, 64), strconv.FormatFloat(c.bpass, 'g', 4, 64)})
		}
	}
	w.Flush()
	if err := nets.WriteFile(path, png, force); err != nil {
		return err
	}
	csvPath := strings.TrimSuffix(path, ".png") + ".csv"
	if err := nets.WriteFile(csvPath, b.Bytes(), force); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s and %s\n", path, csvPath)
	return nil
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

// problems builds the four problems of the plot: the writeup's two
// functions at x = (1.5, −2, 0.5), v = (1, 2, 3), and two nets.
func problems() ([]problem, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	var out []problem
	x, v := []float64{1.5, -2, 0.5}, []float64{1, 2, 3}
	for _, f := range []struct {
		name  string
		build func(x *G.Node) (*G.Node, error)
		h     []float64 // its Hessian at x, row-major
	}{
		{"Σ xᵢ³", func(x *G.Node) (*G.Node, error) { return ops.Sum(G.Must(ops.Pow(x, 3))) },
			[]float64{6 * x[0], 0, 0, 0, 6 * x[1], 0, 0, 0, 6 * x[2]}},
		{"x₁x₂x₃", ops.Product, []float64{0, x[2], x[1], x[2], 0, x[0], x[1], x[0], 0}},
	} {
		g := G.NewGraph()
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), x...)))))
		loss, err := f.build(w)
		if err != nil {
			return nil, err
		}
		p, err := hvp.New(loss, w)
		if err != nil {
			return nil, err
		}
		out = append(out, problem{name: f.name, p: p, h: mat.NewDense(3, 3, f.h),
			v: params.FromFlat(p.Layout(), append([]float64(nil), v...)), invFDLabel: "FD of the inverse pass"})
	}
	// The seed's net: 3×3 leaky ReLU (slope 0.5), two layers, batch 3,
	// weights randn + 0.1·I; block W1 against its closed form J₁ᵀJ₁.
	seed, err := nets.NewMLP(3, 3, []nets.Layer{{Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 3, Act: ops.LeakyReLUFunc{Alpha: 0.5}}})
	if err != nil {
		return nil, err
	}
	if err := seed.Randomize(rng, 1, 0.1); err != nil {
		return nil, err
	}
	// A tanh net 4-4-4, batch 4: block W1 against the per-sample closed
	// form Aᵀ blockdiag(M_i) A (method.md §9).
	tanh, err := nets.NewMLP(4, 4, []nets.Layer{{Out: 4, Act: ops.TanhFunc{}}, {Out: 4, Act: ops.TanhFunc{}}})
	if err != nil {
		return nil, err
	}
	if err := tanh.Randomize(rng, 0.5, 0); err != nil {
		return nil, err
	}
	for _, n := range []struct {
		name  string
		m     *nets.MLP
		dense func(*nets.MLP) (*mat.Dense, error)
	}{
		{"seed net 3×3 leaky, block W1", seed, func(m *nets.MLP) (*mat.Dense, error) { return m.BlockHessian(0) }},
		{"tanh net 4-4-4, block W1", tanh, func(m *nets.MLP) (*mat.Dense, error) { return m.PerSampleHessian(0) }},
	} {
		p, err := hvp.New(n.m.Loss, n.m.Weights...)
		if err != nil {
			return nil, err
		}
		h, err := n.dense(n.m)
		if err != nil {
			return nil, err
		}
		w := n.m.Weights[0]
		d := make([]float64, w.Shape().TotalSize())
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		out = append(out, problem{name: n.name, p: p, h: h, v: params.FromFlat(p.Layout().Block(0), d),
			invFDLabel: "FD of the inverse pass"})
	}
	// The tanh block has no inverse pass (method.md §4): its
	// finite-difference H⁻¹v is the dense block of central differences of
	// the gradient, solved.
	last := &out[len(out)-1]
	last.invFDLabel = "dense FD Hessian, solved (no inverse pass)"
	last.invFD = func(r float64) ([]float64, error) {
		hd, err := reference.DenseBlockFD(last.p, 0, r, nil)
		if err != nil {
			return nil, err
		}
		return solve(hd, last.v.Flat())
	}
	return out, nil
}

func solve(h *mat.Dense, v []float64) ([]float64, error) {
	var u mat.VecDense
	if err := u.SolveVec(h, mat.NewVecDense(len(v), append([]float64(nil), v...))); err != nil {
		return nil, err
	}
	return u.RawVector().Data, nil
}

// measure returns the relative errors of one problem against its dense
// reference: finite differences at each step, the exact products once.
func measure(pr problem, steps []float64) (curve, error) {
	c := curve{name: pr.name, fdInvLabel: pr.invFDLabel, steps: steps}
	v := pr.v.Flat()
	var hvRef mat.VecDense
	hvRef.MulVec(pr.h, mat.NewVecDense(len(v), v))
	invRef, err := solve(pr.h, v)
	if err != nil {
		return c, err
	}
	rel := func(a, b []float64) float64 { return math.Max(floats.Distance(a, b, 2)/floats.Norm(b, 2), floor) }
	hv, err := pr.p.Block(0).Hv(pr.v)
	if err != nil {
		return c, err
	}
	c.rpass = rel(hv.Flat(), hvRef.RawVector().Data)
	inv, err := pr.p.Block(0).InvHv(pr.v, nil)
	if err != nil {
		return c, err
	}
	c.bpass = rel(inv.U.Flat(), invRef)
	full := params.New(pr.p.Layout())
	full.Block(0).CopyFrom(pr.v)
	for _, r := range steps {
		fd, err := reference.HvFD(pr.p, full, r)
		if err != nil {
			return c, err
		}
		c.hvFD = append(c.hvFD, rel(fd.Block(0).Flat(), hvRef.RawVector().Data))
		var u []float64
		if pr.invFD != nil {
			u, err = pr.invFD(r)
		} else {
			var res *hvp.Result
			if res, err = reference.InvHvFD(pr.p, 0, pr.v, r, &hvp.Options{BestEffort: true}); err == nil {
				u = res.U.Flat()
			}
		}
		e := math.NaN() // the differences left the domain (a pattern flip, a negative root): no point
		if err == nil {
			e = rel(u, invRef)
		}
		c.invFD = append(c.invFD, e)
	}
	return c, nil
}

// draw4 draws one panel per problem: the finite-difference errors against
// the step, on log axes, and the exact products' errors as flat lines.
func draw4(curves []curve) ([]byte, error) {
	var panels []*plot.Plot
	for _, c := range curves {
		p := plot.New()
		p.Title.Text = c.name
		p.X.Label.Text, p.Y.Label.Text = "finite-difference step r", "relative error"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plots.Decades{Every: 1}
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plots.Decades{Every: 2}
		xy := func(ys []float64) plotter.XYs {
			var out plotter.XYs
			for i, y := range ys {
				if !math.IsNaN(y) {
					out = append(out, plotter.XY{X: c.steps[i], Y: y})
				}
			}
			return out
		}
		flat := func(y float64) plotter.XYs {
			return plotter.XYs{{X: c.steps[0], Y: y}, {X: c.steps[len(c.steps)-1], Y: y}}
		}
		if err := plotutil.AddLinePoints(p,
			"Hv: central differences of the gradient", xy(c.hvFD),
			"H⁻¹v: "+c.fdInvLabel, xy(c.invFD)); err != nil {
			return nil, err
		}
		if err := plotutil.AddLines(p,
			fmt.Sprintf("Hv: R-pass (exact), %.0e", c.rpass), flat(c.rpass),
			fmt.Sprintf("H⁻¹v: B-pass (exact), %.0e", c.bpass), flat(c.bpass)); err != nil {
			return nil, err
		}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Y.Min = floor
		panels = append(panels, p)
	}
	return plots.PNG([][]*plot.Plot{{panels[0], panels[1]}, {panels[2], panels[3]}}, 13*vg.Inch, 10*vg.Inch)
}
