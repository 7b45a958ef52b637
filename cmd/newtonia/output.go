package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/nets"
)

// resultFormat marks a report.json written by this tool. -force replaces
// only a folder whose report.json carries it and lists every file in the
// folder.
const resultFormat = "newtonia products result set, version 1"

// output is a result folder written whole or not at all: everything goes
// into a temporary folder beside the target, which replaces the target in
// one rename when complete (with -force, the two folders are exchanged
// atomically and the earlier result set removed after). A failure or an
// interrupt (SIGINT, SIGTERM) part-way leaves the target as it was and
// removes the temporary folder.
//
// -force replaces only an earlier result set of this tool (its report.json
// carries resultFormat and lists every file of the folder) that holds no
// input of the run, paths compared absolute and with symbolic links
// evaluated (issue 19 item 1: -force deleted whatever folder -out named,
// the inputs' folder included).
type output struct {
	name   string   // the folder as the user gave it, for messages
	dir    string   // absolute
	inputs []string // the run's input files, absolute, links evaluated
	force  bool

	// mu is held by everything that writes into, moves or removes the
	// temporary folder (generating the -random net, write, commit,
	// abort) and by the signal handler, so that an interrupt never races
	// a writer that would recreate what it removes.
	mu   sync.Mutex
	tmp  string
	old  string // the earlier result set while the fallback swap removes it
	done bool
	stop func() // stops the signal handler
}

// refuse is the error of a -out that cannot be used: an
// *errs.ArgumentError naming the flag and the folder.
func (o *output) refuse(format string, a ...any) error {
	return &errs.ArgumentError{What: "-out", Value: o.name, Reason: fmt.Sprintf(format, a...)}
}

