// Command newtonia reports the Hessian products of a net given as .npy
// files, side by side.
//
//	newtonia check NET.json                 the conditions report of each block
//	newtonia products [flags] NET.json      every product by every method
//	newtonia products -random 32,32,32,32   the same for a random net, saved first
//	newtonia spectrum [flags] NET.json      eigenvalues, trace and spectral density of H and each block
//	newtonia influence [flags] NET.json     influence of training rows on a test loss
//
// A net is a JSON file naming .npy arrays (see nets.File and the README).
// Exit codes: 0 success; 1 bad input or failure (nothing written); 2 bad
// usage (flags); 3 finished and written, but some block's exact inverse
// was refused or is uncertified, whether the conditions report refused it
// before running or a check failed while running (the report says why);
// 128 + the signal's number (130, 143) when interrupted by SIGINT or
// SIGTERM, the temporary folder removed and -out untouched.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  newtonia check [-json] NET.json
  newtonia products [flags] NET.json
  newtonia products [flags] -random n0,n1,...,nL [-batch B] [-seed S] [-slope A]
  newtonia spectrum [-top k] [-bottom k] [-nearest σ] [-trace] [-density out.png] [-json] NET.json
  newtonia influence -train-x X.npy -train-y Y.npy -test-x X.npy -test-y Y.npy [-block l] [-out scores.npy] NET.json
run "newtonia products -h" for the flags`

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() { // a panic is a failure (exit 1), never the usage code
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "newtonia: internal error: %v\n", r)
			code = exitError
		}
	}()
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "products":
		return products(args[1:], stdout, stderr)
	case "spectrum":
		return spectrum(args[1:], stdout, stderr)
	case "influence":
		return influenceCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "newtonia: unknown command %q\n%s\n", args[0], usage)
	return exitUsage
}
