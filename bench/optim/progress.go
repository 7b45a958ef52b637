package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress shows a one-line status that rewrites itself on a terminal;
// elsewhere (a log file) it prints a plain line at most every 5 s and at
// the end of each run, so a log never fills with carriage-return frames.
type progress struct {
	w        io.Writer
	terminal bool
	last     time.Time
	line     string
}

func newProgress(f *os.File) *progress {
	st, err := f.Stat()
	return &progress{w: f, terminal: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) update(line string) {
	p.line = line
	if p.terminal {
		if time.Since(p.last) > 100*time.Millisecond {
			fmt.Fprintf(p.w, "\r%-100s", line)
			p.last = time.Now()
		}
		return
	}
	if time.Since(p.last) > 5*time.Second {
		fmt.Fprintln(p.w, line)
		p.last = time.Now()
	}
}

// done ends a run's status with its last line.
func (p *progress) done() {
	if p.terminal {
		fmt.Fprintf(p.w, "\r%-100s\n", p.line)
	} else {
		fmt.Fprintln(p.w, p.line)
	}
	p.last = time.Time{}
}
