package main

import (
	"image/color"
	"math"

	"github.com/newtonia/newtonia/internal/plots"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// palette has a colour per method (plotutil's default has seven).
var palette = []color.Color{
	color.RGBA{228, 26, 28, 255}, color.RGBA{55, 126, 184, 255}, color.RGBA{77, 175, 74, 255}, color.RGBA{152, 78, 163, 255},
	color.RGBA{255, 127, 0, 255}, color.RGBA{166, 86, 40, 255}, color.RGBA{0, 0, 0, 255}, color.RGBA{153, 153, 153, 255},
}

// plotRuns draws one panel per shape: relative loss against
// gradient-equivalents, one line per method, log-log.
func plotRuns(runs []*run) ([]byte, error) {
	var order []string
	by := map[string][]*run{}
	for _, r := range runs {
		if _, ok := by[r.shape]; !ok {
			order = append(order, r.shape)
		}
		by[r.shape] = append(by[r.shape], r)
	}
	cols := 2
	rows := (len(order) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, name := range order {
		p := plot.New()
		p.Title.Text = name
		p.X.Label.Text, p.Y.Label.Text = "gradient-equivalents (by time)", "L / L₀"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plots.Decades{Every: 1}, plots.Decades{Every: 4}
		for mi, r := range by[name] {
			var xy plotter.XYs
			for _, pt := range r.curve {
				if pt.grads > 0 && pt.rel > 0 && !math.IsInf(pt.rel, 0) {
					xy = append(xy, plotter.XY{X: pt.grads, Y: math.Max(pt.rel, 1e-30)})
				}
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			l.Color = palette[mi%len(palette)]
			l.Dashes = plotutil.Dashes(mi)
			l.Width = vg.Points(1.2)
			p.Add(l)
			p.Legend.Add(r.method, l)
		}
		p.Legend.Top = false
		p.Legend.Left = true
		p.Legend.TextStyle.Font.Size = vg.Points(7)
		grid[i/cols][i%cols] = p
	}
	return plots.PNG(grid, 12*vg.Inch, vg.Length(rows)*4*vg.Inch)
}
