package main

import (
	"bytes"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The loader says clearly what is missing and where.
func TestMissingData(t *testing.T) {
	dir := t.TempDir()
	_, err := findData(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") || !strings.Contains(err.Error(), "-data") {
		t.Errorf("error %v", err)
	}
	if _, _, err := loadMNIST(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "MNIST data not found") {
		t.Errorf("error %v", err)
	}
	// A file that is there but broken is an error too, not a panic.
	for _, f := range mnistFiles {
		os.WriteFile(filepath.Join(dir, f), []byte("not gzip"), 0o644)
	}
	if _, _, err := loadMNIST(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("broken files: error %v", err)
	}
}

// A short run of every method on a subset writes the CSV and the PNG, and
// every method lowers the monitored loss from the common start. The run is
// bounded by steps, not wall-clock, so that its outcome does not depend on
// the machine's speed.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains six methods")
	}
	if _, err := findData(""); err != nil {
		t.Skip(err)
	}
	out := t.TempDir()
	c := config{batch: 64, hidden: 64, budget: time.Hour, maxSteps: 25, evals: 2, seed: 1,
		methods: []string{"newton", "newton-exact", "sgd", "adam", "hf", "lbfgs"}, out: out, trainN: 3000, testN: 1000, monitor: 1000,
		sgdLR: defaultSGDLR, adamLR: defaultAdamLR, slope: 0.1, combine: "cyclic", radius: 0.03, progress: io.Discard, net: "sse", hfCG: 10}
	var w bytes.Buffer
	if err := run(c, &w); err != nil {
		t.Fatal(err)
	}
	first, last := runLosses(t, out, func(r []string) string { return r[0] })
	for _, m := range c.methods {
		if _, ok := last[m]; !ok {
			t.Errorf("no rows for %s", m)
			continue
		}
		if !(last[m] < first[m]) {
			t.Errorf("%s: monitored loss %.4g → %.4g", m, first[m], last[m])
		}
	}
	if st, err := os.Stat(filepath.Join(out, "mnist.png")); err != nil || st.Size() < 1000 {
		t.Errorf("PNG: %v", err)
	}
	t.Log(w.String())
}

// Benchmark (b)'s set-up on a subset: the cross-entropy net with biases,
// two seeds, a pass budget, four methods. Every run lowers the monitored loss, the CSV
// holds both seeds, and the summary gives the table over seeds.
func TestShortRunSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three methods twice")
	}
	if _, err := findData(""); err != nil {
		t.Skip(err)
	}
	out := t.TempDir()
	c := config{batch: 32, hidden: 32, budget: time.Hour, maxSteps: 20, maxPasses: 2, evals: 4, seeds: []uint64{1, 2},
		methods: []string{"adam", "kfac", "hf-ggn", "newton"}, out: out, trainN: 2000, testN: 1000, monitor: 1000, net: "ce", hfCG: 10,
		sgdLR: 0.3, adamLR: 3e-3, slope: 0.01, combine: "best", radius: 0.03, progress: io.Discard}
	var w bytes.Buffer
	if err := run(c, &w); err != nil {
		t.Fatal(err)
	}
	first, last := runLosses(t, out, func(r []string) string { return r[0] + "/" + r[7] })
	for _, m := range c.methods {
		for _, seed := range []string{"1", "2"} {
			k := m + "/" + seed
			if _, ok := last[k]; !ok {
				t.Errorf("no rows for %s", k)
			} else if !(last[k] < first[k]) {
				t.Errorf("%s: monitored loss %.4g → %.4g", k, first[k], last[k])
			}
		}
	}
	if !strings.Contains(w.String(), "over seeds [1 2]") {
		t.Errorf("no table over the seeds:\n%s", w.String())
	}
}

// runLosses reads out/mnist.csv and returns each run's first and last
// monitored loss, runs keyed by key(row).
func runLosses(t *testing.T, out string, key func([]string) string) (first, last map[string]float64) {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "mnist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	first, last = map[string]float64{}, map[string]float64{}
	for _, r := range rows[1:] {
		k := key(r)
		loss, _ := strconv.ParseFloat(r[4], 64)
		if _, ok := first[k]; !ok {
			first[k] = loss
		}
		last[k] = loss
	}
	return first, last
}
