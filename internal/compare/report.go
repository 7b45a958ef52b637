package compare

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/params"
)

// Report is every product by every method for one direction (Run): what
// newtonia products prints and writes as report.json.
type Report struct {
	Format     string         `json:"format"` // set by the command: what -force may replace
	Net        string         `json:"net"`    // set by the command
	Directions string         `json:"directions"`
	Params     []string       `json:"params"` // the weights, in the order of the full Hessian's files
	Conditions hvp.Conditions `json:"conditions"`
	Entries    []*Entry       `json:"entries"`
	// ExactRefused lists the blocks whose exact inverse product was
	// refused or is uncertified (the reason is in the entry).
	ExactRefused []string `json:"exact_refused,omitempty"`
	// DenseResults lists, for those blocks, the dense solve that is the
	// block's result where one was computed (its B-pass was refused or
	// failed its checks; the block itself may well be invertible).
	DenseResults []string `json:"dense_results,omitempty"`
	Files        []string `json:"files"` // set by the command: every file of the result folder but report.json
}

// Failed returns the first entry whose exact Hv failed (a product every
// other method is compared with), or nil.
func (r *Report) Failed() *Entry {
	for _, e := range r.Entries {
		if e.fatal {
			return e
		}
	}
	return nil
}

// Outcomes returns one line per block whose B-pass gave no certified
// result: refused before running or failed its checks, and where the
// dense solve that is the block's result is.
func (r *Report) Outcomes() []string {
	var out []string
	for _, e := range r.Entries {
		if e.outcome != "" {
			out = append(out, e.outcome)
		}
	}
	return out
}

// Run computes every product of v (all weights' layout) by every method:
// for each block Hv exact, fd for each step, dense, dense-fd, then InvHv
// exact, fd for each step, cg, dense, dense-fd; then the full Hessian's
// Hv exact, fd, dense, dense-fd. Every method runs whatever another one
// did; each writes a progress line. The entries' relative differences to
// the exact and the dense result of the same block and product are
// filled, and the blocks without a certified exact inverse listed.
func (e *Engine) Run(v *params.Vector, directions string) *Report {
	rep := &Report{Directions: directions, Conditions: e.p.Conditions()}
	for _, w := range e.p.Weights() {
		rep.Params = append(rep.Params, w.Name())
	}
	type product func() *Entry
	var todo [][]product // groups of one scope and product
	hv := func(l int, v *params.Vector) []product {
		g := []product{func() *Entry { return e.HvExact(l, v) }}
		for _, r := range e.s.Steps {
			g = append(g, func() *Entry { return e.HvFD(l, v, r) })
		}
		return append(g, func() *Entry { return e.HvDense(l, v, false) }, func() *Entry { return e.HvDense(l, v, true) })
	}
	for l := range e.p.Blocks() {
		vl := v.Block(l)
		inv := []product{func() *Entry { return e.InvHvExact(l, vl) }}
		for _, r := range e.s.Steps {
			inv = append(inv, func() *Entry { return e.InvHvFD(l, vl, r) })
		}
		inv = append(inv, func() *Entry { return e.InvHvCG(l, vl) },
			func() *Entry { return e.InvHvDense(l, vl, false) }, func() *Entry { return e.InvHvDense(l, vl, true) })
		todo = append(todo, hv(l, vl), inv)
	}
	todo = append(todo, hv(Full, v))
	total, done := 0, 0
	for _, g := range todo {
		total += len(g)
	}
	for _, g := range todo {
		var group []*Entry
		for _, run := range g {
			x := run()
			done++
			if e.s.Progress != nil {
				fmt.Fprintf(e.s.Progress, "[%d/%d] %s %s %s (%.3gs)%s\n", done, total, x.Block, x.Product, x.Method, x.Seconds,
					map[bool]string{true: ": " + x.Error}[x.Error != ""])
			}
			group = append(group, x)
		}
		relate(group)
		rep.Entries = append(rep.Entries, group...)
		if g := group[0]; g.Product == "InvHv" {
			e.outcome(rep, group)
		}
	}
	return rep
}

// relate fills each entry's relative differences to the exact and the
// dense result of its group (one scope, one product).
func relate(group []*Entry) {
	var exact, dense *Entry
	for _, x := range group {
		switch {
		case x.value == nil:
		case x.src == srcExact && x.Method == Exact && exact == nil:
			exact = x
		case x.src == srcDense && dense == nil:
			dense = x
		}
	}
	rel := func(a, b *params.Vector) *float64 {
		d := params.RelDiff(a, b)
		return &d
	}
	for _, x := range group {
		if x.value == nil {
			continue
		}
		if exact != nil && x != exact {
			x.RelToExact = rel(x.value, exact.value)
		}
		// A Newton-only or uncertified B-pass result is not H⁺v: it differs
		// from the dense minimum-norm solution by a null-space component.
		if dense != nil && x != dense && !(x.src == srcExact && x.Method != Exact) {
			x.RelToDense = rel(x.value, dense.value)
		}
	}
}

// outcome lists a block whose B-pass gave no certified result (the InvHv
// group of its block), and says what is true: the B-pass was refused
// before running (the conditions report's reasons) or failed its checks,
// which says nothing of whether H_ll is invertible; the dense solve, where
// computed, is the block's result.
func (e *Engine) outcome(rep *Report, group []*Entry) {
	var x, d *Entry
	for _, y := range group {
		switch {
		case y.src == srcExact && y.Method == Uncertified:
			x = y
		case y.src == srcDense:
			d = y
		}
	}
	if x == nil {
		return
	}
	l := x.scope
	block := fmt.Sprintf("block %d (%s)", l, x.Block)
	rep.ExactRefused = append(rep.ExactRefused, block)
	line := block + ": exact inverse uncertified: its B-pass failed its checks"
	what := "its B-pass failed its checks"
	// Refused: the B-pass's own kind, or the conditions report's where the
	// B-pass returned nothing.
	if x.Kind == hvp.KindRefused.String() || x.Kind == "" && rep.Conditions[l].Kind == hvp.KindRefused {
		line = block + ": exact inverse refused: its " + refusedBPass + "; " + saysNothing
		what = "its B-pass was refused"
	}
	if d != nil && d.value != nil && d.sol != nil {
		h, of := "H", "H_ll"
		if e.s.ExactDamping > 0 {
			h, of = fmt.Sprintf("(H + %g·h̃ᵀh̃ ⊗ I)", e.s.ExactDamping), "the damped block"
		}
		inv := fmt.Sprintf("%s⁺v, the minimum-norm least-squares solution (rank %d of %d)", h, d.sol.Rank, d.sol.N)
		if d.sol.Rank == d.sol.N {
			inv = fmt.Sprintf("%s⁻¹v (rank %d of %d: %s is invertible)", h, d.sol.Rank, d.sol.N, of)
		}
		d.Note, d.result = fmt.Sprintf("this block's result (%s): %s", what, d.Note), true
		res := "the dense solve is this block's result: " + inv
		x.Note += "; " + res
		var files []string
		for _, w := range strings.Split(x.Block, "+") {
			files = append(files, fmt.Sprintf("%s.InvHv.%s.npy", w, Dense))
		}
		line += "; " + res + ", in " + strings.Join(files, ", ")
		rep.DenseResults = append(rep.DenseResults, block)
	} else {
		why := "not built"
		if d != nil && d.Error != "" {
			why = d.Error
		}
		x.Note += fmt.Sprintf("; no dense solve (%s): see InvHv cg, or hvp.Block.Curvature", why)
		line += "; no dense solve (" + why + ")"
	}
	x.outcome = line
}
