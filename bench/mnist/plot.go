package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeCSV writes every evaluation, atomically (a temporary file renamed).
func writeCSV(path string, recs []record) error {
	return writeAtomic(path, func(f *os.File) error {
		w := csv.NewWriter(f)
		w.Write([]string{"method", "step", "seconds", "passes", "train_loss", "test_accuracy", "final", "seed"})
		for _, r := range recs {
			w.Write([]string{r.method, strconv.Itoa(r.step), strconv.FormatFloat(r.seconds, 'f', 3, 64),
				strconv.FormatFloat(r.passes, 'f', 4, 64), strconv.FormatFloat(r.loss, 'g', 6, 64),
				strconv.FormatFloat(r.acc, 'f', 4, 64), strconv.FormatBool(r.final), strconv.FormatUint(r.seed, 10)})
		}
		w.Flush()
		return w.Error()
	})
}

// writeAtomic writes path through a temporary file in its folder, renamed
// into place once complete: a reader never sees a partial file.
func writeAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
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
			xys := make(plotter.XYs, len(by[m]))
			for i, r := range by[m] {
				xys[i].X, xys[i].Y = x(r), y(r)
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
	img := vgimg.New(12*vg.Inch, 9*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	grid := [][]*plot.Plot{{ps[0][0], ps[0][1]}, {ps[1][0], ps[1][1]}}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			grid[i][j].Draw(canvases[i][j])
		}
	}
	return writeAtomic(path, func(f *os.File) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f)
		return err
	})
}
