// Package errs is newtonia's one vocabulary of errors. Every error the
// public API returns matches exactly one of the sentinels below with
// errors.Is, and the typed errors carry what went wrong and where (the
// node, array, block, flag or file), for errors.As:
//
//	sentinel       typed error                 meaning
//	ErrShape       *ShapeError                 a value, count or dtype does not fit its node
//	ErrArgument    *ArgumentError              a setting or argument out of its domain (r ≤ 0, NaN damping, …)
//	ErrNotFinite   *NotFiniteError             a NaN or Inf in an input, or an op that would produce one
//	ErrNoRule      *NoRuleError,               an op lacks the VJP or JVP rule a pass needs;
//	               *UntranslatedError           Gorgonia ops with no translation (all listed)
//	ErrNoInverse   *NoInverseError,            no op-by-op inverse: an op that cannot be solved for an
//	               *NoRuleError{Rule:"inverse"},  input, a missing inverse rule, or a node with two
//	               *DependencyLoopError          inputs depending on the weight
//	ErrCondition   *ConditionError             a condition of exactness violated: a refused block,
//	                                             a singular or ill-conditioned matrix, a residual above tolerance
//	ErrLimit       *LimitError                 a computation would exceed, or reached, its cap in memory, time or iterations
//	ErrInternal    *InternalError              a panic inside Gorgonia, gonum or an op, recovered
//
// A *RunError (an op failing while a product runs) names the node and
// wraps the op's own error, which carries the sentinel.
package errs

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/newtonia/newtonia/internal/gorgoniax"
	G "gorgonia.org/gorgonia"
)

// The sentinels.
var (
	ErrShape     = errors.New("wrong shape")
	ErrArgument  = errors.New("invalid argument")
	ErrNotFinite = errors.New("not finite")
	ErrNoRule    = errors.New("no rule")
	ErrNoInverse = errors.New("no inverse")
	ErrCondition = errors.New("condition for an exact result violated")
	ErrLimit     = errors.New("limit reached")
	ErrInternal  = errors.New("internal error")
)

// Label names a node in messages: its id and its name, %c W; an unnamed
// input (whose name Gorgonia prints as %!s(<nil>)()) by its id and shape,
// %c (3×4); an unnamed op node by its op applied to its inputs, as
// Gorgonia names it, each input node and named op node among them with
// its name: %c A × B(%a x, %b W).
func Label(n *G.Node) string {
	if n == nil {
		return "<nil>"
	}
	if unnamedInput(n) {
		return fmt.Sprintf("%%%x (%s)", n.ID(), dims(n.Shape()))
	}
	if n.Op() != nil {
		if kids := gorgoniax.Children(n); len(kids) > 0 && n.Name() == autoName(n.Op(), kids) {
			args := make([]string, len(kids))
			for i, c := range kids {
				args[i] = fmt.Sprintf("%%%x", c.ID())
				ck := gorgoniax.Children(c)
				if c.Op() == nil || len(ck) > 0 && c.Name() != autoName(c.Op(), ck) {
					args[i] = Label(c) // an input, or a named op node (not a constant, printed as its value): not recursive
				}
			}
			return fmt.Sprintf("%%%x %s(%s)", n.ID(), n.Op(), strings.Join(args, ", "))
		}
	}
	return fmt.Sprintf("%%%x %s", n.ID(), n.Name())
}

// autoName is the name Gorgonia gives an op node given none (node.go's
// Name): its op applied to its inputs' ids.
func autoName(op G.Op, kids []*G.Node) string {
	ids := make([]string, len(kids))
	for i, c := range kids {
		ids[i] = fmt.Sprintf("%%%x", c.ID())
	}
	return fmt.Sprintf("%s(%s)", op, strings.Join(ids, ", "))
}

// Name is how block names and messages that name a weight or an input by
// its name alone name node n: its name, or for an unnamed input its Label
// (%c (3×4)).
func Name(n *G.Node) string {
	if n == nil || unnamedInput(n) {
		return Label(n)
	}
	return n.Name()
}

// noName is Gorgonia's name of an input node given none: its nil op
// applied to no inputs.
var noName = fmt.Sprintf("%s()", G.Op(nil))

func unnamedInput(n *G.Node) bool { return n.Op() == nil && n.Name() == noName }

