package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// peakRSS returns the process's peak resident set size in bytes since it
// started or since the last resetPeakRSS: Linux's VmHWM in
// /proc/self/status (the figure getrusage's ru_maxrss reports, which the
// Python side prints for its own process).
func peakRSS() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(status))
}

// resetPeakRSS sets the peak to the current resident set size (Linux ≥ 4.0:
// writing 5 to /proc/self/clear_refs), so that each net's peak is its own;
// an error leaves the peak the process's so far.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// parseVmHWM reads the VmHWM line of a /proc/<pid>/status text
// ("VmHWM:\t  123456 kB") into bytes.
func parseVmHWM(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM line %q: want a number of kB", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("VmHWM line %q: want a number of kB", line)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmHWM line in the process status")
}

// mib formats bytes in MiB, or "?" when unknown (≤ 0).
func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0fM", float64(b)/(1<<20))
}
