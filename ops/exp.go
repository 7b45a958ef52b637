package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// ExpFunc is f(x) = eˣ: every derivative is eˣ, and its inverse is the
// logarithm. An overflow is an error (ErrNotFinite), never an Inf.
type ExpFunc struct{}

// Exp returns the node eˣ.
func Exp(x *G.Node) (*G.Node, error) { return Map(ExpFunc{}, x) }

func (ExpFunc) String() string               { return "exp" }
func (ExpFunc) Inverse() (ScalarFunc, error) { return LogFunc{}, nil }
func (ExpFunc) InverseCondition() string     { return "y > 0" }

func (ExpFunc) Deriv(order int, x float64) (float64, bool) {
	if order < 0 {
		return 0, false
	}
	return math.Exp(x), true
}

// LogFunc is f(y) = log y on y > 0: f⁽ᵏ⁾ = (−1)ᵏ⁻¹ (k − 1)! / yᵏ. Its
// inverse is exp. Outside y > 0 it is an error, never an Inf or NaN.
type LogFunc struct{}

// Log returns the node log x.
func Log(x *G.Node) (*G.Node, error) { return Map(LogFunc{}, x) }

func (LogFunc) String() string               { return "log" }
func (LogFunc) Inverse() (ScalarFunc, error) { return ExpFunc{}, nil }
func (LogFunc) InverseCondition() string     { return "always" }

func (LogFunc) Deriv(order int, y float64) (float64, bool) {
	if !(y > 0) {
		return math.NaN(), true // reported by ElementwiseOp.Do
	}
	switch {
	case order < 0:
		return 0, false
	case order == 0:
		return safeLog(y), true
	}
	d := 1 / y
	for k := 2; k <= order; k++ {
		d *= -float64(k-1) / y
	}
	return d, true
}

// safeLog is math.Log, right for subnormal x too: Go's math.Log on amd64
// is wrong below the smallest normal number (math.Log(7.05e-316) gives
// −709.09; the logarithm is −725.66), so such an x is normalised first,
// log(m·2^e) = log m + e·log 2.
func safeLog(x float64) float64 {
	if x > 0 && x < 0x1p-1022 {
		m, e := math.Frexp(x)
		return math.Log(m) + float64(e)*math.Ln2
	}
	return math.Log(x)
}
