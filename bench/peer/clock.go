package main

import (
	"fmt"
	"syscall"
	"time"
)

// A clock reads a time for the benchmark's best-of-reps: the wall clock,
// or the process's CPU time.
type clock func() time.Duration

// clockOf returns the clock named by -clock: "wall" (time.Now: what a user
// waits, and what other work on a shared machine inflates) or "cpu" (the
// CPU time of the whole process, user and system, all threads: one thread
// computing plus the garbage collector's work, but not the time the
// process waits while other processes run). The Python side reads the same
// clock (time.perf_counter or time.process_time).
func clockOf(name string) (clock, error) {
	switch name {
	case "wall":
		start := time.Now()
		return func() time.Duration { return time.Since(start) }, nil
	case "cpu":
		return processCPU, nil
	}
	return nil, fmt.Errorf("-clock %q: want wall or cpu", name)
}

// processCPU is the process's CPU time so far, by getrusage(RUSAGE_SELF)
// (on Linux in microseconds).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(fmt.Errorf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
