package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
)

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "newtonia check: want one NET.json")
		return exitUsage
	}
	net, err := nets.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	p, err := newProducts(net)
	if err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	conds := p.Conditions()
	if *asJSON {
		if err := printJSON(stdout, conds); err != nil {
			fmt.Fprintln(stderr, "newtonia:", err)
			return exitError
		}
	} else {
		fmt.Fprint(stdout, conds)
	}
	return refusedExit(conds, stderr)
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// refusedExit names each refused block on stderr and returns exitRefused
// if there is one.
func refusedExit(conds hvp.Conditions, stderr io.Writer) int {
	code := exitOK
	for _, c := range conds {
		if c.Kind == hvp.KindRefused {
			fmt.Fprintf(stderr, "newtonia: block %d (%s): exact inverse refused before running (the report says why: a non-L2 penalty, or a dense route above its cap); H_ll itself may be invertible (products solves it densely up to -dense-max parameters)\n", c.Block, c.Weight)
			code = exitRefused
		}
	}
	return code
}
