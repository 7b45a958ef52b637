package hvp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
)

// Kind is what an inverse product is: decided for a block's B-pass before
// anything runs (Conditions), and narrowed when it runs. A result's kind
// can be narrower than the conditions report's: the ranks found when the
// per-sample route runs make an exact block a pseudo-inverse (a
// rank-deficient h̃) or Newton-only (a singular M_i). Who computed a
// result is its Method; a result of another method than a B-pass (CG,
// finite differences) is KindRefused: not an exact inverse product.
type Kind int

const (
	// KindExact: u = H_ll⁻¹ v. Every op on the inverse pass is bijective.
	KindExact Kind = iota
	// KindPseudoInverse: u = H_ll⁺ v, the minimum-norm least-squares
	// solution (method.md §4: batch < fan-in, widths after the block equal;
	// or a rank-deficient layer input h̃ found when the per-sample route
	// runs), certified by its normal residual when v is outside the range.
	KindPseudoInverse
	// KindNewtonOnly: H_ll u = v holds for v in the range of H_ll, such as
	// the gradient g_l, but u is not H_ll⁺ v (widths shrinking after the
	// block).
	KindNewtonOnly
	// KindRefused: not an exact inverse product. For a B-pass: the route's
	// B-pass is not the inverse of the block — the op-by-op inverse does
	// not exist (a gradient-pass op loses information), or the per-sample
	// shortcut does not apply (batch > fan-in) — such blocks take the
	// dense route (method.md §13), itself refused only above its caps or
	// when H_ll is singular — and a B-pass computed anyway is only for
	// callers who asked for best effort. For any other Method (conjugate gradients, finite
	// differences, a dense solve): what every such result is, its Reasons
	// saying why.
	KindRefused
)

