package spectral_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/spectral"
)

// laplacian is the n × n second-difference matrix tridiag(−1, 2, −1), whose
// eigenvalues are 2 − 2cos(kπ/(n+1)), k = 1…n.
type laplacian int

func (l laplacian) Size() int       { return int(l) }
func (l laplacian) Symmetric() bool { return true }
func (l laplacian) Apply(dst, x []float64) error {
	for i := range x {
		dst[i] = 2 * x[i]
		if i > 0 {
			dst[i] -= x[i-1]
		}
		if i+1 < len(x) {
			dst[i] -= x[i+1]
		}
	}
	return nil
}

// Any symmetric linear map is an Operator: the three largest eigenvalues of
// a 100 × 100 second-difference matrix, against their closed form, and its
// trace (200) by Hutch++.
func ExampleLanczos() {
	a := laplacian(100)
	e, err := spectral.Lanczos(a, 3, spectral.LargestAlgebraic, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for k, v := range e.Values {
		fmt.Printf("λ = %.8f  closed form %.8f\n", v, 2-2*math.Cos(float64(100-k)*math.Pi/101))
	}
	tr, _ := spectral.HutchPP(a, &spectral.TraceOptions{Samples: 60})
	fmt.Printf("trace ≈ %.4g ± %.2g (%d products; exact 200)\n", tr.Value, tr.StdErr, tr.Products)
	// Output:
	// λ = 3.99903256  closed form 3.99903256
	// λ = 3.99613119  closed form 3.99613119
	// λ = 3.99129870  closed form 3.99129870
	// trace ≈ 201.6 ± 3.6 (60 products; exact 200)
}

// The eigenvalues of a block nearest zero, by Lanczos on its exact inverse
// (one B-pass per step), each certified by ‖H_ll x − λ x‖ with Hv.
func ExampleShiftInvert() {
	tanh := ops.TanhFunc{}
	m, _ := nets.Build(nets.Spec{Batch: 6, In: 5, Layers: []nets.Layer{
		{Out: 5, Act: tanh, Bias: true}, {Out: 5, Act: tanh, Bias: true}, {Out: 5, Act: tanh, Bias: true}}})
	m.Randomize(rand.New(rand.NewPCG(1, 1)), 1/math.Sqrt(5), 1)
	p, _ := hvp.New(m.Loss, m.Params()...)
	b := p.Block(2)
	e, err := spectral.ShiftInvert(b, 2, 0, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, v := range e.Values {
		fmt.Printf("%s: λ = %.4g, residual below 1e-9: %v\n", b.Name(), v, e.Residuals[i] < 1e-9)
	}
	fmt.Println("B-passes ≤ 30:", e.Products <= 30)
	// Output:
	// W3+b3: λ = 8.597e-06, residual below 1e-9: true
	// W3+b3: λ = 4.574e-06, residual below 1e-9: true
	// B-passes ≤ 30: true
}
