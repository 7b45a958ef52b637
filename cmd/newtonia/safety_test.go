package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/newtonia/newtonia/hvp"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/reference"
	"gonum.org/v1/gonum/mat"
)

// The tests below run the command as a separate process where it must
// die or be killed: the test binary re-executed with NEWTONIA_TEST_MAIN
// set is the newtonia binary (main is run with os.Args). With
// NEWTONIA_TEST_MAX_AS set, its address space is capped at that many
// bytes first, so that a regression of a memory test fails inside the
// child instead of taking the machine's memory.
func TestMain(m *testing.M) {
	if os.Getenv("NEWTONIA_TEST_MAIN") == "1" {
		if as, err := strconv.ParseUint(os.Getenv("NEWTONIA_TEST_MAX_AS"), 10, 64); err == nil {
			if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as}); err != nil {
				fmt.Fprintln(os.Stderr, "setrlimit:", err)
				os.Exit(99)
			}
		}
		main()
	}
	os.Exit(m.Run())
}

func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NEWTONIA_TEST_MAIN=1")
	return cmd
}

// snapshot maps every path under dir (not following links) to its kind
// and content hash, to show that nothing was touched.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			out[path] = "link " + target
			return err
		case d.IsDir():
			out[path] = "dir"
		default:
			b, err := os.ReadFile(path)
			out[path] = fmt.Sprintf("%x", sha256.Sum256(b))
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s: %s changed or removed (%q → %q)", what, p, h, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// -force replaces only an earlier result set of this tool that holds no
// input of the run; everything else is refused, exit 1, with nothing
// touched (issue 19 item 1: `-out DIR -force` deleted DIR whatever it
// was, the folder of the inputs included).
func TestForceReplacesOnlyResultSets(t *testing.T) {
	refused := func(t *testing.T, what, root string, args []string, want ...string) {
		t.Helper()
		before := snapshot(t, root)
		code, _, stderr := runCmd(t, append([]string{"products", "-force"}, args...)...)
		if code != exitError {
			t.Errorf("%s: exit %d, want %d: %s", what, code, exitError, stderr)
		}
		for _, w := range append(want, "-out") {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: message %q lacks %q", what, stderr, w)
			}
		}
		sameSnapshot(t, what, before, snapshot(t, root))
	}
	t.Run("the inputs' folder", func(t *testing.T) {
		net := copyExample(t, func(string, *nets.File) {})
		dir := filepath.Dir(net)
		refused(t, "-out = the folder of net.json", dir, []string{"-out", dir, net}, "input")
		// -out naming an ancestor of the inputs, and the inputs' folder
		// reached through "..".
		refused(t, "-out = its parent", filepath.Dir(dir), []string{"-out", filepath.Dir(dir), net}, "input")
		refused(t, "-out = dir/sub/..", dir, []string{"-out", filepath.Join(dir, "sub", ".."), net}, "input")
	})
	t.Run("unrelated files", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "mine")
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
		os.WriteFile(filepath.Join(dir, "sub", "data.npy"), []byte("mine"), 0o644)
		refused(t, "a folder of other files", root, []string{"-out", dir, example}, "not a result set")
		// A report.json of another tool, or of an older one, is not ours.
		os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"net": "x", "entries": []}`), 0o644)
		refused(t, "a foreign report.json", root, []string{"-out", dir, example}, "not a result set")
		empty := filepath.Join(root, "empty")
		os.Mkdir(empty, 0o755)
		refused(t, "an empty folder", root, []string{"-out", empty, example}, "not a result set")
	})
	t.Run("an earlier result set", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		// A -random result set holds its net in out/net: replaced whole.
		if code, _, stderr := runCmd(t, "products", "-out", out, "-random", "4,4,4", "-r", "1e-5"); code != exitOK {
			t.Fatal(stderr)
		}
		if code, _, stderr := runCmd(t, "products", "-out", out, "-force", example); code != exitOK {
			t.Fatalf("replacing an earlier result set: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "net")); err == nil {
			t.Error("the earlier result set's net/ folder was not replaced")
		}
		if rep := report(t, out); rep.Net != example {
			t.Errorf("report.json is of net %s, want %s", rep.Net, example)
		}
		if left, _ := os.ReadDir(root); len(left) != 1 {
			t.Errorf("files left beside the output: %v", left)
		}
		// A file added to a result set by hand makes it not ours alone.
		os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
		refused(t, "a result set with a file of the user's", root, []string{"-out", out, example}, "notes.txt")
	})
	t.Run("symbolic links", func(t *testing.T) {
		net := copyExample(t, func(string, *nets.File) {})
		dir := filepath.Dir(net)
		root := t.TempDir()
		// -out a link to the inputs' folder, and a path through a linked
		// parent that reaches it.
		link := filepath.Join(root, "link")
		if err := os.Symlink(dir, link); err != nil {
			t.Skip(err)
		}
		refused(t, "-out a link to the inputs", root, []string{"-out", link, net}, "symbolic link")
		parent := filepath.Join(root, "parent")
		os.Symlink(filepath.Dir(dir), parent)
		refused(t, "-out through a linked parent", dir, []string{"-out", filepath.Join(parent, filepath.Base(dir)), net}, "input")
		// An input that is a link into the result set to be replaced: a
		// net whose W2.npy is the earlier run's saved net/W2.npy.
		res := filepath.Join(root, "res")
		if code, _, stderr := runCmd(t, "products", "-out", res, "-random", "6,6,6,6", "-r", "1e-5"); code != exitOK {
			t.Fatal(stderr)
		}
		os.Remove(filepath.Join(dir, "W2.npy"))
		os.Symlink(filepath.Join(res, "net", "W2.npy"), filepath.Join(dir, "W2.npy"))
		refused(t, "an input linked into -out", root, []string{"-out", res, net}, "W2.npy", "input")
		// And the saved net itself as the input, by its own path.
		refused(t, "the result set's own net", root, []string{"-out", res, filepath.Join(res, "net", "net.json")}, "input")
	})
}

// A run interrupted by SIGINT or SIGTERM removes its temporary folder and
// leaves -out as it was (issue 19 item 6: .res.tmp-* folders stayed).
func TestInterruptRemovesTemporaryFolder(t *testing.T) {
	for _, c := range []struct {
		sig     syscall.Signal
		earlier bool // an earlier result set in -out, replaced with -force
	}{{syscall.SIGINT, false}, {syscall.SIGTERM, false}, {syscall.SIGTERM, true}} {
		t.Run(fmt.Sprintf("%v, earlier result set %v", c.sig, c.earlier), func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			args := []string{"products", "-out", out, "-random", "40,40,40", "-dense-max", "100000", "-cg-maxiter", "5"}
			if c.earlier {
				if code, _, stderr := runCmd(t, "products", "-out", out, "-random", "4,4,4", "-r", "1e-5"); code != exitOK {
					t.Fatal(stderr)
				}
				args = append(args, "-force")
			}
			before := snapshot(t, root)
			// A run of a minute or more (dense blocks of 1600 parameters):
			// signalled once its first product is done.
			cmd := command(args...)
			pipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			started := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(pipe)
				sent := false
				for sc.Scan() {
					if !sent && strings.HasPrefix(sc.Text(), "[1/") {
						started <- true
						sent = true
					}
				}
				if !sent {
					started <- false
				}
			}()
			if !<-started {
				cmd.Wait()
				t.Fatal("the run ended before its first product")
			}
			tmps, _ := filepath.Glob(filepath.Join(root, ".out.tmp-*"))
			if len(tmps) == 0 {
				t.Fatal("no temporary folder while running: the test does not test")
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the run did not stop within a minute of the signal")
			}
			if code := cmd.ProcessState.ExitCode(); code != 128+int(c.sig) {
				t.Errorf("exit %d (%v), want %d", code, cmd.ProcessState, 128+int(c.sig))
			}
			sameSnapshot(t, "after the signal", before, snapshot(t, root))
		})
	}
}

// A -random net too large for memory is refused before anything is
// allocated or written: exit 1, naming -random (issue 19 item 5:
// `-random 65536,65536` died of out of memory with exit 2, the usage
// code, leaving its temporary folder). Run as a separate process: a
// regression must not take the test binary's memory.
func TestHugeRandomRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-random", "65536,65536"},
		{"-random", "65536,65536,65536", "-batch", "65536"},
		{"-random", "512,512", "-mem", "1000000"}, // a small net above a small cap
	} {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		cmd := command(append([]string{"products", "-out", out}, args...)...)
		cmd.Env = append(cmd.Env, "NEWTONIA_TEST_MAX_AS=8589934592") // 8 GiB: a refusal needs a few MB
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 := time.Now()
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("%v: %v", args, err)
		}
		if code != exitError || !strings.Contains(stderr.String(), "-random "+args[1]) || !strings.Contains(stderr.String(), "memory") ||
			!strings.Contains(stderr.String(), "-mem") {
			t.Errorf("%v: exit %d, %s", args, code, stderr.String())
		}
		if el := time.Since(t0); el > 20*time.Second {
			t.Errorf("%v: refused after %v: something ran first", args, el)
		}
		if left, _ := os.ReadDir(root); len(left) != 0 {
			t.Errorf("%v: left %v", args, left)
		}
	}
}

// -dense-time bounds the dense InvHv solve too (issue 19 item 4: the
// estimate counted the columns only, and a 1600-parameter block's
// factorisation took 21 s under -dense-time 1s): the solve is refused
// before starting with its estimate, while the dense block itself (1024
// columns of 0.1 to 1 ms) is built and used for Hv. The cap is half this
// machine's estimate of the 1024×1024 factorisation (reference.SolveTime,
// 4 times the time at the rate measured, 18 s here; at least 3 s for the
// columns): the solve would take about 4.5 s unloaded here, 11 s loaded,
// and the child's estimate agrees with this process's within 2.
func TestDenseTimeBoundsTheSolve(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// Half the estimate, and under half of 50 ns·n³ (a solve under that is
	// accepted without the estimate, reference.MinNormSolveWithin): on a
	// loaded machine the estimate grows past it (seen: 2 min), and the
	// solve was then rightly accepted.
	cap := max(min(reference.SolveTime(1024)/2, 25*time.Second), 3*time.Second).Round(time.Millisecond)
	t0 := time.Now()
	code, table, stderr := runCmd(t, "products", "-out", out, "-random", "32,32,32", "-dense-max", "100000", "-dense-time", cap.String(), "-cg-maxiter", "5", "-r", "1e-5")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, table, stderr)
	}
	rep := report(t, out)
	for _, b := range []string{"W1", "W2"} {
		if e := entry(rep, b, "Hv", "dense"); e == nil || e.Error != "" {
			t.Errorf("%s Hv dense: %+v", b, e)
		}
		e := entry(rep, b, "InvHv", "dense")
		if e == nil || !strings.Contains(e.Error, "would need") || !strings.Contains(e.Error, "time") || !strings.Contains(e.Error, "-dense-time") {
			t.Errorf("%s InvHv dense not refused by its time estimate: %+v", b, e)
		} else if e.Seconds > 0.5 {
			t.Errorf("%s InvHv dense refused after %.3g s: not before starting", b, e.Seconds)
		}
	}
	t.Logf("-dense-time %v, run: %v", cap, time.Since(t0))
}

// Batch > fan-in takes the dense route (issue 21; it was refused before
// running, issue 19 item 12): the CLI writes the certified exact result,
// exits 0 and never says "failed its checks". The net: one identity layer
// with squared error, batch 7 > fan-in 4, so H = xᵀx ⊗ I is nonsingular
// and the Newton direction has the closed form u = (xᵀx)⁻¹ g — the oracle.
func TestDenseRouteLabels(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	m, err := nets.Build(nets.Spec{Batch: 7, In: 4, Layers: []nets.Layer{{Out: 3, Act: ops.IdentityFunc{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.5, 1); err != nil {
		t.Fatal(err)
	}
	path, err := nets.Save(filepath.Join(t.TempDir(), "net"), m, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, table, stderr := runCmd(t, "products", "-out", out, path)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, table, stderr)
	}
	rep := report(t, out)
	if x := entry(rep, "W1", "InvHv", "exact"); x == nil || x.Certified == nil || !*x.Certified || !strings.Contains(x.Note, "dense route") {
		t.Errorf("the dense route's entry: %+v", x)
	}
	if strings.Contains(stderr+table, "failed its checks") {
		t.Errorf("a certified result called one that failed its checks:\n%s\n%s", table, stderr)
	}
	// The dense file is the Newton direction (xᵀx)⁻¹ g, g = xᵀ(xW − y):
	// equal within ε·cond(xᵀx) (1e-12 at cond < 1e3, checked).
	xm := mat.NewDense(7, 4, m.X.Value().Data().([]float64))
	w := mat.NewDense(4, 3, m.Weights[0].Value().Data().([]float64))
	y := mat.NewDense(7, 3, m.Y.Value().Data().([]float64))
	var r, g, xtx, want mat.Dense
	r.Mul(xm, w)
	r.Sub(&r, y)
	g.Mul(xm.T(), &r)
	xtx.Mul(xm.T(), xm)
	if c := mat.Cond(&xtx, 2); c > 1e3 {
		t.Fatalf("cond(xᵀx) = %.3g: pick another seed", c)
	}
	if err := want.Solve(&xtx, &g); err != nil {
		t.Fatal(err)
	}
	got, err := nets.ReadNpy(filepath.Join(out, "W1.InvHv.exact.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if e := flatRelDiff(got.Float64s(), want.RawMatrix().Data); !(e < 1e-12) {
		t.Errorf("W1.InvHv.exact.npy differs from (xᵀx)⁻¹g by %.2e", e)
	}
}

// check and products judge the same blocks: each weight with its bias
// (issue 19 item 11: check passed the weights alone, and on a biased net
// with batch 5 and fan-in 4 said refused where products said exact).
func TestCheckCountsBiases(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	m, err := nets.Build(nets.Spec{Batch: 5, In: 4, Layers: []nets.Layer{{Out: 4, Act: ops.TanhFunc{}, Bias: true}, {Out: 4, Act: ops.IdentityFunc{}, Bias: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Randomize(rng, 0.5, 1); err != nil {
		t.Fatal(err)
	}
	path, err := nets.Save(filepath.Join(t.TempDir(), "net"), m, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	code, js, stderr := runCmd(t, "check", "-json", path)
	var conds hvp.Conditions
	if err := json.Unmarshal([]byte(js), &conds); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	out := filepath.Join(t.TempDir(), "out")
	pcode, table, pstderr := runCmd(t, "products", "-out", out, path)
	if pcode != exitOK {
		t.Fatalf("products: exit %d\n%s\n%s", pcode, table, pstderr)
	}
	rep := report(t, out)
	if code != exitOK || len(conds) != len(rep.Conditions) {
		t.Fatalf("check: exit %d, %d blocks; products: %d blocks\n%s", code, len(conds), len(rep.Conditions), stderr)
	}
	for l, c := range conds {
		pc := rep.Conditions[l]
		if c.Weight != pc.Weight || c.Kind != pc.Kind || c.Method != pc.Method || c.Weight != fmt.Sprintf("W%d+b%d", l+1, l+1) {
			t.Errorf("block %d: check says %s %v (%s), products %s %v (%s)", l, c.Weight, c.Kind, c.Method, pc.Weight, pc.Kind, pc.Method)
		}
		// products' exact result against its dense solve: exact up to
		// rounding amplified by the block's conditioning (1e-9 for these
		// small, well-conditioned blocks).
		e := entry(rep, pc.Weight, "InvHv", "exact")
		if e == nil || e.RelToDense == nil || !(*e.RelToDense < 1e-9) || math.IsNaN(*e.RelToDense) {
			t.Errorf("block %d: exact vs dense: %+v", l, e)
		}
	}
}
