package ops

import (
	"math"

	G "gorgonia.org/gorgonia"
)

// AbsFunc is f(x) = |x|: piecewise linear, f' = sign x (0 at 0), f” = 0.
// It is not injective and has no inverse. Its derivative, the sign, is
// piecewise constant: PowFunc's inverse uses it to freeze the sign pattern
// of the current point.
type AbsFunc struct{}

// Abs returns the node |x|.
func Abs(x *G.Node) (*G.Node, error) { return Map(AbsFunc{}, x) }

func (AbsFunc) String() string        { return "abs" }
func (AbsFunc) PiecewiseLinear() bool { return true }

func (AbsFunc) Deriv(order int, x float64) (float64, bool) {
	switch order {
	case 0:
		return math.Abs(x), true
	case 1:
		switch {
		case x > 0:
			return 1, true
		case x < 0:
			return -1, true
		}
		return 0, true
	}
	return 0, true
}
