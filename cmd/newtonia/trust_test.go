package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/internal/testnet"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"gorgonia.org/tensor"
)

// report reads an output folder's report.json.
func report(t *testing.T, out string) *Report {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

func entry(rep *Report, block, product, method string) *Entry {
	for _, e := range rep.Entries {
		if e.Block == block && e.Product == product && e.Method == method {
			return e
		}
	}
	return nil
}

// zeroFeature sets input feature 0 to zero over the batch: with batch >
// fan-in the first block, solved by the dense route, is singular (its
// rows of W1 have no curvature), so its exact inverse is refused when run.
func zeroFeature(x, _ *tensor.Dense, _ []*tensor.Dense) {
	d, cols := x.Float64s(), x.Shape()[1]
	for i := 0; i < len(d); i += cols {
		d[i] = 0
	}
}

// saveNet writes a leaky-ReLU net with the given shape into a new folder,
// after edit changes its values (x, y, weights), with directions if given.
func saveNet(t *testing.T, batch, in int, widths []int, edit func(x, y *tensor.Dense, ws []*tensor.Dense), dirs bool) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(batch*100+in), 9))
	var layers []nets.Layer
	for _, w := range widths {
		layers = append(layers, nets.Layer{Out: w, Act: ops.LeakyReLUFunc{Alpha: 0.5}})
	}
	m, err := nets.NewMLP(batch, in, layers)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 1/math.Sqrt(float64(in)), 1); err != nil {
		t.Fatal(err)
	}
	x, y := m.X.Value().(*tensor.Dense), m.Y.Value().(*tensor.Dense)
	ws := make([]*tensor.Dense, len(m.Weights))
	for k, w := range m.Weights {
		ws[k] = w.Value().(*tensor.Dense)
	}
	if edit != nil {
		edit(x, y, ws)
	}
	var vs []*tensor.Dense
	if dirs {
		vs = testnet.RandLike(rng, m).Tensors()
	}
	path, err := nets.Save(filepath.Join(t.TempDir(), "net"), m, vs, false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The dense minimum-norm reference on rank-deficient blocks agrees with
// the exact B-pass (it was wrong by 1e9–1e11 and showed a correct exact
// result as "rel. dense 6e-01"). The blocks' conditions on their range are
// below 1e7 here: 1e-6 leaves the margin of ε·cond for both.
func TestDenseOnRankDeficientBlocks(t *testing.T) {
	for _, args := range [][]string{{"-random", "8,8,8,8", "-batch", "5"}, {"-random", "12,10,8,6", "-batch", "6"}} {
		out := filepath.Join(t.TempDir(), "out")
		code, table, stderr := runCmd(t, append([]string{"products", "-out", out}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, table, stderr)
		}
		rep := report(t, out)
		for _, b := range []string{"W1", "W2", "W3"} {
			// A Newton-only block's B-pass solves H u = v but is not H⁺v:
			// its residual is what to check, and the dense references
			// against each other.
			if e := entry(rep, b, "InvHv", "newton-only"); e != nil {
				if *e.Residual > 1e-10 || e.RelToDense != nil {
					t.Errorf("%v %s: Newton-only entry %+v", args, b, e)
				}
			} else if e := entry(rep, b, "InvHv", "exact"); e == nil || e.RelToDense == nil || *e.RelToDense > 1e-6 {
				t.Errorf("%v %s: exact vs dense: %+v", args, b, e)
			}
			if d := entry(rep, b, "InvHv", "dense-fd"); d == nil || d.RelToDense == nil || *d.RelToDense > 1e-3 {
				t.Errorf("%v %s: dense-fd vs dense: %+v", args, b, d)
			}
		}
	}
}

// A file named "exact" holds only a certified exact or pseudo-inverse
// result: refused blocks (batch > fan-in with a zero input feature: the
// dense route's block is singular) and Newton-only blocks with
// random directions write "uncertified" files, marked in report.json, and
// exit 3 (they were written as W*.InvHv.exact.npy, and the Newton-only
// net exited 0).
func TestExactMeansCertified(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"batch > fan-in, singular", []string{saveNet(t, 7, 4, []int{4, 4}, zeroFeature, true)}},
		{"Newton-only, random directions", []string{saveNet(t, 6, 12, []int{10, 8, 6}, nil, true)}},
		{"singular input batch", []string{saveNet(t, 4, 4, []int{4, 4}, func(x, _ *tensor.Dense, _ []*tensor.Dense) {
			copy(x.Float64s()[4:8], x.Float64s()[0:4]) // two equal rows: every block singular
		}, true)}},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "out")
		code, table, stderr := runCmd(t, append([]string{"products", "-out", out}, c.args...)...)
		if code != exitRefused {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", c.name, code, exitRefused, table, stderr)
			continue
		}
		rep := report(t, out)
		if len(rep.ExactRefused) == 0 {
			t.Errorf("%s: report lists no refused block", c.name)
		}
		for _, e := range rep.Entries {
			if e.Product != "InvHv" || e.Method != "exact" {
				continue
			}
			if e.Certified == nil || !*e.Certified || (e.Kind != "exact inverse" && e.Kind != "pseudo-inverse") {
				t.Errorf("%s: %s written as exact: %+v", c.name, e.Block, e)
			}
		}
		files, _ := filepath.Glob(filepath.Join(out, "*.InvHv.uncertified.npy"))
		if c.name != "singular input batch" && len(files) == 0 {
			t.Errorf("%s: no uncertified result written", c.name)
		}
		for _, f := range files {
			b := strings.Split(filepath.Base(f), ".")[0]
			if e := entry(rep, b, "InvHv", "uncertified"); e == nil || e.Certified == nil || *e.Certified {
				t.Errorf("%s: %s not marked uncertified in report.json", c.name, f)
			}
		}
	}
}

