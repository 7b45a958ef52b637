package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/newtonia/newtonia/internal/plots"
	"github.com/newtonia/newtonia/nets"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeCSV writes one row per method and problem, atomically.
func writeCSV(path string, recs []record) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"problem", "method", "setting", "hv_products", "seconds", "residual", "pearson_loo", "pearson_exact"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range recs {
		w.Write([]string{r.problem, r.method, r.setting, strconv.Itoa(r.products), g(r.seconds), g(r.residual), g(r.pearsonLOO), g(r.pearsonExact)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return nets.WriteFile(path, b.Bytes(), true) // atomic, replacing an earlier run's
}

// writePNG draws, per problem, the predicted change of the test loss (−I_i)
// of the exact method and of CG and LiSSA at the exact method's time
// against the retrained change (leave-one-out), one panel each.
func writePNG(path string, recs []record, loo map[string][]float64) error {
	var row []*plot.Plot
	var order []string
	for _, r := range recs {
		if len(order) == 0 || order[len(order)-1] != r.problem {
			order = append(order, r.problem)
		}
	}
	for _, name := range order {
		p := plot.New()
		p.Title.Text = name + ": influence vs leave-one-out"
		p.X.Label.Text, p.Y.Label.Text = "retrained change of the test loss", "predicted, −I_i"
		var args []any
		for _, r := range recs {
			if r.problem != name || !(r.method == "exact" || r.setting[:min(len(r.setting), 12)] == "exact's time") {
				continue
			}
			xys := make(plotter.XYs, len(r.scores))
			for i, s := range r.scores {
				xys[i].X, xys[i].Y = loo[name][i], -s
			}
			args = append(args, fmt.Sprintf("%s (%s), r = %.3f", r.method, r.setting, r.pearsonLOO), xys)
		}
		if err := plotutil.AddScatters(p, args...); err != nil {
			return err
		}
		row = append(row, p)
	}
	png, err := plots.PNG([][]*plot.Plot{row}, vg.Length(len(row))*6*vg.Inch, 5*vg.Inch)
	if err != nil {
		return err
	}
	return nets.WriteFile(path, png, true)
}
