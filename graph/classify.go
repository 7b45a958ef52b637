package graph

import (
	"fmt"

	"github.com/newtonia/newtonia/ops"
)

// Kind is what a block's B-pass computes, decided before anything runs.
type Kind int

const (
	// Exact: u = H_ll⁻¹ v. Every op on the chain is bijective.
	Exact Kind = iota
	// PseudoInverse: u = H_ll⁺ v, the minimum-norm least-squares solution
	// (method.md §4: batch < fan-in, widths after the block equal).
	PseudoInverse
	// NewtonOnly: H_ll u = v holds for v in the range of H_ll, such as the
	// gradient g_l, but u is not H_ll⁺ v (widths shrinking after the block).
	NewtonOnly
	// Refused: the inverse pass is not an inverse of the gradient map.
	Refused
)

func (k Kind) String() string {
	return [...]string{"exact inverse", "pseudo-inverse", "Newton-only", "refused"}[k]
}

// MarshalText names the kind in JSON and other text encodings.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for c := Exact; c <= Refused; c++ {
		if c.String() == string(b) {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("graph: unknown kind %q", b)
}

// Classify decides the kind of the inverse pass from the InverseKind of
// each step, generically (method.md §4, read per op):
//
//   - information lost by a step of the gradient pass (an op whose
//     inverse is not injective-exact: MinNorm or Lossy) cannot be recovered:
//     Refused. In a dense layer this is batch > fan-in, or a width growing
//     after the block;
//   - all steps bijective: Exact;
//   - otherwise, if the only forward-pass step that is not bijective is the
//     last one (solving for the weight itself) and it is MinNorm:
//     PseudoInverse (batch < fan-in);
//   - otherwise NewtonOnly (a forward step other than the last loses
//     information: widths shrinking after the block).
//
// The reasons name the steps that decide the kind.
func (inv *Inverse) Classify() (Kind, []string) {
	type verdict struct {
		kind   Kind
		reason string
	}
	var vs []verdict
	kind := Exact
	for i, s := range inv.Steps {
		if s.Kind == ops.Bijective {
			continue
		}
		pass := "forward"
		if s.Backward {
			pass = "gradient"
		}
		v := verdict{NewtonOnly, fmt.Sprintf("%s-pass node %s, op %v solved for input %d: %v (%s)",
			pass, Label(s.Node), s.Node.Op(), s.Wrt, s.Kind, s.Why)}
		last := i == len(inv.Steps)-1
		switch {
		case s.Kind == ops.Lossy, s.Backward && s.Kind == ops.MinNorm:
			v.kind = Refused
		case s.Backward: // a left inverse of a gradient-pass op: exact on its range
			v.kind = PseudoInverse
		case last && s.Kind == ops.MinNorm:
			v.kind = PseudoInverse
		}
		kind = max(kind, v.kind)
		vs = append(vs, v)
	}
	if kind == PseudoInverse && !inv.lastIsMinNorm() {
		// Only gradient-pass left inverses: the gradient map is injective
		// and the inverse pass exact on its range.
		kind = Exact
	}
	// The reasons are the steps that decide the kind.
	var reasons []string
	for _, v := range vs {
		if v.kind == kind || kind == NewtonOnly && v.kind == PseudoInverse {
			reasons = append(reasons, v.reason)
		}
	}
	return kind, reasons
}

func (inv *Inverse) lastIsMinNorm() bool {
	n := len(inv.Steps)
	return n > 0 && !inv.Steps[n-1].Backward && inv.Steps[n-1].Kind == ops.MinNorm
}