// A panic is exit 1, never 2 (the usage code): here, writing to a nil
// stdout.
func TestPanicExit(t *testing.T) {
	var errb strings.Builder
	if code := run([]string{"check", example}, nil, &errb); code != exitError || !strings.Contains(errb.String(), "internal error") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// -force replaces the whole result set (stale files of an earlier run
// stayed); a failing run leaves the folder as it was and no temporary
// folder behind.
func TestOutputFolder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if code, _, stderr := runCmd(t, "products", "-out", out, "-r", "1e-6,1e-4", example); code != exitOK {
		t.Fatal(stderr)
	}
	stale := filepath.Join(out, "W1.InvHv.fd_r0.0001.npy")
	if _, err := os.Stat(stale); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "products", "-out", out, "-force", "-r", "1e-6", example); code != exitOK {
		t.Fatal(stderr)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("-force left a result of the earlier run that report.json does not list")
	}
	listed := map[string]bool{"report.json": true}
	for _, e := range report(t, out).Entries {
		for _, f := range e.Files {
			listed[f] = true
		}
	}
	names, _ := os.ReadDir(out)
	for _, n := range names {
		if !listed[n.Name()] {
			t.Errorf("%s is not listed in report.json", n.Name())
		}
	}
	before, _ := os.ReadFile(filepath.Join(out, "report.json"))
	bad := copyExample(t, func(dir string, f *nets.File) { f.Layers[0].Weights = "missing.npy" })
	if code, _, _ := runCmd(t, "products", "-out", out, "-force", bad); code != exitError {
		t.Errorf("bad net: exit %d", code)
	}
	after, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if string(before) != string(after) {
		t.Error("a failed run changed the earlier results")
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("temporary files left beside the output: %v", left)
	}
}

// Bad .npy files are clear errors, exit 1, nothing written: an element
// count that overflows, a shape whose product wraps to 0, a FIFO, a
// device, a header with a key twice.
func TestBadNpy(t *testing.T) {
	cases := []struct {
		name string
		make func(path string)
		want string
	}{
		{"overflowing shape", func(p string) {
			npyWithHeader(t, p, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 4), }", make([]byte, 8*36))
		}, "data bytes"},
		{"shape wrapping to 0", func(p string) {
			npyWithHeader(t, p, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", nil)
		}, "data bytes"},
		{"two descr keys", func(p string) {
			npyWithHeader(t, p, "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 6), 'descr': '>f8', }", make([]byte, 8*36))
		}, "given twice"},
		{"FIFO", func(p string) {
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip("no FIFO here:", err)
			}
		}, "not a regular file"},
		{"device", func(p string) {
			os.Remove(p)
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Skip(err)
			}
		}, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := copyExample(t, func(dir string, f *nets.File) { c.make(filepath.Join(dir, "W2.npy")) })
			out := filepath.Join(filepath.Dir(net), "out")
			code, _, stderr := runCmd(t, "products", "-out", out, net)
			if code != exitError || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "W2.npy") {
				t.Errorf("exit %d: %s", code, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("output written")
			}
		})
	}
}

