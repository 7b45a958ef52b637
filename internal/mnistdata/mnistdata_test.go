package mnistdata

import (
	"path/filepath"
	"strings"
	"testing"
)

// Batch copies the chosen rows, in order, and one-hot encodes their
// labels; Head shares the first rows; a folder without the files is an
// error naming it and the missing files.
func TestBatchHeadCheck(t *testing.T) {
	d := &Set{X: make([]float64, 3*Pixels), Labels: []int{7, 0, 9}}
	for i := range d.X {
		d.X[i] = float64(i / Pixels) // image i holds i everywhere
	}
	x, y := d.Batch([]int{2, 0}, 1, Side, Side)
	if s := x.Shape(); len(s) != 4 || s[0] != 2 || s[1] != 1 || s[2] != Side || s[3] != Side {
		t.Fatalf("shape %v", s)
	}
	xs, ys := x.Float64s(), y.Float64s()
	if xs[0] != 2 || xs[Pixels-1] != 2 || xs[Pixels] != 0 || ys[9] != 1 || ys[Classes+7] != 1 || ys[0] != 0 {
		t.Errorf("rows %v %v %v, targets %v", xs[0], xs[Pixels-1], xs[Pixels], ys)
	}
	if h := d.Head(2); h.N() != 2 || &h.X[0] != &d.X[0] || d.Head(0) != d || d.Head(5) != d {
		t.Errorf("Head: %d images", h.N())
	}
	dir := filepath.Join(t.TempDir(), "none")
	if err := Check(dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), Files[0]) {
		t.Errorf("Check: %v", err)
	}
}
