// Package budget holds the default caps of newtonia's large allocations and
// the estimate-before-allocating check they share.
//
// Every allocation that grows with the problem (per-sample seeds, dense
// curvature, dense references, -random nets in the CLI) is estimated before
// it is made and refused above its cap with an *errs.LimitError that names
// the computation and the bytes. The default cap is a fraction of the
// machine's physical memory, so a refusal comes before the kernel's
// out-of-memory killer does.
package budget

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/newtonia/newtonia/errs"
)

// DefaultFraction is the share of physical memory one allocation may take
// by default.
const DefaultFraction = 0.25

// fallbackPhysical is assumed where the physical memory cannot be read.
const fallbackPhysical = 8 << 30

var (
	physOnce sync.Once
	phys     int64
)

// Physical returns the machine's physical memory in bytes (8 GiB where the
// operating system does not say).
func Physical() int64 {
	physOnce.Do(func() {
		phys = fallbackPhysical
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err == nil && si.Totalram > 0 {
			phys = int64(si.Totalram) * int64(si.Unit)
		}
	})
	return phys
}

// DefaultBytes is the default cap of one allocation: DefaultFraction of
// Physical().
func DefaultBytes() int64 { return int64(DefaultFraction * float64(Physical())) }

// Bytes returns cap, or DefaultBytes() where cap is 0.
func Bytes(cap int64) int64 {
	if cap == 0 {
		return DefaultBytes()
	}
	return cap
}

// Check refuses an allocation of estimate bytes above limit (0: the
// default) with an *errs.LimitError naming what and saying how the
// estimate was made (hint).
func Check(what string, estimate float64, limit int64, hint string) error {
	limit = Bytes(limit)
	if limit < 0 || estimate > float64(limit) {
		return &errs.LimitError{What: what, Resource: "memory", Estimate: estimate, Limit: float64(limit), Unit: "B", Hint: hint}
	}
	return nil
}

// Float64s is the size in bytes of n float64 values, as a float64 so that
// products of large dimensions do not overflow.
func Float64s(n ...int) float64 {
	b := 8.0
	for _, d := range n {
		b *= float64(d)
	}
	return b
}

// Describe prints the default cap for documentation and -help texts.
func Describe() string {
	return fmt.Sprintf("%.0f%% of physical memory (%s here)", 100*DefaultFraction, errs.Amount(float64(DefaultBytes()), "B"))
}
