package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// SoftplusFunc is f(x) = log(1 + eˣ), a smooth activation whose
// derivative is the sigmoid: with s = σ(x),
//
//	f'   = s
//	f''  = s(1 − s)
//	f''' = s(1 − s)(1 − 2s)
//
// Its inverse is log(eʸ − 1) on y > 0.
type SoftplusFunc struct{}

// Softplus returns the node log(1 + eˣ).
func Softplus(x *G.Node) (*G.Node, error) { return Map(SoftplusFunc{}, x) }

func (SoftplusFunc) String() string               { return "softplus" }
func (SoftplusFunc) Inverse() (ScalarFunc, error) { return SoftplusInvFunc{}, nil }
func (SoftplusFunc) InverseCondition() string     { return "y > 0" }

func (SoftplusFunc) Deriv(order int, x float64) (float64, bool) {
	if order == 0 {
		return softplus(x), true
	}
	return SigmoidFunc{}.Deriv(order-1, x)
}

// softplus is log(1 + eˣ) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// SoftplusInvFunc is f(y) = log(eʸ − 1) on y > 0, the inverse of softplus:
// with q = 1/(1 − e⁻ʸ), f' = q, f” = q(1 − q), f”' = q(1 − q)(1 − 2q).
// Outside y > 0 it is an error, never an Inf or NaN.
type SoftplusInvFunc struct{}

func (SoftplusInvFunc) String() string               { return "softplus⁻¹" }
func (SoftplusInvFunc) Inverse() (ScalarFunc, error) { return SoftplusFunc{}, nil }
func (SoftplusInvFunc) InverseCondition() string     { return "always" }

func (SoftplusInvFunc) Deriv(order int, y float64) (float64, bool) {
	if !(y > 0) {
		return math.NaN(), true // reported by ElementwiseOp.Do
	}
	q := -1 / math.Expm1(-y)
	switch order {
	case 0:
		return y + safeLog(-math.Expm1(-y)), true
	case 1:
		return q, true
	case 2:
		return q * (1 - q), true
	case 3:
		return q * (1 - q) * (1 - 2*q), true
	}
	return 0, false
}
