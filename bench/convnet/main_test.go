package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The benchmark on a tiny subset (512 training images, 2 and 2 channels,
// batch 32: 16 steps, 200 test images), two seeds: it writes the CSV and
// the PNG and the table over the seeds, with G.Dropout(0.2) redrawn each
// step; every run lowers the monitored
// loss from its start by its last evaluation (one pass) — K-FAC with
// zero block fallbacks (KFC's factors on both kernels) — and has its four
// evaluations (the start, 1/4, 1/2, 1 pass).
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four methods twice")
	}
	out := t.TempDir()
	c := config{batch: 32, c1: 2, c2: 2, dropout: 0.2, passes: 1, seeds: []uint64{1, 2}, methods: []string{"kfac", "hf-ggn", "adam", "sgd"},
		out: out, trainN: 512, testN: 200, monitor: 200, evalBatch: 100, hfCG: 3,
		sgdLR: defaultSGDLR, adamLR: defaultAdamLR, kfacDamping: defaultKFACDamping}
	var w bytes.Buffer
	if err := run(c, &w); err != nil {
		if strings.Contains(err.Error(), "MNIST data not found") || strings.Contains(err.Error(), "cannot locate the MNIST data") {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Log(w.String())
	f, err := os.Open(filepath.Join(out, "convnet.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		losses    []float64
		fallbacks int
	}
	runs := map[string]*run{}
	for _, r := range rows[1:] {
		k := r[0] + "/" + r[1]
		if runs[k] == nil {
			runs[k] = &run{}
		}
		loss, err := strconv.ParseFloat(r[6], 64)
		if err != nil {
			t.Fatal(err)
		}
		runs[k].losses = append(runs[k].losses, loss)
		runs[k].fallbacks, _ = strconv.Atoi(r[8])
	}
	for _, m := range c.methods {
		for _, s := range []string{"1", "2"} {
			r := runs[m+"/"+s]
			switch {
			case r == nil:
				t.Errorf("%s seed %s: no rows", m, s)
			case len(r.losses) != 4:
				t.Errorf("%s seed %s: %d evaluations, want 4", m, s, len(r.losses))
			case !(r.losses[3] < r.losses[0]):
				t.Errorf("%s seed %s: monitored loss %v, want the last below the first", m, s, r.losses)
			case m == "kfac" && r.fallbacks != 0:
				t.Errorf("kfac seed %s: %d block fallbacks, want none", s, r.fallbacks)
			}
		}
	}
	if st, err := os.Stat(filepath.Join(out, "convnet.png")); err != nil || st.Size() < 1000 {
		t.Errorf("PNG: %v", err)
	}
	if !strings.Contains(w.String(), "over seeds [1 2]") {
		t.Errorf("no table over the seeds:\n%s", w.String())
	}
}
