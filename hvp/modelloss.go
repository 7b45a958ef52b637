package hvp

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/params"
)

// ModelLossAt returns the loss at weights w (nil: the current weights) as
// the user's graph computes it: by Gorgonia's own ops in the model's dtype
// (float32 for a float32 model), where LossAt evaluates newtonia's passes
// in float64 (a float32 model's translation, log∘softmax fused into a
// stable cross-entropy). While the values stay well inside the dtype's
// range the two differ by rounding; where Gorgonia's ops overflow or
// underflow (a float32 exp beyond ±88; the log of a softmax underflowed to
// 0, which Gorgonia v0.9.18's LogSoftMax reaches at a logit spread of ~100
// in float32 because it shifts every row by the first row's maximum) this
// loss is ±Inf or NaN and LossAt's finite. An optimizer checks the step it
// takes with it (solver's guard): the loss a user's TapeMachine computes
// after the step is this one.
//
// For a graph of newtonia's own ops in float64 it is LossAt. The graph's
// random nodes (Random) draw anew in this run, as in a TapeMachine's: its
// value is then of another draw than LossAt's.
func (p *Problem) ModelLossAt(w *params.Vector) (loss float64, err error) {
	defer errs.Recover("hvp.ModelLossAt", &err)
	if !p.model.Translated() {
		return p.LossAt(w)
	}
	bind := graph.Values{}
	if w != nil {
		if err := p.checkVec(w, p.layout, "weights"); err != nil {
			return 0, err
		}
		vs := userValues(p.userWeights, w)
		for k, n := range p.userWeights {
			bind[n] = vs[k]
		}
	}
	prog := p.program("model loss (Gorgonia's ops)", []*G.Node{p.userLoss})
	vals, err := prog.Run(bind)
	p.add(cost{rows: (p.batch + 1) / 2, losses: 1}, prog.Flops())
	if err != nil {
		return 0, err
	}
	if v, ok := vals[p.userLoss].(*G.F32); ok {
		return float64(*v), nil
	}
	return scalarValue(vals, p.userLoss)
}

// userValues returns w's values as the user's weight nodes hold them: in
// their shapes and dtype (float32 rounded to nearest), a scalar weight as
// Gorgonia's scalar value.
func userValues(nodes []*G.Node, w *params.Vector) []G.Value {
	ts := w.Tensors()
	out := make([]G.Value, len(nodes))
	for k, n := range nodes {
		out[k] = ts[k]
		if n.Shape().IsScalar() {
			if x := w.Weight(k)[0]; n.Dtype() == tensor.Float32 {
				out[k] = G.NewF32(float32(x))
			} else {
				out[k] = G.NewF64(x)
			}
		}
	}
	return out
}

// Translated reports whether the passes run on newtonia's private
// translation of the user's graph (a graph of Gorgonia's own ops, or of
// float32 values): only then can ModelLossAt differ from LossAt.
func (p *Problem) Translated() bool { return p.model.Translated() }
