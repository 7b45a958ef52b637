package hvp

import (
	"errors"
	"fmt"

	"gorgonia.org/tensor"
)

// Sentinels for errors.Is; the typed errors below match them.
var (
	ErrShape     = errors.New("wrong shape")
	ErrNotFinite = errors.New("not finite")
	ErrNoInverse = errors.New("no inverse")
	ErrCondition = errors.New("condition for an exact result violated")
)

// ShapeError reports a value whose shape (or count, or dtype) does not fit
// the graph.
type ShapeError struct {
	What      string // e.g. "direction for W2"
	Got, Want tensor.Shape
	Reason    string // when not a plain shape mismatch
}

func (e *ShapeError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("hvp: %s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("hvp: %s has shape %v, want %v", e.What, e.Got, e.Want)
}
func (e *ShapeError) Is(target error) bool { return target == ErrShape }

// NotFiniteError reports a NaN or Inf in an input, weight or direction.
type NotFiniteError struct {
	What  string
	Index int // row-major
	Value float64
}

func (e *NotFiniteError) Error() string {
	return fmt.Sprintf("hvp: %s: element %d is %v", e.What, e.Index, e.Value)
}
func (e *NotFiniteError) Is(target error) bool { return target == ErrNotFinite }

// NoInverseError reports a block whose gradient map has no op-by-op
// inverse: an op without an inverse rule (plain ReLU) or a dependency loop
// (a smooth activation). Err is the rewriter's error
// (*graph.NoRuleError or *graph.DependencyLoopError), naming the node.
type NoInverseError struct {
	Block  int
	Weight string
	Err    error
}

func (e *NoInverseError) Error() string {
	return fmt.Sprintf("hvp: block %d (%s): no inverse: %v", e.Block, e.Weight, e.Err)
}
func (e *NoInverseError) Is(target error) bool { return target == ErrNoInverse }
func (e *NoInverseError) Unwrap() error        { return e.Err }

// ConditionError reports a violated condition of exactness: a shape
// condition found before running (Kind Refused), a matrix too
// ill-conditioned to factorise, or a residual above tolerance.
type ConditionError struct {
	Block  int
	Weight string
	Node   string  // the node at fault, when one is
	Op     string  // its op
	Reason string  // the condition, with its numbers
	Value  float64 // the measured quantity (condition number or residual), if any
	Result *Inverse
}

func (e *ConditionError) Error() string {
	where := fmt.Sprintf("block %d (%s)", e.Block, e.Weight)
	if e.Node != "" {
		where += fmt.Sprintf(", node %s, op %s", e.Node, e.Op)
	}
	return fmt.Sprintf("hvp: %s: %s", where, e.Reason)
}
func (e *ConditionError) Is(target error) bool { return target == ErrCondition }
