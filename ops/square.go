package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// SquareFunc is f(x) = x²: f' = 2x, f” = 2, f”' = 0. It is not
// injective, so it has no inverse of its own; its inverse on y ≥ 0 from
// the positive branch is SqrtFunc.
type SquareFunc struct{}

// Square returns the node x².
func Square(x *G.Node) (*G.Node, error) { return Map(SquareFunc{}, x) }

func (SquareFunc) String() string { return "square" }

func (SquareFunc) Deriv(order int, x float64) (float64, bool) {
	switch order {
	case 0:
		return x * x, true
	case 1:
		return 2 * x, true
	case 2:
		return 2, true
	case 3:
		return 0, true
	}
	return 0, false
}

// SqrtFunc is f(x) = √x on x ≥ 0 (derivatives on x > 0):
//
//	f' = 1/(2√x),  f'' = −1/(4x√x),  f''' = 3/(8x²√x)
//
// Its inverse is y² on y ≥ 0 (SquareFunc). Outside its domain it is an
// error, never a NaN.
type SqrtFunc struct{}

// Sqrt returns the node √x.
func Sqrt(x *G.Node) (*G.Node, error) { return Map(SqrtFunc{}, x) }

func (SqrtFunc) String() string               { return "sqrt" }
func (SqrtFunc) Inverse() (ScalarFunc, error) { return SquareFunc{}, nil }
func (SqrtFunc) InverseCondition() string     { return "y ≥ 0" }

func (SqrtFunc) Deriv(order int, x float64) (float64, bool) {
	if x < 0 || (order > 0 && x == 0) {
		return math.NaN(), true // reported by ElementwiseOp.Do
	}
	r := math.Sqrt(x)
	switch order {
	case 0:
		return r, true
	case 1:
		return 0.5 / r, true
	case 2:
		return -0.25 / (x * r), true
	case 3:
		return 0.375 / (x * x * r), true
	}
	return 0, false
}
