package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/spectral"
)

// spectrumReport is what spectrum -json prints: every list of eigenvalues
// in descending order.
type spectrumReport struct {
	Full   fullSpectrum    `json:"full"`
	Blocks []blockSpectrum `json:"blocks"`
}

type fullSpectrum struct {
	Top    []float64      `json:"top,omitempty"`
	Bottom []float64      `json:"bottom,omitempty"` // the smallest algebraic
	Trace  *traceEstimate `json:"trace,omitempty"`
}

type traceEstimate struct {
	Estimate float64 `json:"estimate"`
	StdErr   float64 `json:"stderr"`
}

type blockSpectrum struct {
	Name    string    `json:"name"`
	Top     []float64 `json:"top,omitempty"`
	Bottom  []float64 `json:"bottom,omitempty"`
	Nearest []float64 `json:"nearest,omitempty"` // by shift-invert, where the block's inverse is exact
	// Residuals are ‖H_ll x − λ x‖ of top, then bottom, then nearest, in
	// their order.
	Residuals []float64 `json:"residuals"`
	// for the text report
	iterations, bpasses int
	nearestNote         string
}

const spectrumUsage = `usage: newtonia spectrum [-top k] [-bottom k] [-nearest σ] [-trace] [-density out.png] [-json] NET.json

Eigenvalues of the Hessian H and of each block's H_ll by Lanczos (full
reorthogonalisation; each with its residual ‖Hx − λx‖), the k nearest σ of
each block whose B-pass is exact by shift-invert (Lanczos on H_ll⁻¹; only
σ = 0: the B-pass has no exact (H_ll − σI)⁻¹ for σ ≠ 0), H's trace by
Hutch++, and H's spectral density by stochastic Lanczos quadrature as a PNG
(written atomically). k is capped at each operator's size.`

func spectrum(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spectrum", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, spectrumUsage); fs.PrintDefaults() }
	top := fs.Int("top", 5, "the k largest eigenvalues of H and of each block (0: none)")
	bottom := fs.Int("bottom", 0, "the k smallest (algebraic) eigenvalues of H and of each block")
	nearest := fs.String("nearest", "", "σ: each exact block's eigenvalues nearest σ by shift-invert, as many as -top (at least 1); only 0 is supported")
	doTrace := fs.Bool("trace", false, fmt.Sprintf("estimate tr(H) by Hutch++ (%d Hv products) with its standard error", spectral.DefaultSamples))
	density := fs.String("density", "", "write H's spectral density (SLQ) as a PNG to this file, atomically")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "newtonia spectrum: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() != 1 {
		return usageErr("want one NET.json")
	}
	if *top < 0 || *bottom < 0 {
		return usageErr("-top and -bottom must be ≥ 0")
	}
	withNearest := *nearest != ""
	if withNearest {
		sigma, err := strconv.ParseFloat(strings.TrimSpace(*nearest), 64)
		if err != nil || math.IsNaN(sigma) || math.IsInf(sigma, 0) {
			return usageErr("-nearest: bad σ %q (want a finite number)", *nearest)
		}
		if sigma != 0 {
			return usageErr("-nearest %g: only σ = 0 is supported (the B-pass inverts H_ll and H_ll + λ·h̃ᵀh̃⊗I, not H_ll − σI)", sigma)
		}
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
	rep, err := computeSpectrum(p, *top, *bottom, withNearest, *doTrace)
	if err != nil {
		fmt.Fprintln(stderr, "newtonia:", err)
		return exitError
	}
	if *density != "" {
		d, err := spectral.SLQ(spectral.Hessian(p), nil)
		if err == nil {
			var img []byte
			if img, err = d.PNG(fmt.Sprintf("spectral density of H (%s)", fs.Arg(0)), 0); err == nil {
				err = nets.WriteFile(*density, img, true)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "newtonia: -density:", err)
			return exitError
		}
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "newtonia:", err)
			return exitError
		}
		return exitOK
	}
	printSpectrum(stdout, p, rep, *density)
	return exitOK
}

