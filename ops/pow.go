package ops

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

// PowFunc is f(x) = x^P, the writeup's example activation (P = 3: Σ x³).
// Its derivatives are falling factorials: f⁽ᵏ⁾(x) = c_k x^(P−k) with
// c_k = P(P−1)…(P−k+1). For an integer P every real x is in the domain
// (x ≠ 0 where P − k < 0); otherwise x > 0 (x ≥ 0 where P − k ≥ 0).
//
// Inverse (InverseAt): y = f⁽ᵏ⁾(x) = c_k x^e (e = P − k ≠ 0) is solved
// on the branch of the current point x₀, frozen like an activation
// pattern (method.md §3):
//
//	e an odd integer:   x = sign(y/c_k) |y/c_k|^(1/e)      (injective: no branch)
//	e an even integer:  x = sign(x₀) (y/c_k)^(1/e)         (y/c_k ≥ 0)
//	otherwise:          x = (y/c_k)^(1/e)                  (x > 0)
//
// sign(x₀) is the derivative of |x| at x₀: a piecewise-constant node, so
// the B-pass differentiates only the root. For Σ x³ the inverse pass is
// x = sign(x₀)·√(g/3) and the B-pass gives H⁻¹v = v/(6x). At x₀ = 0 (or
// y = 0) the root's derivative is infinite: the B-pass fails there with a
// NotFiniteError, as it must (H = 6 diag(x) is singular).
type PowFunc struct{ P float64 }

// Pow returns the node x^p.
func Pow(x *G.Node, p float64) (*G.Node, error) { return Map(PowFunc{p}, x) }

func (f PowFunc) String() string { return fmt.Sprintf("pow(%v)", f.P) }

func (f PowFunc) integer() bool { return f.P == math.Trunc(f.P) }

// coef returns c_k and the exponent P − k of f⁽ᵏ⁾.
func (f PowFunc) coef(k int) (c, e float64) {
	c = 1
	for i := range k {
		c *= f.P - float64(i)
	}
	return c, f.P - float64(k)
}

func (f PowFunc) Deriv(order int, x float64) (float64, bool) {
	if order < 0 {
		return 0, false
	}
	c, e := f.coef(order)
	switch {
	case c == 0:
		return 0, true
	case e == 0:
		return c, true
	case !f.integer() && (x < 0 || (x == 0 && e < 0)):
		return math.NaN(), true // outside the domain: reported by ElementwiseOp.Do
	}
	return c * math.Pow(x, e), true
}

// InverseAt builds x from y = f⁽ᵏ⁾(x) on the branch of at (see the type).
func (f PowFunc) InverseAt(order int, y, at *G.Node) (*G.Node, error) {
	c, e := f.coef(order)
	if c == 0 || e == 0 {
		return nil, fmt.Errorf("%v⁽%d⁾ is constant", f, order)
	}
	var b Builder
	u := b.Scale(1/c, y)
	root := PowFunc{1 / e}
	switch {
	case f.integer() && int(e)%2 != 0: // odd: sign(u)|u|^(1/e)
		mag := b.Apply(ElementwiseOp{F: root}, b.Apply(ElementwiseOp{F: AbsFunc{}}, u))
		return b.Mul(b.Apply(ElementwiseOp{F: AbsFunc{}, Order: 1}, u), mag), b.Err
	case f.integer(): // even: the sign of the current point
		return b.Mul(b.Apply(ElementwiseOp{F: AbsFunc{}, Order: 1}, at), b.Apply(ElementwiseOp{F: root}, u)), b.Err
	}
	return b.Apply(ElementwiseOp{F: root}, u), b.Err
}

func (f PowFunc) InverseAtCondition(order int) string {
	_, e := f.coef(order)
	switch {
	case f.integer() && int(e)%2 != 0:
		return "y ≠ 0"
	case f.integer():
		return fmt.Sprintf("y/c ≥ 0 and x ≠ 0; the sign of x frozen at the current point (c = %g)", func() float64 { c, _ := f.coef(order); return c }())
	}
	return "x > 0"
}
