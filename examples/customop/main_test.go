package main

import (
	"io"
	"testing"
)

// The example's claims, as a test: the op passes opcheck (run returns its
// error) and InvHv matches the dense block solve. The reference is central
// differences of the gradient, whose rounding (about 1e-14 relative in H,
// method.md §8) is amplified by cond(H_ll) like the B-pass's own: hence a
// bound of 1e3·ε·cond rather than the 100·ε·cond used against closed forms.
func TestCustomOp(t *testing.T) {
	worst, err := run(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if worst > 1e3 {
		t.Errorf("InvHv error is %.3g·ε·cond(H_ll), want ≤ 1e3", worst)
	}
}
