package ops

import G "gorgonia.org/gorgonia"

// IdentityFunc is f(x) = x (a linear output layer): f' = 1, f” = 0, and it
// is its own inverse.
type IdentityFunc struct{}

// Identity returns a node equal to x (a copy).
func Identity(x *G.Node) (*G.Node, error) { return Map(IdentityFunc{}, x) }

func (IdentityFunc) String() string               { return "id" }
func (IdentityFunc) PiecewiseLinear() bool        { return true }
func (IdentityFunc) Inverse() (ScalarFunc, error) { return IdentityFunc{}, nil }
func (IdentityFunc) InverseCondition() string     { return "always" }

func (IdentityFunc) Deriv(order int, x float64) (float64, bool) {
	switch order {
	case 0:
		return x, true
	case 1:
		return 1, true
	}
	return 0, true
}
