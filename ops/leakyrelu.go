package ops

import (
	"fmt"
	"math"
	"math/bits"

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

// DerivSlice is Deriv over a slice, without an interface call or a branch
// per element: the signs of an activation are random, and a branch on them
// mispredicts half the time (a branching loop measured 3.7 ns per element,
// these 0.7–1 ns).
func (f LeakyReLUFunc) DerivSlice(order int, dst, src []float64) bool {
	switch order {
	case 0:
		for i, x := range src { // x for x > 0, αx otherwise (NaN stays NaN)
			dst[i] = max(x, 0) + f.Alpha*min(x, 0)
		}
	case 1:
		for i, x := range src {
			s := positive(x)
			dst[i] = s + f.Alpha*(1-s) // exactly 1 or α
		}
	default:
		clear(dst)
	}
	return true
}

// positive is 1 when x > 0 and 0 otherwise (±0 and NaN included), without
// a branch: x > 0 exactly when its bits b satisfy 1 ≤ b ≤ bits(+Inf), that
// is b−1 < bits(+Inf) unsigned, whose borrow Sub64 returns.
func positive(x float64) float64 {
	_, borrow := bits.Sub64(math.Float64bits(x)-1, 0x7FF0000000000000, 0)
	return float64(int64(borrow))
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
