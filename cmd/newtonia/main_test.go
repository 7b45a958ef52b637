package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/params"
	"gorgonia.org/tensor"
)

var update = flag.Bool("update", false, "regenerate testdata/example")

const example = "../../testdata/example/net.json"

// TestGenerateExample rewrites the shipped example with -update: a square
// 3-layer leaky-ReLU net, width and batch 6, with random directions.
func TestGenerateExample(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/example")
	}
	m, err := nets.NewMLP(6, 6, []nets.Layer{{Out: 6, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 6, Act: ops.LeakyReLUFunc{Alpha: 0.5}}, {Out: 6, Act: ops.IdentityFunc{}}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2026, 11))
	if err := m.Randomize(rng, 0.4, 1); err != nil {
		t.Fatal(err)
	}
	var dirs []*tensor.Dense
	for range m.Weights {
		dirs = append(dirs, nets.Randn(rng, 6, 6, 0))
	}
	if _, err := nets.Save(filepath.Dir(example), m, dirs, true); err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheck(t *testing.T) {
	code, out, errs := runCmd(t, "check", example)
	if code != exitOK || strings.Count(out, "exact inverse") != 3 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = runCmd(t, "check", "-json", example)
	var conds []map[string]any
	if err := json.Unmarshal([]byte(out), &conds); err != nil || code != exitOK || len(conds) != 3 || conds[0]["kind"] != "exact inverse" {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
}

// products on the shipped example: the written .npy files hold the
// library's own results, and the report is complete.
func TestProductsExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, table, errs := runCmd(t, "products", "-out", out, example)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, table, errs)
	}
	if !strings.Contains(errs, "[1/") {
		t.Errorf("no progress on stderr: %q", errs)
	}
	net, err := nets.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hvp.New(net.Loss, net.Weights...)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*tensor.Dense
	for _, d := range net.Directions {
		ds = append(ds, d.Dense)
	}
	v, err := params.FromTensors(p.Layout(), ds, "direction")
	if err != nil {
		t.Fatal(err)
	}
	hv, err := p.Hv(v)
	if err != nil {
		t.Fatal(err)
	}
	for l, w := range net.Weights {
		u, err := p.Block(l).InvHv(v.Block(l), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The command ran the same computation: equal to rounding (the
		// machines may sum in another order), 1e-12.
		same(t, filepath.Join(out, w.Name()+".InvHv.exact.npy"), u.U, 1e-12)
		same(t, filepath.Join(out, "full.Hv.exact."+w.Name()+".npy"), hv.Block(l), 1e-12)
		bh, err := p.Block(l).Hv(v.Block(l))
		if err != nil {
			t.Fatal(err)
		}
		same(t, filepath.Join(out, w.Name()+".Hv.exact.npy"), bh, 1e-12)
		// The dense solve is an independent reference: within the block's
		// conditioning of the exact result (these blocks have cond < 1e6).
		same(t, filepath.Join(out, w.Name()+".InvHv.dense.npy"), u.U, 1e-8)
	}
	rep := report(t, out)
	methods := map[string]bool{}
	for _, e := range rep.Entries {
		methods[e.Block+" "+e.Product+" "+e.Method] = true
		if e.Product == "InvHv" && e.Method == "cg" && e.CGIterations == nil {
			t.Errorf("CG entry without iterations: %+v", e)
		}
	}
	for _, want := range []string{"W1 Hv exact", "W1 Hv fd r=1e-06", "W1 Hv dense", "W3 InvHv exact", "W3 InvHv cg", "W3 InvHv dense", "W2 InvHv fd r=0.0001", "full Hv exact", "full Hv dense"} {
		if !methods[want] {
			t.Errorf("report lacks %q", want)
		}
	}
	// Nothing is replaced without -force.
	if code, _, errs := runCmd(t, "products", "-out", out, example); code != exitError || !strings.Contains(errs, "exists") {
		t.Errorf("second run: exit %d, %s", code, errs)
	}
	if code, _, errs := runCmd(t, "products", "-force", "-out", out, example); code != exitOK {
		t.Errorf("-force: exit %d, %s", code, errs)
	}
}

func same(t *testing.T, path string, want *params.Vector, tol float64) {
	t.Helper()
	got, err := nets.ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := params.FromTensors(want.Layout(), []*tensor.Dense{got}, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	if d := params.RelDiff(gv, want); !(d <= tol) {
		t.Errorf("%s: differs from the library's result by %.2e", filepath.Base(path), d)
	}
}

func TestProductsRandom(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, table, errs := runCmd(t, "products", "-random", "5,5,5", "-seed", "3", "-r", "1e-5", "-out", out)
	if code != exitOK || !strings.Contains(table, "exact inverse") {
		t.Fatalf("exit %d\n%s\n%s", code, table, errs)
	}
	if _, err := nets.Load(filepath.Join(out, "net", "net.json")); err != nil {
		t.Errorf("saved net does not load: %v", err)
	}
}

// copyExample copies the shipped example into a temporary folder and
// applies edit to its description.
func copyExample(t *testing.T, edit func(dir string, f *nets.File)) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Dir(example)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var f nets.File
	raw, _ := os.ReadFile(filepath.Join(dir, "net.json"))
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	edit(dir, &f)
	raw, _ = json.Marshal(f)
	if err := os.WriteFile(filepath.Join(dir, "net.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "net.json")
}

// npyWithHeader writes an .npy file with the given header dictionary and
// data bytes.
func npyWithHeader(t *testing.T, path, dict string, data []byte) {
	t.Helper()
	h := dict + strings.Repeat(" ", 15-(10+len(dict))%16) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	f64 := func(xs ...float64) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, xs)
		return b.Bytes()
	}
	cases := []struct {
		name string
		edit func(dir string, f *nets.File)
		want []string // in stderr
	}{
		{"missing file", func(dir string, f *nets.File) { f.Layers[1].Weights = "nope.npy" }, []string{"nope.npy", "layer 2 weights", "no such file"}},
		{"float32", func(dir string, f *nets.File) {
			npyWithHeader(t, filepath.Join(dir, "W2.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 6), }", make([]byte, 4*36))
		}, []string{"W2.npy", `"<f4"`, "float64"}},
		{"big-endian", func(dir string, f *nets.File) {
			npyWithHeader(t, filepath.Join(dir, "W2.npy"), "{'descr': '>f8', 'fortran_order': False, 'shape': (6, 6), }", make([]byte, 8*36))
		}, []string{"W2.npy", `">f8"`, "little-endian"}},
		{"1-D", func(dir string, f *nets.File) {
			npyWithHeader(t, filepath.Join(dir, "x.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (36,), }", make([]byte, 8*36))
		}, []string{"x.npy", "1-D", "2-D"}},
		{"truncated", func(dir string, f *nets.File) {
			npyWithHeader(t, filepath.Join(dir, "y.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 6), }", make([]byte, 8*35))
		}, []string{"y.npy", "data bytes"}},
		{"shapes do not chain", func(dir string, f *nets.File) {
			npyWithHeader(t, filepath.Join(dir, "W2.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 6), }", make([]byte, 8*30))
		}, []string{"W2.npy", "do not chain", "width 6"}},
		{"NaN", func(dir string, f *nets.File) {
			d := make([]float64, 36)
			d[7] = math.NaN()
			npyWithHeader(t, filepath.Join(dir, "W3.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 6), }", f64(d...))
		}, []string{"W3.npy", "[1, 1]", "NaN"}},
		{"unknown activation", func(dir string, f *nets.File) { f.Layers[0].Activation = "swish" }, []string{"layer 1", `"swish"`}},
		{"unknown loss", func(dir string, f *nets.File) { f.Loss = "cross_entropy" }, []string{`"cross_entropy"`}},
		{"directions count", func(dir string, f *nets.File) { f.Directions = f.Directions[:2] }, []string{"2 directions for 3 layers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := copyExample(t, c.edit)
			for _, cmd := range []string{"check", "products"} {
				args := []string{cmd, net}
				if cmd == "products" {
					args = []string{cmd, "-out", filepath.Join(filepath.Dir(net), "out"), net}
				}
				code, _, errs := runCmd(t, args...)
				if code != exitError {
					t.Errorf("%s: exit %d, want %d", cmd, code, exitError)
				}
				for _, w := range c.want {
					if !strings.Contains(errs, w) {
						t.Errorf("%s: message %q lacks %q", cmd, errs, w)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(net), "out")); err == nil {
				t.Error("products wrote output for a bad net")
			}
		})
	}
	// An unknown field in the JSON is an error too.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "net.json"), []byte(`{"x": "x.npy", "lossy": 1}`), 0o644)
	if code, _, errs := runCmd(t, "check", filepath.Join(dir, "net.json")); code != exitError || !strings.Contains(errs, "lossy") {
		t.Errorf("unknown field: exit %d, %s", code, errs)
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

// A refused block: everything else is computed and written, the refusal is
// named, and the exit code says so.
func TestRefusedBlock(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// Batch 7 > fan-in 4 with a zero input feature: W1's dense block is
	// singular, refused when run.
	code, table, errs := runCmd(t, "products", "-out", out, saveNet(t, 7, 4, []int{4, 4}, zeroFeature, false))
	if code != exitRefused {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitRefused, table, errs)
	}
	if !strings.Contains(errs, "block 0 (W1): exact inverse refused") || !strings.Contains(table, "refused") {
		t.Errorf("refusal not named:\n%s\n%s", table, errs)
	}
	if _, err := os.Stat(filepath.Join(out, "W1.InvHv.cg.npy")); err != nil {
		t.Errorf("CG result not written: %v", err)
	}
}
