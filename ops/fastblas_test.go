//go:build !openblas

package ops_test

import (
	"testing"

	"github.com/newtonia/newtonia/fastblas"
	_ "github.com/newtonia/newtonia/ops" // installs fastblas
	"gonum.org/v1/gonum/blas/blas64"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The default build runs every product on fastblas: gonum's blas64 (and so
// gonum/mat and gonum/lapack), Gorgonia's and tensor's BLAS.
func TestFastBLASInstalled(t *testing.T) {
	if _, ok := blas64.Implementation().(fastblas.Implementation); !ok {
		t.Errorf("blas64 uses %T", blas64.Implementation())
	}
	if _, ok := G.WhichBLAS().(fastblas.Implementation); !ok {
		t.Errorf("Gorgonia uses %T", G.WhichBLAS())
	}
	if _, ok := tensor.WhichBLAS().(fastblas.Implementation); !ok {
		t.Errorf("tensor uses %T", tensor.WhichBLAS())
	}
	t.Logf("kernel: %s", fastblas.Kernel())
}
