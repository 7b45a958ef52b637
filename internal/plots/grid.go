package plots

import (
	"bytes"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PNG draws the panels of grid (rows of plots; a nil panel is left blank)
// on one w × h image and returns it PNG-encoded.
func PNG(grid [][]*plot.Plot, w, h vg.Length) ([]byte, error) {
	cols := 0
	for _, row := range grid {
		cols = max(cols, len(row))
	}
	full := make([][]*plot.Plot, len(grid))
	for i, row := range grid {
		full[i] = make([]*plot.Plot, cols)
		for j := range full[i] {
			if j < len(row) && row[j] != nil {
				full[i][j] = row[j]
				continue
			}
			full[i][j] = plot.New()
			full[i][j].HideAxes()
		}
	}
	img := vgimg.New(w, h)
	pad := vg.Millimeter * 4
	tiles := draw.Tiles{Rows: len(full), Cols: cols, PadX: 2 * pad, PadY: 2 * pad, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	canvases := plot.Align(full, tiles, draw.New(img))
	for i := range full {
		for j := range full[i] {
			full[i][j].Draw(canvases[i][j])
		}
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
