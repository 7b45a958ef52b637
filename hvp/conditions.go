package hvp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/graph"
)

// BlockConditions is the conditions report of one block: what its B-pass
// computes, decided from the graph and the shapes before anything runs.
type BlockConditions struct {
	Block   int        `json:"block"`
	Weight  string     `json:"weight"`
	Kind    graph.Kind `json:"kind"`
	Reasons []string   `json:"reasons,omitempty"` // each non-bijective step: node, op, shapes
	Steps   int        `json:"steps"`             // ops the inverse pass inverts
	Err     error      `json:"-"`                 // for a block with no inverse pass
	Error   string     `json:"error,omitempty"`
}

// Conditions is the report of every block, printable for people (String)
// and as data (its fields, JSON-tagged).
type Conditions []BlockConditions

// Conditions returns the conditions report (method.md §4), without running
// anything.
func (p *Products) Conditions() Conditions {
	out := make(Conditions, len(p.blocks))
	for l, b := range p.blocks {
		c := BlockConditions{Block: l, Weight: p.Weights[l].Name(), Kind: b.kind, Reasons: b.reasons, Err: b.err}
		if b.inv != nil {
			c.Steps = len(b.inv.Steps)
		}
		if b.err != nil {
			c.Error = b.err.Error()
			var ni *NoInverseError
			if errors.As(b.err, &ni) {
				c.Error = ni.Err.Error()
			}
		}
		out[l] = c
	}
	return out
}

var meaning = map[graph.Kind]string{
	graph.Exact:         "InvHv gives H_ll⁻¹ v",
	graph.PseudoInverse: "InvHv gives H_ll⁺ v, the minimum-norm least-squares solution (in a dense net: batch < fan-in)",
	graph.NewtonOnly:    "InvHv solves H_ll u = v only for v in the range of H_ll, e.g. v = g_l: a Newton direction (in a dense net: widths shrink after the block)",
	graph.Refused:       "InvHv refuses: the inverse pass is not an inverse of the gradient map",
}

func (c Conditions) String() string {
	var b strings.Builder
	for _, bc := range c {
		fmt.Fprintf(&b, "block %d (%s): %s — %s\n", bc.Block, bc.Weight, bc.Kind, meaning[bc.Kind])
		if bc.Error != "" {
			fmt.Fprintf(&b, "    %s\n", bc.Error)
		}
		for _, r := range bc.Reasons {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		if bc.Kind == graph.Refused && bc.Err == nil {
			b.WriteString("    (a gradient-pass op loses information: in a dense net, batch > fan-in or a width growing after the block)\n")
		}
	}
	return b.String()
}