// Legitimate runs that aborted: x = 0 (the dense reference panicked,
// "svd: rank out of range"), a zero gradient (an exact fit: "step r =
// +Inf"), and a CG capped by its iteration limit, which the table says.
// Every product runs; those that fail say why in their own entry.
func TestLegitimateEdgeRuns(t *testing.T) {
	zeroX := saveNet(t, 3, 3, []int{3, 3}, func(x, _ *tensor.Dense, _ []*tensor.Dense) { clear(x.Float64s()) }, true)
	out := filepath.Join(t.TempDir(), "out")
	code, table, stderr := runCmd(t, "products", "-out", out, zeroX)
	if code != exitRefused || !strings.Contains(table, "numerically singular") {
		t.Errorf("x = 0: exit %d\n%s\n%s", code, table, stderr)
	}
	if e := entry(report(t, out), "W1", "InvHv", "dense"); e == nil || !strings.Contains(e.Note, "rank 0") {
		t.Errorf("x = 0: dense entry %+v", e)
	}
	fit := saveNet(t, 3, 3, []int{3, 3}, func(x, y *tensor.Dense, ws []*tensor.Dense) {
		h := x
		for _, w := range ws { // y := h_L: zero loss, zero gradient
			h, _ = h.MatMul(w)
			for i, v := range h.Float64s() {
				if v < 0 {
					h.Float64s()[i] = 0.5 * v
				}
			}
		}
		copy(y.Float64s(), h.Float64s())
	}, false)
	out = filepath.Join(t.TempDir(), "out")
	code, table, stderr = runCmd(t, "products", "-out", out, fit)
	if code != exitOK {
		t.Errorf("zero gradient: exit %d\n%s\n%s", code, table, stderr)
	}
	for _, e := range report(t, out).Entries {
		if e.Error != "" && !strings.HasPrefix(e.Error, "skipped") {
			t.Errorf("zero gradient: %s %s %s failed: %s", e.Block, e.Product, e.Method, e.Error)
		}
	}
	out = filepath.Join(t.TempDir(), "out")
	code, table, stderr = runCmd(t, "products", "-out", out, "-cg-maxiter", "3", example)
	if code != exitOK || !strings.Contains(table, "3 (capped)") || !strings.Contains(table, "stopped at its iterations cap") {
		t.Errorf("capped CG: exit %d\n%s\n%s", code, table, stderr)
	}
	if e := entry(report(t, out), "W1", "InvHv", "cg"); e == nil || e.Capped != "iterations" {
		t.Errorf("capped CG not marked in report.json: %+v", e)
	}
}

// A dense reference above its memory cap is refused with the estimate,
// alone: everything else runs (-dense-max 100000 on a 256-wide net tried a
// 34 GB allocation and died).
func TestDenseMemoryCap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, table, stderr := runCmd(t, "products", "-out", out, "-random", "64,64,64", "-dense-max", "100000", "-dense-mem", "100000000", "-cg-maxiter", "5")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, table, stderr)
	}
	e := entry(report(t, out), "W1", "Hv", "dense")
	if e == nil || !strings.Contains(e.Error, "would need 537 MB memory, limit 100 MB") {
		t.Errorf("dense entry: %+v", e)
	}
	if e := entry(report(t, out), "W1", "InvHv", "exact"); e == nil || e.Error != "" {
		t.Errorf("exact entry: %+v", e)
	}
}