// dims prints a shape as 3×4, a scalar as "scalar".
func dims(s []int) string {
	if len(s) == 0 {
		return "scalar"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}

// ShapeError reports a value whose shape, count or dtype does not fit.
type ShapeError struct {
	What      string // the node, array or argument, e.g. "direction for W2"
	Got, Want []int  // when a plain shape mismatch
	Reason    string // otherwise
}

func (e *ShapeError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("%s has shape %s, want %s", e.What, shape(e.Got), shape(e.Want))
}

// shape prints dimensions as a tuple, (3, 4).
func shape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
func (e *ShapeError) Is(t error) bool { return t == ErrShape }

// ArgumentError reports a setting or argument outside its domain.
type ArgumentError struct {
	What   string // the argument, option or flag, e.g. "CGOptions.Tol" or "-cg-tol"
	Value  any
	Reason string // what it must be
}

func (e *ArgumentError) Error() string {
	return fmt.Sprintf("%s = %v: %s", e.What, e.Value, e.Reason)
}
func (e *ArgumentError) Is(t error) bool { return t == ErrArgument }

// NotFiniteError reports a NaN or an Inf.
type NotFiniteError struct {
	What  string  // the input, weight, direction or op
	Index int     // row-major index of the first bad element (-1 if unknown)
	Value float64 // that element
}

func (e *NotFiniteError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("%s: not finite", e.What)
	}
	return fmt.Sprintf("%s: element %d is %v", e.What, e.Index, e.Value)
}
func (e *NotFiniteError) Is(t error) bool { return t == ErrNotFinite }

// NoRuleError reports a node whose op lacks the rule a pass needs ("VJP",
// "JVP" or "inverse"), or whose rule failed (Err).
type NoRuleError struct {
	Node *G.Node
	Op   G.Op
	Rule string
	Err  error
}

func (e *NoRuleError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("node %s: %s rule of op %v failed: %v", Label(e.Node), e.Rule, e.Op, e.Err)
	}
	return fmt.Sprintf("node %s: op %v (%T) has no %s rule", Label(e.Node), e.Op, e.Op, e.Rule)
}
func (e *NoRuleError) Unwrap() error { return e.Err }

// Is matches ErrNoInverse for the inverse rule and ErrNoRule otherwise,
// unless the rule's own error carries a sentinel.
func (e *NoRuleError) Is(t error) bool {
	if e.Err != nil && hasSentinel(e.Err) {
		return false // errors.Is continues with Unwrap
	}
	if e.Rule == "inverse" {
		return t == ErrNoInverse
	}
	return t == ErrNoRule
}

// NoInverseError reports an op that cannot be solved for one of its inputs.
type NoInverseError struct {
	Op     string // the op, as printed
	Input  int    // the input it cannot be solved for
	Reason string
}

func (e *NoInverseError) Error() string {
	return fmt.Sprintf("op %s has no inverse with respect to input %d: %s", e.Op, e.Input, e.Reason)
}
func (e *NoInverseError) Is(t error) bool { return t == ErrNoInverse }

// DependencyLoopError reports a node on an inverse pass's chain with more
// than one input depending on the weight being inverted for: there is no
// op-by-op inverse (method.md §4 and §7).
type DependencyLoopError struct {
	Node   *G.Node
	Op     G.Op
	Inputs []int // the indices of the inputs that depend on Weight
	Weight *G.Node
}

func (e *DependencyLoopError) Error() string {
	return fmt.Sprintf("node %s: op %v has inputs %v that all depend on %s: no op-by-op inverse (a dependency loop, method.md §4)",
		Label(e.Node), e.Op, e.Inputs, Label(e.Weight))
}
func (e *DependencyLoopError) Is(t error) bool { return t == ErrNoInverse }

// UntranslatedError lists every node of a Gorgonia-built graph that has
// no translation into newtonia's ops (package native), at once.
type UntranslatedError struct {
	Nodes     []Untranslated
	Supported string // what is translated
}

// Untranslated is one node without a translation.
type Untranslated struct {
	Node   string // the user's node: its name, or its op and inputs
	Op     string // the op, as Gorgonia prints it, and its Go type
	Reason string
	// Random marks a random node (G.UniformRandomNode, G.Dropout, …): it
	// needs a fixed draw, not a rule (Reason says how).
	Random bool
}

func (e *UntranslatedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d node(s) of the graph have no translation into newtonia's ops:", len(e.Nodes))
	rules := false
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "\n  %s (op %s): %s", n.Node, n.Op, n.Reason)
		rules = rules || !n.Random
	}
	if !rules {
		return b.String()
	}
	if e.Supported != "" {
		fmt.Fprintf(&b, "\nTranslated: %s.", e.Supported)
	}
	b.WriteString("\nTo support one, build that part of the graph with a newtonia op that has its rules " +
		"(ops.VJPer, ops.JVPer; examples/customop shows one in 60 lines), or register a translation of the " +
		"Gorgonia op with native.Register")
	return b.String()
}
func (e *UntranslatedError) Is(t error) bool { return t == ErrNoRule }

