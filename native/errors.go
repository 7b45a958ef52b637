package native

import (
	"errors"
	"math/bits"
	"regexp"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
)

// privateIDs is the first node id of a translation's private graph
// (gorgoniax.StartIDs): far above any id of a user's graph, so that a
// reference %id in a message is to a private node exactly when id ≥
// privateIDs, even in a message that also names the user's nodes. (If
// Gorgonia's fields cannot be reached, the private graph counts from 0 and
// only references to private nodes computing a user's node are
// rewritten.)
const privateIDs = 1 << (bits.UintSize / 2)

// index records the private nodes that compute a user's node by id, for
// Annotate (once, when Translate is done: read-only afterwards).
func (t *Translation) index() {
	t.byID = map[int64]*G.Node{}
	for p := range t.mapped {
		t.byID[p.ID()] = p
	}
	for p := range t.inputs {
		t.byID[p.ID()] = p
	}
}

var nodeRef = regexp.MustCompile(`%[0-9a-f]+`)

// Annotate rewrites s, a message that may name nodes of the translation,
// in the user's terms: a reference %id to a private node that computes a
// user's node, and the private name after it, become the user's node's
// label (errs.Label: its id and name in the user's graph); a reference to
// another private node (a node of newtonia's passes) becomes
// "newtonia's" before the name that says what it computes, whose
// references are rewritten in turn — e.g. "newtonia's sigmoid⁽¹⁾(%4 x·W)",
// the derivative of the sigmoid at the user's node %4 — and "…" where no
// name follows (an argument of such a name). References to the
// user's nodes are kept, so that Annotate may be applied again.
func (t *Translation) Annotate(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range nodeRef.FindAllStringIndex(s, -1) {
		if m[0] < last {
			continue // inside a name already replaced
		}
		id, err := strconv.ParseInt(s[m[0]+1:m[1]], 16, 64)
		if err != nil || id < t.first {
			continue
		}
		p := t.byID[id]
		if p == nil && t.first == 0 {
			continue // no telling a private id from a user's
		}
		b.WriteString(s[last:m[0]])
		last = m[1]
		if p == nil { // a node of the passes: what it computes, if its name follows
			if strings.HasPrefix(s[last:], " ") {
				b.WriteString("newtonia's")
			} else {
				b.WriteString("…")
			}
			continue
		}
		b.WriteString(errs.Label(t.UserNode(p)))
		if strings.HasPrefix(s[last:], " "+p.Name()) {
			last += 1 + len(p.Name())
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// UserError returns err in the user's terms (issue 19 item 23): the
// nodes its typed errors carry (RunError, NoRuleError,
// DependencyLoopError) re-pointed to the user's nodes they translate where
// there is one, the names and reasons they carry rewritten by Annotate,
// and, when its message still names a private node (a wrapped message, a
// node of the passes), a message rewritten the same way; errors.As and
// errors.Is see the same typed errors and sentinels as before. A field is
// written only when it changes, so that an error already in the user's
// terms (shared by several calls) is only read.
func (t *Translation) UserError(err error) error {
	if err == nil {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *errs.RunError:
			t.repoint(&x.Node)
		case *errs.NoRuleError:
			t.repoint(&x.Node)
		case *errs.DependencyLoopError:
			t.repoint(&x.Node)
			t.repoint(&x.Weight)
		case *errs.ShapeError:
			t.rewrite(&x.What)
			t.rewrite(&x.Reason)
		case *errs.NotFiniteError:
			t.rewrite(&x.What)
		case *errs.NoInverseError:
			t.rewrite(&x.Op)
			t.rewrite(&x.Reason)
		case *errs.ConditionError:
			t.rewrite(&x.Weight)
			t.rewrite(&x.Node)
			t.rewrite(&x.Op)
			t.rewrite(&x.Reason)
		case *errs.ArgumentError:
			t.rewrite(&x.What)
			t.rewrite(&x.Reason)
		case *errs.LimitError:
			t.rewrite(&x.What)
		case *errs.InternalError:
			t.rewrite(&x.Where)
		}
	}
	if msg, a := err.Error(), t.Annotate(err.Error()); a != msg {
		return &userError{msg: a, err: err}
	}
	return err
}

func (t *Translation) repoint(n **G.Node) {
	if *n == nil {
		return
	}
	if u := t.UserNode(*n); u != nil {
		*n = u
	}
}

func (t *Translation) rewrite(s *string) {
	if a := t.Annotate(*s); a != *s {
		*s = a
	}
}

// userError is an error whose message is rewritten in the user's terms.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }
