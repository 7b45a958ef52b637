package hvp

import (
	"fmt"
	"strings"

	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/internal/budget"
)

// passBytes is the memory of the values the passes make in one run, as if
// none were freed before the run ends: Σ 8·size over their nodes. A run
// drops each value after its last reading and recycles its memory, so this
// overestimates what it holds at once: on per-sample routes of tanh nets
// with one to three hidden layers, everything a product allocated (the
// forward pass and the certificate included) was 0.3 to 0.7 of it with
// two CPUs (0.9 with 64, whose schedule keeps more values alive at once).
// For a layer with n outputs and batch B it is dominated by the n seeds
// 1e_jᵀ, the n JVP columns of the M_i (B × n each) and the tangents
// between them: 7·B·n² values before one more layer of width n, 14 before
// two, 21 before three.
func passBytes(passes ...graph.Pass) float64 {
	var n float64
	for _, ps := range passes {
		for _, nd := range ps.Nodes {
			n += float64(nd.Shape().TotalSize())
		}
	}
	return 8 * n
}

// capHint appends to what how the cap is set: by knob (a field), or, for
// knob "", the default alone.
func capHint(what, knob string) string {
	if knob == "" {
		return fmt.Sprintf("%s; the cap is the default, %s", what, budget.Describe())
	}
	return fmt.Sprintf("%s; the cap is %s, 0 for the default, %s", what, knob, budget.Describe())
}

// fitsRun refuses, before anything runs, the per-sample routes among
// routes (block → route) whose values, with extra bytes each, would exceed
// limit bytes (0: the default cap; knob says where it is set), each block
// alone and, when one program runs several, all together. The
// *errs.LimitError names the block and the bytes.
func (p *Problem) fitsRun(blocks []int, routes map[int]*route, extra float64, limit int64, knob string) error {
	var total float64
	var names []string
	for _, l := range blocks {
		r := routes[l]
		if r == nil || r.cols == nil {
			continue
		}
		n := len(r.cols)
		what := fmt.Sprintf("block %d (%s), per-sample route", l, p.blocks[l].name)
		bytes := r.bytes + extra
		hint := capHint(fmt.Sprintf("the values of its pass: %d seeds and %d JVP columns of the M_i, each batch × %d, and the tangents between them", n, n, n), knob)
		if err := budget.Check(what, bytes, limit, hint); err != nil {
			return err
		}
		total += bytes
		names = append(names, fmt.Sprintf("%d (%s)", l, p.blocks[l].name))
	}
	if len(names) > 1 {
		what := "per-sample routes of blocks " + strings.Join(names, ", ") + ", run in one program"
		return budget.Check(what, total, limit, capHint("the values of their passes, together", knob))
	}
	return nil
}
