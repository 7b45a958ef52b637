package main

import (
	"github.com/newtonia/newtonia/internal/mnistdata"
	"gorgonia.org/tensor"
)

// The loader is internal/mnistdata's (shared with bench/convnet).
var mnistFiles = mnistdata.Files

// dataset holds images as rows of pixels in [0, 1] and their labels.
type dataset struct {
	x      []float64 // n × 784, row-major
	labels []int
}

func (d *dataset) n() int { return len(d.labels) }

// findData returns the directory of the MNIST files: dir if given, else
// the GoMNIST module's data folder (mnistdata.Find).
func findData(dir string) (string, error) { return mnistdata.Find(dir) }

// loadMNIST reads the training and test sets from dir.
func loadMNIST(dir string) (train, test *dataset, err error) {
	tr, te, err := mnistdata.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	return &dataset{x: tr.X, labels: tr.Labels}, &dataset{x: te.X, labels: te.Labels}, nil
}

// batch returns rows idx as an input matrix and one-hot targets.
func (d *dataset) batch(idx []int) (x, y *tensor.Dense) {
	return (&mnistdata.Set{X: d.x, Labels: d.labels}).Batch(idx, mnistdata.Pixels)
}
