package native

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Model is a loss and its weights as newtonia's passes see them: the
// user's own nodes for a graph of newtonia's float64 ops, else their
// private translation (Translate), checked once against Gorgonia's own
// values (Verify) at the first inputs that all have values. Package hvp
// holds one per problem and builds every pass from Loss and Weights.
//
// It is safe for concurrent use: the translation is read-only once made,
// and the verification runs once, under a lock.
type Model struct {
	loss    *G.Node   // the loss the passes are built from
	weights []*G.Node // its weights, in the order given
	tr      *Translation
	inputs  []*G.Node // every input the loss reads

	mu       sync.Mutex // guards verified and bad
	verified bool       // the translation was checked at the first inputs with values
	bad      error      // Verify's verdict, in the user's terms
}

// NewModel returns the model of loss with respect to weights: loss and
// weights themselves when loss's graph holds only newtonia's float64 ops
// (Needed), else their private translation, which fails with an
// *errs.UntranslatedError naming every node it cannot translate.
func NewModel(loss *G.Node, weights []*G.Node) (*Model, error) {
	m := &Model{loss: loss, weights: weights}
	if Needed(loss) {
		tr, err := Translate(loss, weights)
		if err != nil {
			return nil, err
		}
		m.tr, m.loss, m.weights = tr, tr.Loss, tr.Weights
	}
	m.inputs = graph.Inputs(m.loss)
	return m, nil
}

// Loss is the loss node the passes are built from: the user's, or its
// private translation.
func (m *Model) Loss() *G.Node { return m.loss }

// Weights are the weight nodes the passes are built from, in the order
// given to NewModel: the user's, or their private translations (float64:
// a vector as a row or a column, a scalar as 1×1, a matrix or a value of
// more dimensions, such as a convolution kernel, in the user's shape).
func (m *Model) Weights() []*G.Node { return m.weights }

// Translated reports whether the passes live in a private translation.
func (m *Model) Translated() bool { return m.tr != nil }

// Dtype is the dtype of the user's graph (float64 or float32): the passes
// run in float64 either way.
func (m *Model) Dtype() tensor.Dtype {
	if m.tr != nil {
		return m.tr.Dtype
	}
	return tensor.Float64
}

// Prepare completes bind, the values of a run of the passes (weights,
// directions), and checks it: for a translation, every input not bound is
// bound to its user's node's value, promoted to float64, and at the first
// inputs that all have values the translation is verified against
// Gorgonia's own values (Verify), once — a mismatch is returned by every
// later Prepare; an op failing at those values (a log of a negative) is no
// verdict on the translation, and the product's own run reports it. Then
// every input the loss reads, bound or its own, must be present, of its
// node's shape, float64 and finite (an *errs.ShapeError or
// *errs.NotFiniteError naming the input).
func (m *Model) Prepare(bind graph.Values) error {
	if m.tr != nil {
		if err := m.tr.Bind(bind); err != nil {
			return err
		}
		m.mu.Lock()
		if !m.verified && m.checkInputs(bind) == nil {
			var re *errs.RunError
			if err := m.tr.Verify(bind); !errors.As(err, &re) {
				m.bad, m.verified = m.tr.UserError(err), true
			}
		}
		bad := m.bad
		m.mu.Unlock()
		if bad != nil {
			return bad
		}
	}
	return m.checkInputs(bind)
}

// Check checks the inputs' own values as Prepare does, without running
// anything: for a product that needs no run (a zero direction).
func (m *Model) Check() error {
	bind := graph.Values{}
	if m.tr != nil {
		if err := m.tr.Bind(bind); err != nil {
			return err
		}
	}
	return m.checkInputs(bind)
}

// checkInputs validates the values of the inputs the loss reads (data,
// targets, weights), bound or their own: present, of the node's shape,
// float64, finite.
func (m *Model) checkInputs(bind graph.Values) error {
	for _, n := range m.inputs {
		v := bind[n]
		if v == nil {
			v = n.Value()
		}
		what := "input " + errs.Name(n)
		if v == nil {
			return &errs.ShapeError{What: what, Reason: "has no value (gorgonia.Let it first)"}
		}
		if !v.Shape().Eq(n.Shape()) && !(v.Shape().IsScalar() && n.Shape().IsScalar()) {
			return &errs.ShapeError{What: what, Got: v.Shape(), Want: n.Shape()}
		}
		var xs []float64
		switch v := v.(type) {
		case *tensor.Dense:
			if v.Dtype() != tensor.Float64 {
				return &errs.ShapeError{What: what, Reason: fmt.Sprintf("dtype %v, want float64", v.Dtype())}
			}
			xs, _, _ = Float64s(v)
		case *G.F64:
			xs = []float64{float64(*v)}
		default:
			return &errs.ShapeError{What: what, Reason: fmt.Sprintf("value of type %T", v)}
		}
		if i := ops.FirstNonFinite(xs); i >= 0 {
			return &errs.NotFiniteError{What: what, Index: i, Value: xs[i]}
		}
	}
	return nil
}

// UserError puts err in the user's terms (Translation.UserError); err
// itself for a graph that is not translated.
func (m *Model) UserError(err error) error {
	if err == nil || m.tr == nil {
		return err
	}
	return m.tr.UserError(err)
}

// Annotate rewrites s in the user's terms (Translation.Annotate); s
// itself for a graph that is not translated.
func (m *Model) Annotate(s string) string {
	if m.tr == nil {
		return s
	}
	return m.tr.Annotate(s)
}

// UserNode returns the user's node that n, a node of the model's graph,
// computes: n itself for a graph that is not translated, nil for a node
// of newtonia's passes in a translation.
func (m *Model) UserNode(n *G.Node) *G.Node {
	if m.tr == nil {
		return n
	}
	return m.tr.UserNode(n)
}

// Random returns the user's random nodes (G.UniformRandomNode,
// G.GaussianRandomNode, G.BinomialRandomNode, G.Dropout), each held fixed
// at one draw for every product until Redraw; none for a graph that is
// not translated.
func (m *Model) Random() []*G.Node {
	if m.tr == nil {
		return nil
	}
	return m.tr.Random()
}

// RandomReport describes the random nodes for people, one line each (none
// without random nodes).
func (m *Model) RandomReport() []string {
	if m.tr == nil {
		return nil
	}
	return m.tr.RandomReport()
}

// Redraw draws every random node anew from rng (Translation.Redraw; nil:
// a reproducible source of its own). Call it between steps, while no
// product runs. A model without random nodes has nothing to draw.
func (m *Model) Redraw(rng *rand.Rand) error {
	if m.tr == nil {
		return nil
	}
	return m.tr.Redraw(rng)
}

// Draw returns the current draw of the user's random node n
// (Translation.Draw).
func (m *Model) Draw(n *G.Node) (*tensor.Dense, error) {
	if m.tr == nil {
		return nil, &errs.ArgumentError{What: "random node", Value: errs.Label(n), Reason: "the graph has no random nodes"}
	}
	return m.tr.Draw(n)
}
