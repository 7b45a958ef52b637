package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/newtonia/newtonia/nets"
)

// output is a result folder written whole or not at all: everything goes
// into a temporary folder beside the target, which replaces the target in
// one rename when complete (with -force, the earlier result set is moved
// aside first and removed after). A failure part-way leaves the target as
// it was.
type output struct {
	dir, tmp string
	force    bool
	done     bool
}

func newOutput(dir string, force bool) (*output, error) {
	if dir == "" {
		return nil, errors.New("-out: empty folder name")
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return nil, fmt.Errorf("-out %s exists and is not a folder", dir)
		}
		if !force {
			return nil, fmt.Errorf("-out %s exists (use -force to replace the whole result set)", dir)
		}
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, err
	}
	return &output{dir: dir, tmp: tmp, force: force}, nil
}

// write saves every computed value as .npy and report.json into the
// temporary folder.
func (o *output) write(rep *Report) error {
	for _, e := range rep.Entries {
		method := strings.NewReplacer(" ", "_", "=", "").Replace(e.Method)
		params := strings.Split(e.Block, "+")
		for k, t := range e.value {
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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	return nets.WriteFile(filepath.Join(o.tmp, "report.json"), b.Bytes(), false)
}

// commit moves the temporary folder into place.
func (o *output) commit() error {
	var old string
	if _, err := os.Stat(o.dir); err == nil {
		if !o.force {
			return fmt.Errorf("-out %s appeared while running (use -force to replace it)", o.dir)
		}
		old = o.tmp + ".old"
		if err := os.Rename(o.dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(o.tmp, o.dir); err != nil {
		if old != "" {
			_ = os.Rename(old, o.dir) // put the earlier results back
		}
		return err
	}
	o.done = true
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// abort removes the temporary folder unless committed.
func (o *output) abort() {
	if !o.done {
		_ = os.RemoveAll(o.tmp)
	}
}