// ConditionError reports a violated condition of exactness: a block
// refused before running, a matrix too ill-conditioned (or singular) to
// factorise, a residual above tolerance.
type ConditionError struct {
	Block  int    // -1 when not about a block
	Weight string // the block's weight
	Node   string // the node at fault, when one is
	Op     string // its op
	Reason string // the condition, with its numbers
	Value  float64
}

func (e *ConditionError) Error() string {
	where := ""
	if e.Weight != "" {
		where = fmt.Sprintf("block %d (%s)", e.Block, e.Weight)
	}
	if e.Node != "" {
		if where != "" {
			where += ", "
		}
		where += fmt.Sprintf("node %s", e.Node)
	}
	if e.Op != "" {
		if where != "" {
			where += ", "
		}
		where += "op " + e.Op
	}
	if where == "" {
		return e.Reason
	}
	return where + ": " + e.Reason
}
func (e *ConditionError) Is(t error) bool { return t == ErrCondition }

// LimitError reports a computation refused because its estimated cost
// exceeds a cap (Reached false), or stopped at a cap (Reached true).
type LimitError struct {
	What     string  // the computation
	Resource string  // "memory", "time", "iterations", "parameters"
	Estimate float64 // in the resource's unit (bytes, seconds, count)
	Limit    float64
	Unit     string
	Reached  bool
	Hint     string // how to raise the cap
}

func (e *LimitError) Error() string {
	verb := "would need"
	if e.Reached {
		verb = "reached"
	}
	msg := fmt.Sprintf("%s: %s %s %s, limit %s", e.What, verb, Amount(e.Estimate, e.Unit), e.Resource, Amount(e.Limit, e.Unit))
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}
func (e *LimitError) Is(t error) bool { return t == ErrLimit }

// Amount prints a quantity with its unit, bytes in KB/MB/GB.
func Amount(x float64, unit string) string {
	if unit == "B" {
		switch {
		case x >= 1e9:
			return fmt.Sprintf("%.3g GB", x/1e9)
		case x >= 1e6:
			return fmt.Sprintf("%.3g MB", x/1e6)
		case x >= 1e3:
			return fmt.Sprintf("%.3g kB", x/1e3)
		}
		return fmt.Sprintf("%.0f B", x)
	}
	if unit == "" {
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprintf("%.3g %s", x, unit)
}

// InternalError is a recovered panic.
type InternalError struct {
	Where string // the call that panicked
	Panic any
	Stack string
}

func (e *InternalError) Error() string {
	return fmt.Sprintf("%s: internal panic: %v", e.Where, e.Panic)
}
func (e *InternalError) Is(t error) bool { return t == ErrInternal }

// Recover turns a panic into an *InternalError stored in *err. Use it as
// `defer errs.Recover("hvp.Hv", &err)`.
func Recover(where string, err *error) {
	if r := recover(); r != nil {
		*err = &InternalError{Where: where, Panic: r, Stack: string(debug.Stack())}
	}
}

// RecoverOf is Recover for a hot path: where is formatted only if there
// was a panic (graph.do formatted its op's name on every op it ran,
// 15–25% of a small model's pass). Use it as
// `defer errs.RecoverOf(func() string { return … }, &err)`.
func RecoverOf(where func() string, err *error) {
	if r := recover(); r != nil {
		*err = &InternalError{Where: where(), Panic: r, Stack: string(debug.Stack())}
	}
}

// RunError reports an op that failed while a product ran, naming its node.
type RunError struct {
	Product string // the product being run
	Node    *G.Node
	Err     error // the op's error
}

func (e *RunError) Error() string {
	if e.Node == nil {
		return fmt.Sprintf("running %s: %v", e.Product, e.Err)
	}
	return fmt.Sprintf("running %s: node %s, op %v: %v", e.Product, Label(e.Node), e.Node.Op(), e.Err)
}
func (e *RunError) Unwrap() error { return e.Err }

// Is matches ErrInternal when the op's error carries no sentinel.
func (e *RunError) Is(t error) bool { return t == ErrInternal && !hasSentinel(e.Err) }

var sentinels = []error{ErrShape, ErrArgument, ErrNotFinite, ErrNoRule, ErrNoInverse, ErrCondition, ErrLimit, ErrInternal}

func hasSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// Sentinel returns the sentinel err matches, or nil.
func Sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}
