package main

import (
	"strconv"
	"strings"
	"testing"
)

// The example's claims, on a width-6 net: every B-pass row that is not
// refused is certified and within 1e-8 of the dense reference (these
// blocks have cond < 1e5: 1e-8 leaves room for ε·cond); the output block
// is Newton-only (random v refused, v = g certified); damped, every block
// is exact.
func TestClassifier(t *testing.T) {
	var b strings.Builder
	if err := run(&b, 6, 3, 1e-3); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	refused := 0
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) < 34 || !strings.HasPrefix(string([]rune(line)[8:]), "B-pass") {
			continue
		}
		if strings.Contains(line, "refused") {
			refused++
			if !strings.HasPrefix(line, "W3+b3") || !strings.Contains(line, "v random") || !strings.Contains(line, "Newton-only") {
				t.Errorf("unexpected refusal: %s", line)
			}
			continue
		}
		f := strings.Fields(string([]rune(line)[33:])) // after the block and method columns
		rel, err := strconv.ParseFloat(f[0], 64)
		if err != nil || rel > 1e-8 || f[2] != "true" {
			t.Errorf("row not certified within 1e-8: %s", line)
		}
	}
	if refused != 1 {
		t.Errorf("%d refusals, want 1 (the output block, random v):\n%s", refused, out)
	}
}
