package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// TanhFunc is f(x) = tanh x, a smooth activation. With t = tanh x:
//
//	f'  = 1 − t²
//	f'' = −2t(1 − t²)
//	f''' = (6t² − 2)(1 − t²)
//
// Its inverse is artanh on (−1, 1). A smooth activation's derivative is not
// frozen, so the inverse pass of a tanh net meets the dependency loop of
// method.md §4 and is refused; Hv is exact.
type TanhFunc struct{}

// Tanh returns the node tanh(x).
func Tanh(x *G.Node) (*G.Node, error) { return Map(TanhFunc{}, x) }

func (TanhFunc) String() string               { return "tanh" }
func (TanhFunc) Inverse() (ScalarFunc, error) { return AtanhFunc{}, nil }
func (TanhFunc) InverseCondition() string     { return "|y| < 1" }

func (TanhFunc) Deriv(order int, x float64) (float64, bool) {
	t := math.Tanh(x)
	switch order {
	case 0:
		return t, true
	case 1:
		return 1 - t*t, true
	case 2:
		return -2 * t * (1 - t*t), true
	case 3:
		return (6*t*t - 2) * (1 - t*t), true
	}
	return 0, false
}

// AtanhFunc is f(y) = artanh y on (−1, 1): f' = 1/(1 − y²),
// f” = 2y/(1 − y²)², f”' = (2 + 6y²)/(1 − y²)³. Outside (−1, 1) it is
// an error, never an Inf or NaN.
type AtanhFunc struct{}

func (AtanhFunc) String() string               { return "artanh" }
func (AtanhFunc) Inverse() (ScalarFunc, error) { return TanhFunc{}, nil }
func (AtanhFunc) InverseCondition() string     { return "always" }

func (AtanhFunc) Deriv(order int, y float64) (float64, bool) {
	if !(math.Abs(y) < 1) {
		return math.NaN(), true // reported by ElementwiseOp.Do
	}
	u := 1 - y*y
	switch order {
	case 0:
		return math.Atanh(y), true
	case 1:
		return 1 / u, true
	case 2:
		return 2 * y / (u * u), true
	case 3:
		return (2 + 6*y*y) / (u * u * u), true
	}
	return 0, false
}
