// Package plots holds what the repository's gonum/plot figures share.
package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
)

// Decades marks the powers of ten of a log axis, labelling every Every-th
// as 1eK (1 when zero).
type Decades struct{ Every int }

func (d Decades) Ticks(min, max float64) []plot.Tick {
	every := max1(d.Every)
	var out []plot.Tick
	for k := int(math.Floor(math.Log10(min))); k <= int(math.Ceil(math.Log10(max))); k++ {
		t := plot.Tick{Value: math.Pow(10, float64(k))}
		if k%every == 0 {
			t.Label = fmt.Sprintf("1e%d", k)
		}
		out = append(out, t)
	}
	return out
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