// newOutput checks that dir may be written (or, with force, replaced)
// without touching any of inputs, then makes the temporary folder beside
// it. From then on an interrupt removes the temporary folder (the
// returned output's abort, which the caller defers, stops listening).
func newOutput(dir string, force bool, inputs []string, stderr io.Writer) (*output, error) {
	o := &output{name: dir, force: force}
	if dir == "" {
		return nil, o.refuse("empty folder name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, o.refuse("%v", err)
	}
	o.dir = abs
	if filepath.Dir(abs) == abs {
		return nil, o.refuse("the file system's root cannot be a result folder")
	}
	for _, in := range inputs {
		r, err := resolve(in)
		if err != nil {
			return nil, &errs.ArgumentError{What: "input", Value: in, Reason: err.Error()}
		}
		o.inputs = append(o.inputs, r)
	}
	if err := o.replaceable(); err != nil {
		return nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, o.refuse("%v", err)
	}
	o.stop = o.onSignal(stderr) // before the temporary folder exists
	if o.tmp, err = os.MkdirTemp(parent, "."+filepath.Base(abs)+".tmp-"); err != nil {
		o.stop()
		return nil, o.refuse("%v", err)
	}
	return o, nil
}

// resolve returns path absolute, with every symbolic link evaluated.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// within reports whether path is root or inside it (both resolved).
func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// replaceable returns nil if the target does not exist, or if it may be
// replaced: -force given, a result set of this tool, no input inside.
// Otherwise an error naming the flag, the folder and the reason.
func (o *output) replaceable() error {
	fi, err := os.Lstat(o.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	switch {
	case err != nil:
		return o.refuse("%v", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return o.refuse("a symbolic link: name the folder itself (nothing was replaced)")
	case !fi.IsDir():
		return o.refuse("exists and is not a folder")
	case !o.force:
		return o.refuse("exists (use -force to replace an earlier result set of newtonia products)")
	}
	real, err := filepath.EvalSymlinks(o.dir)
	if err != nil {
		return o.refuse("%v", err)
	}
	for _, in := range o.inputs {
		if within(in, real) {
			return o.refuse("holds %s, an input of this run: -force never replaces a folder holding an input (nothing was replaced)", in)
		}
	}
	return o.resultSet(real)
}

// resultSet returns nil if dir holds a result set written by this tool and
// nothing else: a report.json in resultFormat that lists every file.
func (o *output) resultSet(dir string) error {
	not := func(why string) error {
		return o.refuse("not a result set of newtonia products (%s): -force replaces only those; remove it yourself or choose another -out (nothing was replaced)", why)
	}
	f, err := os.Open(filepath.Join(dir, "report.json"))
	if err != nil {
		return not("no readable report.json")
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return not("report.json is not a regular file")
	}
	var rep struct {
		Format string   `json:"format"`
		Files  []string `json:"files"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 64<<20)).Decode(&rep); err != nil || rep.Format != resultFormat {
		return not("its report.json was not written by this version of the tool")
	}
	listed := map[string]bool{"report.json": true}
	dirs := map[string]bool{".": true}
	for _, name := range rep.Files {
		name = filepath.Clean(filepath.FromSlash(name))
		listed[name] = true
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return not(err.Error())
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.IsDir() && dirs[rel], d.Type().IsRegular() && listed[rel]:
			return nil
		}
		return not(fmt.Sprintf("it holds %s, which its report.json does not list", rel))
	})
}

// write saves every computed value as .npy and report.json into the
// temporary folder; report.json lists every file of the folder.
func (o *output) write(rep *Report) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range rep.Entries {
		method := strings.NewReplacer(" ", "_", "=", "").Replace(e.Method)
		params := strings.Split(e.Block, "+")
		if e.Value() == nil {
			continue
		}
		for k, t := range e.Value().Tensors() {
			var name string
			if e.Block == "full" {
				name = fmt.Sprintf("full.%s.%s.%s.npy", e.Product, method, rep.Params[k])
			} else {
				name = fmt.Sprintf("%s.%s.%s.npy", params[k], e.Product, method)
			}
			if err := nets.WriteNpy(filepath.Join(o.tmp, name), t, false); err != nil {
				return err
			}
			e.Files = append(e.Files, name)
		}
	}
	rep.Format, rep.Files = resultFormat, nil
	err := filepath.WalkDir(o.tmp, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(o.tmp, path)
			rep.Files = append(rep.Files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(rep.Files)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	return nets.WriteFile(filepath.Join(o.tmp, "report.json"), b.Bytes(), false)
}

// commit moves the temporary folder into place; an earlier result set is
// checked again (it may have changed while running) and exchanged with
// the new one in one step where the system can.
func (o *output) commit() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Lstat(o.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(o.tmp, o.dir); err != nil {
			return fmt.Errorf("-out %s: %w", o.name, err)
		}
		o.done = true
		return nil
	}
	if err := o.replaceable(); err != nil {
		return fmt.Errorf("while running: %w", err)
	}
	if err := exchange(o.tmp, o.dir); err == nil {
		o.done, o.old = true, o.tmp // o.tmp now holds the earlier result set
		err := os.RemoveAll(o.old)
		o.old = ""
		return err
	}
	// No atomic exchange here: move the earlier set aside, then put the
	// new one in its place (the earlier one goes back on failure).
	o.old = o.tmp + ".old"
	if err := os.Rename(o.dir, o.old); err != nil {
		o.old = ""
		return fmt.Errorf("-out %s: %w", o.name, err)
	}
	if err := os.Rename(o.tmp, o.dir); err != nil {
		if os.Rename(o.old, o.dir) == nil {
			o.old = ""
		}
		return fmt.Errorf("-out %s: %w", o.name, err)
	}
	o.done = true
	err := os.RemoveAll(o.old)
	o.old = ""
	return err
}

// abort removes the temporary folder unless committed, then stops
// listening for signals (a signal meanwhile waits for the removal).
func (o *output) abort() {
	o.mu.Lock()
	o.cleanup()
	o.mu.Unlock()
	o.stop()
}

// locked runs f, which writes into the temporary folder, with o.mu held.
func (o *output) locked(f func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f()
}

// cleanup removes what this run left beside the target; o.mu held.
func (o *output) cleanup() {
	if !o.done && o.tmp != "" {
		removeAll(o.tmp)
	}
	if o.old != "" && o.done {
		removeAll(o.old)
	}
}

// removeAll removes path, trying again if a first attempt fails part-way.
func removeAll(path string) {
	for try := 0; try < 3; try++ {
		if os.RemoveAll(path) == nil {
			return
		}
	}
}

// onSignal removes the temporary folder when the run is interrupted
// (SIGINT, SIGTERM) and exits with 128 + the signal's number; the
// returned function stops listening. A kill -9 cannot be caught: it
// leaves the temporary folder (README).
func (o *output) onSignal(stderr io.Writer) (stop func()) {
	ch := make(chan os.Signal, 1)
	quit := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			o.mu.Lock() // not released: an interrupted commit completes first
			o.cleanup()
			state := "left as it was"
			if o.done {
				state = "already written"
			}
			fmt.Fprintf(stderr, "newtonia: interrupted (%v): %s %s, temporary files removed\n", sig, "-out "+o.name, state)
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
	}
}