// Flags and files are validated before anything runs or is written, each
// message naming the flag or file.
func TestValidation(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-cg-tol", "-1", example}, exitUsage, "-cg-tol"},
		{[]string{"-cg-maxiter", "-5", example}, exitUsage, "-cg-maxiter"},
		{[]string{"-damping", "NaN", example}, exitUsage, "-damping"},
		{[]string{"-cg-time", "0s", example}, exitUsage, "-cg-time"},
		{[]string{"-random", "4,4", "-slope", "NaN"}, exitUsage, "-slope"},
		{[]string{"-seed", "3", example}, exitUsage, "-random only"},
		{[]string{"-r", "0", example}, exitUsage, "-r"},
	} {
		out := filepath.Join(dir, "out")
		code, _, stderr := runCmd(t, append([]string{"products", "-out", out}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: output written", c.args)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
	for _, c := range []struct {
		name, json, want string
	}{
		{"trailing data", `{"x": "x.npy", "y": "y.npy", "layers": [{"weights": "W1.npy", "activation": "identity"}], "loss": "half_squared_error"} xyz`, "data after"},
		{"second object", `{"x": "x.npy", "y": "y.npy", "layers": [{"weights": "W1.npy", "activation": "identity"}], "loss": "half_squared_error"} {}`, "data after"},
		{"slope on identity", `{"x": "x.npy", "y": "y.npy", "layers": [{"weights": "W1.npy", "activation": "identity", "slope": 0.5}], "loss": "half_squared_error"}`, `"slope"`},
	} {
		net := copyExample(t, func(string, *nets.File) {})
		if err := os.WriteFile(net, []byte(c.json), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runCmd(t, "check", net); code != exitError || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "net.json") {
			t.Errorf("%s: exit %d, %q", c.name, code, stderr)
		}
	}
}

// The format's new fields: biases (bias results written as b<l> files
// beside the W<l> ones, full.Hv.exact.b1.npy among them), smooth
// activations, softmax cross-entropy, the mean reduction, bias_directions
// and -exact-damping; blocks are a weight with its bias.
func TestBiasedNetFile(t *testing.T) {
	rng := rand.New(rand.NewPCG(70, 70))
	m, err := nets.Build(nets.Spec{Batch: 6, In: 5, Loss: nets.SoftmaxCrossEntropy, Reduction: nets.ReductionMean,
		Layers: []nets.Layer{{Out: 5, Act: ops.TanhFunc{}, Bias: true}, {Out: 4, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.5, 1); err != nil {
		t.Fatal(err)
	}
	var dirs []*tensor.Dense
	for _, p := range m.Params() {
		s := p.Shape()
		dirs = append(dirs, nets.Randn(rng, s[0], s[1], 0))
	}
	path, err := nets.Save(filepath.Join(t.TempDir(), "net"), m, dirs, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"bias": "b1.npy"`, `"bias_directions"`, `"reduction": "mean"`, `"softmax_cross_entropy"`, `"tanh"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("net.json lacks %s:\n%s", want, raw)
		}
	}
	for _, damping := range []string{"0", "0.01"} {
		out := filepath.Join(t.TempDir(), "out")
		code, table, stderr := runCmd(t, "products", "-out", out, "-exact-damping", damping, path)
		rep := report(t, out)
		if len(rep.Conditions) != 2 || rep.Conditions[0].Weight != "W1+b1" || rep.Conditions[0].Method != hvp.MethodPerSample {
			t.Fatalf("damping %s: conditions %+v", damping, rep.Conditions)
		}
		for _, f := range []string{"W1.InvHv.exact.npy", "b1.InvHv.exact.npy", "b1.Hv.exact.npy", "full.Hv.exact.b1.npy", "b2.InvHv.dense.npy"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("damping %s: %s not written: %v", damping, f, err)
			}
		}
		e := entry(rep, "W1+b1", "InvHv", "exact")
		if e == nil || e.RelToDense == nil || *e.RelToDense > 1e-9 {
			t.Errorf("damping %s: W1+b1 exact vs dense: %+v\n%s", damping, e, table)
		}
		// The output block ends in softmax cross-entropy: its M_i are
		// singular, so undamped it is Newton-only (random v: uncertified,
		// exit 3); damped, exact.
		if damping == "0" {
			if code != exitRefused || entry(rep, "W2+b2", "InvHv", "uncertified") == nil {
				t.Errorf("undamped: exit %d\n%s\n%s", code, table, stderr)
			}
		} else if e := entry(rep, "W2+b2", "InvHv", "exact"); code != exitOK || e == nil || *e.RelToDense > 1e-9 || !strings.Contains(e.Note, "damped") {
			t.Errorf("damped: exit %d, %+v\n%s\n%s", code, e, table, stderr)
		}
	}
}