// computeSpectrum runs every Lanczos the flags ask for.
func computeSpectrum(p *hvp.Problem, top, bottom int, withNearest, doTrace bool) (*spectrumReport, error) {
	rep := &spectrumReport{Blocks: []blockSpectrum{}}
	h := spectral.Hessian(p)
	eig := func(what string, a spectral.Operator, k int, which spectral.Which) (*spectral.Eigen, error) {
		if k = min(k, a.Size()); k == 0 {
			return &spectral.Eigen{}, nil
		}
		e, err := spectral.Lanczos(a, k, which, nil)
		if err != nil {
			return nil, fmt.Errorf("%s, %d %s eigenvalues: %w", what, k, which, err)
		}
		return e, nil
	}
	e, err := eig("H", h, top, spectral.LargestAlgebraic)
	if err != nil {
		return nil, err
	}
	rep.Full.Top = e.Values
	if e, err = eig("H", h, bottom, spectral.SmallestAlgebraic); err != nil {
		return nil, err
	}
	rep.Full.Bottom = e.Values
	if doTrace {
		t, err := spectral.HutchPP(h, nil)
		if err != nil {
			return nil, fmt.Errorf("trace of H: %w", err)
		}
		rep.Full.Trace = &traceEstimate{Estimate: t.Value, StdErr: t.StdErr}
	}
	for l := range p.Blocks() {
		b := p.Block(l)
		bs := blockSpectrum{Name: b.Name(), Residuals: []float64{}}
		hl := spectral.BlockHessian(b)
		what := "block " + b.Name()
		for _, q := range []struct {
			k     int
			which spectral.Which
			dst   *[]float64
		}{{top, spectral.LargestAlgebraic, &bs.Top}, {bottom, spectral.SmallestAlgebraic, &bs.Bottom}} {
			e, err := eig(what, hl, q.k, q.which)
			if err != nil {
				return nil, err
			}
			*q.dst = e.Values
			bs.Residuals = append(bs.Residuals, e.Residuals...)
			bs.iterations += e.Iterations
		}
		if withNearest {
			if c := b.Conditions(); c.Kind != hvp.KindExact {
				bs.nearestNote = fmt.Sprintf("no shift-invert: the block's B-pass is %s, not the exact H_ll⁻¹; newtonia check says why", c.Kind)
			} else {
				e, err := spectral.ShiftInvert(b, min(max(top, 1), hl.Size()), 0, nil, nil)
				switch {
				case errors.Is(err, errs.ErrCondition):
					// The run narrowed the kind (a rank-deficient layer
					// input) or a product failed its certificate: no
					// nearest values for this block, the reason in the report.
					bs.nearestNote = "no shift-invert: " + err.Error()
				case err != nil:
					return nil, fmt.Errorf("%s, shift-invert: %w", what, err)
				default:
					bs.Nearest = e.Values
					bs.Residuals = append(bs.Residuals, e.Residuals...)
					bs.bpasses = e.Products
				}
			}
		}
		rep.Blocks = append(rep.Blocks, bs)
	}
	return rep, nil
}

func printSpectrum(w io.Writer, p *hvp.Problem, rep *spectrumReport, density string) {
	list := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprintf("%.6g", x)
		}
		return strings.Join(s, "  ")
	}
	fmt.Fprintf(w, "H (%d parameters)\n", p.Layout().Len())
	if len(rep.Full.Top) > 0 {
		fmt.Fprintf(w, "  top     %s\n", list(rep.Full.Top))
	}
	if len(rep.Full.Bottom) > 0 {
		fmt.Fprintf(w, "  bottom  %s\n", list(rep.Full.Bottom))
	}
	if t := rep.Full.Trace; t != nil {
		fmt.Fprintf(w, "  trace   %.6g ± %.2g (Hutch++, %d Hv)\n", t.Estimate, t.StdErr, spectral.DefaultSamples)
	}
	if density != "" {
		fmt.Fprintf(w, "  density %s (stochastic Lanczos quadrature)\n", density)
	}
	for l, b := range rep.Blocks {
		fmt.Fprintf(w, "block %s (%d parameters)\n", b.Name, p.Block(l).Layout().Len())
		if len(b.Top) > 0 {
			fmt.Fprintf(w, "  top     %s\n", list(b.Top))
		}
		if len(b.Bottom) > 0 {
			fmt.Fprintf(w, "  bottom  %s\n", list(b.Bottom))
		}
		if len(b.Nearest) > 0 {
			fmt.Fprintf(w, "  nearest %s  (shift-invert at 0, %d B-passes)\n", list(b.Nearest), b.bpasses)
		} else if b.nearestNote != "" {
			fmt.Fprintf(w, "  nearest —  (%s)\n", b.nearestNote)
		}
		r := 0.0
		for _, x := range b.Residuals {
			r = math.Max(r, x)
		}
		if len(b.Residuals) > 0 {
			fmt.Fprintf(w, "  largest residual ‖H_ll x − λx‖ %.2g (%d Lanczos steps)\n", r, b.iterations)
		}
	}
}