var kindNames = [...]string{"exact inverse", "pseudo-inverse", "Newton-only", "refused"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// MarshalText names the kind in JSON and other text encodings.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for c := range Kind(len(kindNames)) {
		if c.String() == string(b) {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("hvp: unknown kind %q", b)
}

// classify decides the kind of an inverse pass from the InverseKind of
// each step, generically (method.md §4, read per op):
//
//   - information lost by a step of the gradient pass (an op whose
//     inverse is not injective-exact: MinNorm or Lossy) cannot be recovered:
//     KindRefused. In a dense layer this is batch > fan-in, or a width
//     growing after the block;
//   - all steps bijective: KindExact;
//   - otherwise, if the only forward-pass step that is not bijective is the
//     last one (solving for the weight itself) and it is MinNorm:
//     KindPseudoInverse (batch < fan-in);
//   - otherwise KindNewtonOnly (a forward step other than the last loses
//     information: widths shrinking after the block).
//
// The reasons name the steps that decide the kind.
func classify(inv *graph.InversePass) (Kind, []string) {
	type verdict struct {
		kind   Kind
		reason string
	}
	var vs []verdict
	kind := KindExact
	for i, s := range inv.Steps {
		if s.Kind == ops.Bijective {
			continue
		}
		pass := "forward"
		if s.Backward {
			pass = "gradient"
		}
		v := verdict{KindNewtonOnly, fmt.Sprintf("%s-pass node %s, op %v solved for input %d: %v (%s)",
			pass, errs.Label(s.Node), s.Node.Op(), s.Wrt, s.Kind, s.Why)}
		last := i == len(inv.Steps)-1
		switch {
		case s.Kind == ops.Lossy, s.Backward && s.Kind == ops.MinNorm:
			v.kind = KindRefused
		case s.Backward: // a left inverse of a gradient-pass op: exact on its range
			v.kind = KindPseudoInverse
		case last && s.Kind == ops.MinNorm:
			v.kind = KindPseudoInverse
		}
		kind = max(kind, v.kind)
		vs = append(vs, v)
	}
	if n := len(inv.Steps); kind == KindPseudoInverse && !(n > 0 && !inv.Steps[n-1].Backward && inv.Steps[n-1].Kind == ops.MinNorm) {
		// Only gradient-pass left inverses: the gradient map is injective
		// and the inverse pass exact on its range.
		kind = KindExact
	}
	var reasons []string
	for _, v := range vs {
		if v.kind == kind || kind == KindNewtonOnly && v.kind == KindPseudoInverse {
			reasons = append(reasons, v.reason)
		}
	}
	return kind, reasons
}

// perSampleKind decides the kind of a per-sample route before it runs,
// from the batch B and the fan-in k (the columns of h̃, the bias's column
// of ones included) of a layer with n outputs (method.md §9):
//
//   - B = k: the exact inverse, if h̃ has full rank and every M_i is
//     nonsingular;
//   - B < k: the pseudo-inverse (h̃ has more columns than rows);
//   - B > k: refused. The shortcut solves h̃ᵀX = V̂ for the per-sample
//     right-hand sides X, and h̃ᵀ (k × B) is not injective: the B-pass
//     is not the inverse of the block in general. The block itself may
//     be invertible (for a squared-error output layer H_ll = h̃ᵀh̃ ⊗ I is
//     nonsingular with B > k): the dense route solves it (dense.go).
//
// The rank of h̃ and of the M_i is found when the route runs
// (Block.InvHv), which may change the kind.
func perSampleKind(batch, fanIn, n int, bias bool) (Kind, []string) {
	k := fmt.Sprintf("fan-in %d", fanIn)
	if bias {
		k = fmt.Sprintf("fan-in %d (%d inputs + 1 for the bias)", fanIn, fanIn-1)
	}
	var kind Kind
	var reasons []string
	switch {
	case batch == fanIn:
		kind = KindExact
		reasons = []string{fmt.Sprintf("per-sample route: batch %d = %s: h̃ is square", batch, k)}
	case batch < fanIn:
		kind = KindPseudoInverse
		reasons = []string{fmt.Sprintf("per-sample route: batch %d < %s: h̃ has more columns than rows, the inverse is the minimum-norm one", batch, k)}
	default:
		return KindRefused, []string{fmt.Sprintf("per-sample route: batch %d > %s: the per-sample shortcut needs batch ≤ fan-in (it solves with h̃ᵀ, which has more columns than rows and is not injective), "+
			"so its B-pass is not the inverse of the block in general; the block H_ll itself may still be invertible (a squared-error output layer's H_ll = h̃ᵀh̃ ⊗ I is) — "+
			"so the dense route solves it (its size and cost below), or take the curvature on a subsample of at most %d rows", batch, k, fanIn)}
	}
	reasons = append(reasons, fmt.Sprintf("per-sample route: %s when h̃ has full rank and every M_i (%d×%d, from %d JVPs) is nonsingular; "+
		"a rank-deficient h̃ makes it a pseudo-inverse, a singular M_i Newton-only (checked when run)", kind, n, n, n))
	return kind, reasons
}

// BlockConditions is the conditions report of one block: which route its
// B-pass takes and what it computes, decided from the graph and the shapes
// before anything runs.
type BlockConditions struct {
	Block  int    `json:"block"`
	Weight string `json:"weight"` // the block's weights, e.g. "W1+b1"
	// Method is the B-pass's route (MethodChain, MethodPerSample,
	// MethodScalar, MethodPenalized, MethodDenseRoute), MethodNone for a
	// block with no route (Err).
	Method  Method   `json:"route,omitempty"`
	Kind    Kind     `json:"kind"`
	Reasons []string `json:"reasons,omitempty"` // what decides the kind: non-bijective steps, shapes
	Steps   int      `json:"steps,omitempty"`   // ops the chain route's inverse pass inverts
	// Penalty is the penalty term reading the block's weights (weight
	// decay), nil for none.
	Penalty *PenaltyConditions `json:"penalty,omitempty"`
	Err     error              `json:"-"` // for a block with no route
	Error   string             `json:"error,omitempty"`
	// Random lists the graph's random nodes (G.Dropout, G.*RandomNode),
	// each held fixed at the current draw until Problem.Redraw: the
	// block's products are those of the loss at that draw.
	Random []string `json:"random,omitempty"`
}

// PenaltyConditions is what a conditions report says of a block's
// penalty (method.md §11): found by probing its Hessian with two
// directions at the current weights (the penalty alone: no data).
type PenaltyConditions struct {
	Node string `json:"node"` // the penalty terms, e.g. "Σ(…)"
	// Kind is "L2" (its Hessian c_p·I on each weight p: solved exactly),
	// "zero Hessian (L1-like)" or "other" (refused).
	Kind   string    `json:"kind"`
	C      []float64 `json:"c"`      // c_p, one per weight of the block (2λ for λ·Σ W²)
	Reason string    `json:"reason"` // the probe's finding in words
	// Solve is the solve the penalized route takes (dense LU of the k·n
	// block, or push-through LU on the B·n side), with Flops and Bytes its
	// estimate (Bytes with the per-sample pass's values), checked against
	// Options.MaxFlops and MaxBytes when it runs.
	Solve string  `json:"solve"`
	Flops float64 `json:"flops"`
	Bytes float64 `json:"bytes"`
}

// Conditions is the report of every block, printable for people (String)
// and as data (its fields, JSON-tagged).
type Conditions []BlockConditions

// Conditions returns the conditions report (method.md §4, §9 and §11) of
// every block, building every block's passes and running nothing but, for
// a block with a penalty, the probe of the penalty's Hessian (two
// products of the penalty alone).
func (p *Problem) Conditions() Conditions {
	out := make(Conditions, len(p.blocks))
	for l := range p.blocks {
		out[l] = p.conditions(l)
	}
	return out
}

// conditions returns block l's report.
func (p *Problem) conditions(l int) BlockConditions {
	b := p.block(l)
	c := BlockConditions{Block: l, Weight: b.name, Kind: KindRefused, Err: b.err, Random: p.model.RandomReport()}
	if b.main != nil {
		c.Method, c.Kind, c.Reasons = b.main.method, b.main.kind, b.main.reasons
	}
	if p.model.Translated() { // nodes of the translation named by the user's nodes
		rs := make([]string, len(c.Reasons))
		for i, r := range c.Reasons {
			rs[i] = p.model.Annotate(r)
		}
		c.Reasons = rs
	}
	if b.chain != nil && b.main != nil && b.main.method == MethodChain {
		c.Steps = len(b.chain.Steps)
	}
	if b.main != nil && b.main.method == MethodDenseRoute {
		o, _ := (*Options)(nil).withDefaults()
		dc := p.denseCostOf(l, b.main)
		c.Reasons = append(append([]string(nil), c.Reasons...), "dense route: "+dc.String())
		if err := p.denseFits(l, dc, o); err != nil {
			c.Kind, c.Reasons = KindRefused, append(c.Reasons, "above the default cap: "+err.Error())
		}
	}
	if b.main != nil && b.main.pen != nil {
		pc, pr, err := p.penaltyReport(l, b.main)
		switch {
		case err != nil:
			c.Kind, c.Reasons = KindRefused, append(append([]string(nil), c.Reasons...), "penalty probe failed: "+p.model.Annotate(err.Error()))
		default:
			c.Penalty = pc
			c.Reasons = append(append([]string(nil), c.Reasons...), pc.Reason)
			if pr.kind != penaltyL2 {
				c.Kind = KindRefused
			}
		}
	}
	if b.err != nil {
		c.Error = b.err.Error()
		if u := errors.Unwrap(b.err); u != nil {
			c.Error = u.Error()
		}
		c.Error = p.model.Annotate(c.Error)
	}
	return c
}

var meaning = map[Kind]string{
	KindExact:         "InvHv gives H_ll⁻¹ v",
	KindPseudoInverse: "InvHv gives H_ll⁺ v, the minimum-norm least-squares solution (in a dense net: batch < fan-in, or a rank-deficient layer input)",
	KindNewtonOnly:    "InvHv solves H_ll u = v only for v in the range of H_ll, e.g. v = g_l: a Newton direction (in a dense net: widths shrink after the block)",
	KindRefused:       "InvHv refuses: its B-pass is not the inverse of the block (the block itself may be invertible: see the reasons)",
}

func (c Conditions) String() string {
	var b strings.Builder
	if len(c) > 0 && len(c[0].Random) > 0 {
		b.WriteString("random nodes, held fixed at one draw for every product (Problem.Redraw draws anew):\n")
		for _, r := range c[0].Random {
			fmt.Fprintf(&b, "    %s\n", r)
		}
	}
	for _, bc := range c {
		route := ""
		if bc.Method != MethodNone {
			route = ", " + bc.Method.String() + " route"
		}
		fmt.Fprintf(&b, "block %d (%s%s): %s — %s\n", bc.Block, bc.Weight, route, bc.Kind, meaning[bc.Kind])
		if bc.Error != "" {
			fmt.Fprintf(&b, "    %s\n", bc.Error)
		}
		for _, r := range bc.Reasons {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		if pc := bc.Penalty; pc != nil {
			fmt.Fprintf(&b, "    penalty %s (%s, c = %.4g): solve %s, %s with the per-sample pass\n", pc.Node, pc.Kind, pc.C, pc.Solve, errs.Amount(pc.Bytes, "B"))
		}
		if bc.Kind == KindRefused && bc.Err == nil && bc.Method == MethodChain {
			b.WriteString("    (a gradient-pass op loses information: in a dense net, batch > fan-in or a width growing after the block)\n")
		}
	}
	return b.String()
}

// Refused reports whether any block's exact inverse is refused before
// running.
func (c Conditions) Refused() bool {
	for _, bc := range c {
		if bc.Kind == KindRefused {
			return true
		}
	}
	return false
}
