package main

import (
	"strings"
	"testing"
)

// The report and the results it predicts, for every case of the example:
// refused and no-inverse blocks must say why; certified blocks must be so.
func TestConditionsExample(t *testing.T) {
	var b strings.Builder
	if err := run(&b, cases); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"exact inverse, certified",
		"(v outside the range; normal residual",
		"Newton-only, certified",
		"more columns (12) than rows (8)",
		"relu is not injective", "error [condition for an exact result violated]",
		"dependency loop", "per-sample route", "chain route: refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
