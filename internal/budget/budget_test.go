package budget

import (
	"errors"
	"testing"

	"github.com/newtonia/newtonia/errs"
)

func TestCheck(t *testing.T) {
	if Physical() < 1<<20 {
		t.Fatalf("physical memory %d bytes: not read", Physical())
	}
	if d := DefaultBytes(); d <= 0 || d > Physical() {
		t.Fatalf("default cap %d not within (0, %d]", d, Physical())
	}
	if err := Check("small", 1024, 0, ""); err != nil {
		t.Fatal(err)
	}
	err := Check("seeds of block W1", Float64s(2000, 1200, 2000), 1<<30, "B·n·B values")
	var le *errs.LimitError
	if !errors.As(err, &le) || !errors.Is(err, errs.ErrLimit) || le.Estimate != 8*2000*1200*2000.0 || le.Limit != 1<<30 {
		t.Fatalf("got %v", err)
	}
}
