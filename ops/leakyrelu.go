package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// LeakyReLUFunc is f(x) = x for x > 0, Alpha·x otherwise. It is piecewise
// linear with f' ∈ {1, Alpha} (f'(0) = Alpha) and f” = 0, and for
// Alpha > 0 its inverse is the leaky ReLU of slope 1/Alpha.
type LeakyReLUFunc struct{ Alpha float64 }

// LeakyReLU returns the node leaky_α(x).
func LeakyReLU(x *G.Node, alpha float64) (*G.Node, error) { return Map(LeakyReLUFunc{alpha}, x) }

func (f LeakyReLUFunc) String() string      { return fmt.Sprintf("leaky(%v)", f.Alpha) }
func (LeakyReLUFunc) PiecewiseLinear() bool { return true }

func (f LeakyReLUFunc) Deriv(order int, x float64) (float64, bool) {
	pos := x > 0
	switch {
	case order == 0 && pos:
		return x, true
	case order == 0:
		return f.Alpha * x, true
	case order == 1 && pos:
		return 1, true
	case order == 1:
		return f.Alpha, true
	}
	return 0, true
}

// DerivSlice is Deriv over a slice, without an interface call or an
// unpredictable branch per element (the selects compile to conditional
// moves).
func (f LeakyReLUFunc) DerivSlice(order int, dst, src []float64) bool {
	switch order {
	case 0:
		for i, x := range src {
			y := f.Alpha * x
			if x > 0 {
				y = x
			}
			dst[i] = y
		}
	case 1:
		for i, x := range src {
			y := f.Alpha
			if x > 0 {
				y = 1
			}
			dst[i] = y
		}
	default:
		clear(dst)
	}
	return true
}

func (f LeakyReLUFunc) Inverse() (ScalarFunc, error) {
	if !(f.Alpha > 0) || !finite(f.Alpha) {
		return nil, fmt.Errorf("slope %v: a leaky ReLU is injective only for a finite slope > 0", f.Alpha)
	}
	return LeakyReLUFunc{1 / f.Alpha}, nil
}

func (f LeakyReLUFunc) InverseCondition() string { return "slope α > 0" }

// ReLUFunc is f(x) = max(x, 0): piecewise linear with f'(x) = [x > 0], and
// not injective, so it has no inverse rule. A net using it gets Hv but the
// inverse pass is refused with a NoInverseError naming the node.
type ReLUFunc struct{}

// ReLU returns the node max(x, 0).
func ReLU(x *G.Node) (*G.Node, error) { return Map(ReLUFunc{}, x) }

func (ReLUFunc) String() string        { return "relu" }
func (ReLUFunc) PiecewiseLinear() bool { return true }

func (ReLUFunc) Deriv(order int, x float64) (float64, bool) {
	pos := x > 0
	switch {
	case order == 0 && pos:
		return x, true
	case order == 1 && pos:
		return 1, true
	}
	return 0, true
}
