package main

import (
	"runtime"
	"testing"
)

// VmHWM is read in kB and returned in bytes; a status without it, or with
// another unit or a malformed number, is an error, not a zero.
func TestParseVmHWM(t *testing.T) {
	status := "Name:\tpeer\nVmPeak:\t 2000000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n"
	if got, err := parseVmHWM(status); err != nil || got != 51234*1024 {
		t.Errorf("parseVmHWM = %d, %v; want %d", got, err, 51234*1024)
	}
	for _, bad := range []string{"Name:\tpeer\nVmRSS:\t 4 kB\n", "VmHWM:\t 12 MB\n", "VmHWM:\t x kB\n", "VmHWM:\t -3 kB\n", "VmHWM:\n"} {
		if got, err := parseVmHWM(bad); err == nil {
			t.Errorf("parseVmHWM(%q) = %d, want an error", bad, got)
		}
	}
	if got := mib(3 << 20); got != "3M" {
		t.Errorf("mib(3 MiB) = %q", got)
	}
	if got := mib(0); got != "?" {
		t.Errorf("mib(0) = %q", got)
	}
}

// On Linux the live figure is at least the memory a fresh 64 MiB buffer
// touched, and after a reset it still counts what stays resident.
func TestPeakRSSSeesAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	p, err := peakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if p < 64<<20 {
		t.Errorf("peak RSS %d bytes with 64 MiB touched", p)
	}
	if err := resetPeakRSS(); err != nil {
		t.Skipf("clear_refs not writable: %v", err)
	}
	q, err := peakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if q < 64<<20 {
		t.Errorf("peak RSS %d bytes after reset with 64 MiB resident", q)
	}
	runtime.KeepAlive(buf)
}
