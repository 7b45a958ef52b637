package main

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"

	"github.com/newtonia/newtonia/internal/plots"
	"github.com/newtonia/newtonia/nets"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeCSV writes every evaluation, atomically (a temporary file renamed).
func writeCSV(path string, recs []record) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"method", "step", "seconds", "passes", "train_loss", "test_accuracy", "final", "seed"})
	for _, r := range recs {
		w.Write([]string{r.method, strconv.Itoa(r.step), strconv.FormatFloat(r.seconds, 'f', 3, 64),
			strconv.FormatFloat(r.passes, 'f', 4, 64), strconv.FormatFloat(r.loss, 'g', 6, 64),
			strconv.FormatFloat(r.acc, 'f', 4, 64), strconv.FormatBool(r.final), strconv.FormatUint(r.seed, 10)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return nets.WriteFile(path, b.Bytes(), true) // atomic, replacing an earlier run's
}

// writePNG draws four panels: training loss and test accuracy against
// wall-clock time and against passes over the data, for the first seed.
func writePNG(path string, recs []record) error {
	var order []string
	by := map[string][]record{}
	for _, r := range recs {
		if r.seed != recs[0].seed {
			continue
		}
		if _, ok := by[r.method]; !ok {
			order = append(order, r.method)
		}
		by[r.method] = append(by[r.method], r)
	}
	panel := func(title, xl, yl string, x, y func(record) float64, logY bool) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xl, yl
		if logY {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		var args []any
		for _, m := range order {
			var xys plotter.XYs
			for _, r := range by[m] { // a diverged run's last evaluation (loss +Inf, accuracy NaN) is in the CSV, not drawn
				if px, py := x(r), y(r); !math.IsInf(px, 0) && !math.IsNaN(px) && !math.IsInf(py, 0) && !math.IsNaN(py) {
					xys = append(xys, plotter.XY{X: px, Y: py})
				}
			}
			args = append(args, m, xys)
		}
		return p, plotutil.AddLinePoints(p, args...)
	}
	secs := func(r record) float64 { return r.seconds }
	passes := func(r record) float64 { return r.passes }
	loss := func(r record) float64 { return r.loss }
	acc := func(r record) float64 { return 100 * r.acc }
	var ps [2][2]*plot.Plot
	var err error
	specs := []struct {
		i, j        int
		title, x, y string
		fx, fy      func(record) float64
		log         bool
	}{
		{0, 0, "training loss vs time", "training seconds", "mean loss", secs, loss, true},
		{0, 1, "training loss vs passes", "passes over the training set (curvature rows counted)", "mean loss", passes, loss, true},
		{1, 0, "test accuracy vs time", "training seconds", "test accuracy (%)", secs, acc, false},
		{1, 1, "test accuracy vs passes", "passes over the training set (curvature rows counted)", "test accuracy (%)", passes, acc, false},
	}
	for _, s := range specs {
		if ps[s.i][s.j], err = panel(s.title, s.x, s.y, s.fx, s.fy, s.log); err != nil {
			return err
		}
	}
	png, err := plots.PNG([][]*plot.Plot{{ps[0][0], ps[0][1]}, {ps[1][0], ps[1][1]}}, 12*vg.Inch, 9*vg.Inch)
	if err != nil {
		return err
	}
	return nets.WriteFile(path, png, true) // atomic, replacing an earlier run's
}
