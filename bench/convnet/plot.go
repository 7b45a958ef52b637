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
	w.Write([]string{"method", "seed", "step", "passes", "cost_passes", "seconds", "train_loss", "test_accuracy", "fallbacks"})
	for _, r := range recs {
		w.Write([]string{r.method, strconv.FormatUint(r.seed, 10), strconv.Itoa(r.step), strconv.FormatFloat(r.passes, 'f', 4, 64),
			strconv.FormatFloat(r.cost, 'f', 4, 64), strconv.FormatFloat(r.seconds, 'f', 3, 64), strconv.FormatFloat(r.loss, 'g', 6, 64),
			strconv.FormatFloat(r.acc, 'f', 4, 64), strconv.Itoa(r.fallbacks)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return nets.WriteFile(path, b.Bytes(), true) // atomic, replacing an earlier run's
}

// writePNG draws four panels for every run (a line per method and seed):
// the monitored training loss and the test accuracy against passes and
// against training seconds.
func writePNG(path string, recs []record) error {
	type key struct {
		method string
		seed   uint64
	}
	var order []key
	by := map[key][]record{}
	for _, r := range recs {
		k := key{r.method, r.seed}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	panel := func(title, xl, yl string, x, y func(record) float64, logY bool) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xl, yl
		if logY {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		var args []any
		for _, k := range order {
			var xys plotter.XYs
			for _, r := range by[k] {
				if fy := y(r); !isBad(fy) && (!logY || fy > 0) {
					xys = append(xys, plotter.XY{X: x(r), Y: fy})
				}
			}
			if len(xys) > 0 {
				args = append(args, k.method+" seed "+strconv.FormatUint(k.seed, 10), xys)
			}
		}
		return p, plotutil.AddLinePoints(p, args...)
	}
	secs := func(r record) float64 { return r.seconds }
	passes := func(r record) float64 { return r.passes }
	loss := func(r record) float64 { return r.loss }
	acc := func(r record) float64 { return 100 * r.acc }
	grid := [][]*plot.Plot{make([]*plot.Plot, 2), make([]*plot.Plot, 2)}
	specs := []struct {
		i, j        int
		title, x, y string
		fx, fy      func(record) float64
		log         bool
	}{
		{0, 0, "training loss vs passes", "passes over the training set (images drawn)", "mean loss (monitored images)", passes, loss, true},
		{0, 1, "training loss vs time", "training seconds", "mean loss (monitored images)", secs, loss, true},
		{1, 0, "test accuracy vs passes", "passes over the training set (images drawn)", "test accuracy (%)", passes, acc, false},
		{1, 1, "test accuracy vs time", "training seconds", "test accuracy (%)", secs, acc, false},
	}
	for _, s := range specs {
		var err error
		if grid[s.i][s.j], err = panel(s.title, s.x, s.y, s.fx, s.fy, s.log); err != nil {
			return err
		}
	}
	png, err := plots.PNG(grid, 12*vg.Inch, 9*vg.Inch)
	if err != nil {
		return err
	}
	return nets.WriteFile(path, png, true) // atomic, replacing an earlier run's
}

func isBad(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
