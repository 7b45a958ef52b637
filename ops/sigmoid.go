package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// SigmoidFunc is σ(x) = 1/(1 + e⁻ˣ), a smooth activation. With s = σ(x):
//
//	σ'   = s(1 − s)
//	σ''  = s(1 − s)(1 − 2s)
//	σ''' = s(1 − s)(1 − 6s + 6s²)
//
// Its inverse is the logit on (0, 1).
type SigmoidFunc struct{}

// Sigmoid returns the node σ(x).
func Sigmoid(x *G.Node) (*G.Node, error) { return Map(SigmoidFunc{}, x) }

func (SigmoidFunc) String() string               { return "sigmoid" }
func (SigmoidFunc) Inverse() (ScalarFunc, error) { return LogitFunc{}, nil }
func (SigmoidFunc) InverseCondition() string     { return "0 < y < 1" }

func (SigmoidFunc) Deriv(order int, x float64) (float64, bool) {
	s := sigmoid(x)
	d := s * (1 - s)
	switch order {
	case 0:
		return s, true
	case 1:
		return d, true
	case 2:
		return d * (1 - 2*s), true
	case 3:
		return d * (1 - 6*s + 6*s*s), true
	}
	return 0, false
}

// sigmoid is σ(x) without overflow for either sign of x.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// LogitFunc is f(y) = log(y/(1 − y)) on (0, 1), the inverse of σ:
// f' = 1/(y(1 − y)), f” = (2y − 1)/(y(1 − y))², f”' = 2(3y² − 3y + 1)/(y(1 − y))³.
// Outside (0, 1) it is an error, never an Inf or NaN.
type LogitFunc struct{}

func (LogitFunc) String() string               { return "logit" }
func (LogitFunc) Inverse() (ScalarFunc, error) { return SigmoidFunc{}, nil }
func (LogitFunc) InverseCondition() string     { return "always" }

func (LogitFunc) Deriv(order int, y float64) (float64, bool) {
	if !(y > 0 && y < 1) {
		return math.NaN(), true // reported by ElementwiseOp.Do
	}
	u := y * (1 - y)
	switch order {
	case 0:
		return safeLog(y) - math.Log1p(-y), true
	case 1:
		return 1 / u, true
	case 2:
		return (2*y - 1) / (u * u), true
	case 3:
		return 2 * (3*y*y - 3*y + 1) / (u * u * u), true
	}
	return 0, false
}
