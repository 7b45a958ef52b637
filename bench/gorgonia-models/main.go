// Command gorgonia-models is the runnable check of Gorgonia's constructs
// (issue 21 item 8): models written in Gorgonia's idiom — linear and
// logistic regression, ReLU MLPs, a convnet, autoencoders with tied weights,
// an LSTM, dropout, weight decay; float64 and float32 — each checked end to
// end against Gorgonia itself:
//
//	go run ./bench/gorgonia-models            every row
//	go run ./bench/gorgonia-models -run lstm  rows whose "name/dtype" matches
//
// Per row: hvp.New accepts the model (or its error, which must name one of
// the model's nodes); newtonia's loss equals the TapeMachine's to rounding;
// G.Grad, run by Gorgonia's TapeMachine, against central
// differences of the TapeMachine's loss (a disagreement is reported as
// Gorgonia's defect, and newtonia's gradient, checked the same way, is
// differenced instead); Hv against central differences of that gradient at
// r and r/2, whose error must fall ≈4× (ratio in [3, 5]) or be rounding at
// both; the conditions per block; InvHv per block (kind and residual, its
// residual recomputed by central differences when exact, or the refusal);
// one step of each optimizer (optimizers.go) with the loss before and after
// as the TapeMachine computes it. The tolerances, and why, are beside tols
// in check.go. Every evaluation uses a new TapeMachine.
//
// A row fails when any check fails: an Hv not O(r²)-close, a panic, hvp.New
// or an optimizer refusing the model, an optimizer increasing the loss or
// replacing its method by a gradient step, an exact inverse expected and not
// given. Random models (Dropout, BinomialRandomNode) are also built live,
// with Gorgonia's random nodes, for hvp.New to accept; Gorgonia's TapeMachine
// redraws them on every run, so the other checks run on a twin that holds one
// draw as an input. The command exits 1 if any row fails.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

func main() {
	runFlag := flag.String("run", "", "only rows whose name/dtype matches this regular expression")
	seed := flag.Uint64("seed", 1, "seed of the data, the weights and the draws")
	flag.Parse()
	re, err := regexp.Compile(*runFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gorgonia-models:", err)
		os.Exit(2)
	}
	rows := runAll(os.Stdout, re, *seed)
	printSummary(os.Stdout, rows)
	for _, r := range rows {
		if len(r.fails) > 0 {
			os.Exit(1)
		}
	}
}

// runAll checks every row matching re, printing each as it completes.
func runAll(w io.Writer, re *regexp.Regexp, seed uint64) []*row {
	var rows []*row
	for _, s := range specs {
		for _, dt := range s.dtypes {
			if !re.MatchString(s.name + "/" + dt.String()) {
				continue
			}
			start := time.Now()
			r := check(s, dt, seed)
			r.say("%s in %.2fs", verdict(r), time.Since(start).Seconds())
			fmt.Fprintln(w, strings.Join(r.lines, "\n  "))
			fmt.Fprintln(w)
			rows = append(rows, r)
		}
	}
	return rows
}

func verdict(r *row) string {
	if len(r.fails) == 0 {
		return "PASS"
	}
	return fmt.Sprintf("FAIL (%d)", len(r.fails))
}

func printSummary(w io.Writer, rows []*row) {
	fmt.Fprintf(w, "%-22s %-8s %-8s %-10s", "row", "accepted", "Hv ratio", "exact inv")
	for _, o := range optimizerNames {
		fmt.Fprintf(w, " %-6s", o)
	}
	fmt.Fprintf(w, " %s\n", "result")
	pass := 0
	for _, r := range rows {
		acc, ratio, inv := "no", "-", "-"
		if r.accepted {
			acc = "yes"
			inv = fmt.Sprintf("%d/%d", r.exact, r.blocks)
		}
		if r.ratio == r.ratio {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		if r.hvRound {
			ratio = "rounding"
		}
		fmt.Fprintf(w, "%-22s %-8s %-8s %-10s", r.key, acc, ratio, inv)
		for _, o := range optimizerNames {
			s := r.opts[o]
			if s == "" {
				s = "-"
			}
			fmt.Fprintf(w, " %-6s", s)
		}
		if len(r.fails) == 0 {
			pass++
		}
		fmt.Fprintf(w, " %s", verdict(r))
		if len(r.tags) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(r.tags, ", "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%d of %d rows pass. Optimizers: ok = loss not increased, up = increased, ok* = not increased, some blocks falling back by name (Step.Fallbacks, with the reason), err = error.\n",
		pass, len(rows))
}
