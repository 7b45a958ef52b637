package main

import (
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
)

// denseEigs returns the eigenvalues of a dense symmetric matrix, descending.
func denseEigs(t *testing.T, h *mat.Dense) []float64 {
	t.Helper()
	n, _ := h.Dims()
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := range n {
			s.SetSym(i, j, (h.At(i, j)+h.At(j, i))/2)
		}
	}
	var e mat.EigenSym
	if !e.Factorize(s, false) {
		t.Fatal("eigendecomposition failed")
	}
	v := e.Values(nil)
	sort.Sort(sort.Reverse(sort.Float64Slice(v)))
	return v
}

// spectrum -json on the shipped example: the shape, every list
// descending, the values those of the dense Hessian and dense blocks from
// exact R-pass columns (Lanczos's tolerance 1e-10 of ‖H‖, see package
// spectral's tests), the nearest-0 values the dense block's smallest in
// magnitude to 1e-8 relative, the trace estimate within 3 stderr of the
// dense trace (seeded, deterministic), and the density a PNG.
func TestSpectrumJSON(t *testing.T) {
	pngPath := filepath.Join(t.TempDir(), "density.png")
	code, out, errOut := runCmd(t, "spectrum", "-top", "3", "-bottom", "2", "-nearest", "0", "-trace", "-density", pngPath, "-json", example)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	full := raw["full"].(map[string]any)
	for _, key := range []string{"top", "bottom", "trace"} {
		if _, ok := full[key]; !ok {
			t.Errorf("full has no %q: %s", key, out)
		}
	}
	if tr := full["trace"].(map[string]any); len(tr) != 2 || tr["estimate"] == nil || tr["stderr"] == nil {
		t.Errorf("trace is %v, want {estimate, stderr}", tr)
	}
	var rep spectrumReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	net, err := nets.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProducts(net)
	if err != nil {
		t.Fatal(err)
	}
	hd, err := reference.DenseHessian(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	dense := denseEigs(t, hd)
	scale := math.Max(dense[0], -dense[len(dense)-1])
	check := func(what string, got, want []float64, tol float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range got {
			if i > 0 && got[i] > got[i-1] {
				t.Errorf("%s not descending: %v", what, got)
			}
			if math.Abs(got[i]-want[i]) > tol {
				t.Errorf("%s[%d] = %.15g, dense %.15g", what, i, got[i], want[i])
			}
		}
	}
	check("full top", rep.Full.Top, dense[:3], 1e-10*scale)
	check("full bottom", rep.Full.Bottom, dense[len(dense)-2:], 1e-10*scale)
	trace := 0.0
	for j := range len(dense) {
		trace += hd.At(j, j)
	}
	if tr := rep.Full.Trace; math.Abs(tr.Estimate-trace) > 3*tr.StdErr {
		t.Errorf("trace %.6g ± %.2g, dense %.6g", tr.Estimate, tr.StdErr, trace)
	}
	if len(rep.Blocks) != p.Blocks() {
		t.Fatalf("%d blocks, want %d", len(rep.Blocks), p.Blocks())
	}
	for l, b := range rep.Blocks {
		hl, err := reference.DenseBlock(p, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := denseEigs(t, hl)
		s := math.Max(d[0], -d[len(d)-1])
		check(b.Name+" top", b.Top, d[:3], 1e-10*s)
		check(b.Name+" bottom", b.Bottom, d[len(d)-2:], 1e-10*s)
		byMag := append([]float64(nil), d...)
		sort.Slice(byMag, func(i, j int) bool { return math.Abs(byMag[i]) < math.Abs(byMag[j]) })
		near := byMag[:3]
		sort.Sort(sort.Reverse(sort.Float64Slice(near)))
		check(b.Name+" nearest", b.Nearest, near, 1e-8*math.Abs(near[len(near)-1]))
		if len(b.Residuals) != 3+2+3 {
			t.Errorf("%s: %d residuals, want 8", b.Name, len(b.Residuals))
		}
		for _, r := range b.Residuals {
			if r > 1e-7*s {
				t.Errorf("%s: residual %.2g of ‖H_ll‖ %.3g", b.Name, r, s)
			}
		}
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("density is not a PNG: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(pngPath), ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A net whose blocks' exact inverses are refused (batch 8 > fan-in 6 and
// 4 take the dense route; input feature 0 and W1's column 0 set to zero
// leave each block's rows of one input without curvature, so both dense
// blocks are singular): eigenvalues by Lanczos as for any block, no
// nearest values, the reason in the text report, the key absent from the
// JSON.
func TestSpectrumRefusedBlocks(t *testing.T) {
	m, err := nets.Build(nets.Spec{Batch: 8, In: 6, Layers: []nets.Layer{{Out: 4, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 4, Act: ops.IdentityFunc{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rand.New(rand.NewPCG(3, 3)), 0.4, 1); err != nil {
		t.Fatal(err)
	}
	for _, z := range []struct {
		d    []float64
		cols int
	}{{m.X.Value().Data().([]float64), 6}, {m.Weights[0].Value().Data().([]float64), 4}} {
		for i := 0; i < len(z.d); i += z.cols {
			z.d[i] = 0
		}
	}
	path, err := nets.Save(t.TempDir(), m, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "spectrum", "-nearest", "0", path)
	if code != exitOK || strings.Count(out, "no shift-invert") != 2 {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, "spectrum", "-nearest", "0", "-json", path)
	var rep struct {
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if len(rep.Blocks) != 2 {
		t.Fatalf("%d blocks, want 2: %s", len(rep.Blocks), out)
	}
	for _, b := range rep.Blocks {
		if _, ok := b["nearest"]; ok || len(b["top"].([]any)) != 5 {
			t.Errorf("block %v: want 5 top values and no nearest", b)
		}
	}
}

// The text report, and the refusals: usage errors exit 2 (σ ≠ 0 among
// them, with the reason), a missing net exits 1.
func TestSpectrumErrors(t *testing.T) {
	code, out, errOut := runCmd(t, "spectrum", example)
	if code != exitOK || !strings.Contains(out, "block W3") || !strings.Contains(out, "top") {
		t.Errorf("text report: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"spectrum", "-nearest", "0.5", example}, exitUsage, "only σ = 0"},
		{[]string{"spectrum", "-nearest", "x", example}, exitUsage, "bad σ"},
		{[]string{"spectrum", "-top", "-1", example}, exitUsage, "≥ 0"},
		{[]string{"spectrum"}, exitUsage, "one NET.json"},
		{[]string{"spectrum", "-bogus", example}, exitUsage, ""},
		{[]string{"spectrum", filepath.Join(t.TempDir(), "none.json")}, exitError, "newtonia:"},
	} {
		code, _, errOut := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}
