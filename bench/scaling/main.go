// Command scaling turns the output of newtonia's scaling benchmark into a
// table, a CSV file, a log-log plot of time against n, and growth
// exponents:
//
//	go test -run '^$' -bench Scaling -benchtime 5x ./hvp | tee bench.txt
//	go run ./bench/scaling -in bench.txt -csv docs/scaling.csv -png docs/scaling.png
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var line = regexp.MustCompile(`^BenchmarkScaling/n=(\d+)/(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)
var metric = regexp.MustCompile(`([\d.e+-]+) ([\w-]+)`)

type point struct {
	n       int
	seconds float64
	xgrad   float64
	gflops  float64 // NaN when the benchmark reports none
}

func main() {
	in := flag.String("in", "-", "benchmark output (- for stdin)")
	csvOut := flag.String("csv", "", "write the measurements as CSV")
	pngOut := flag.String("png", "", "write a log-log plot of time against n")
	from := flag.Int("fit-from", 64, "smallest n used to fit the growth exponents")
	flag.Parse()
	r := io.Reader(os.Stdin)
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		r = f
	}
	data := map[string][]point{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		ns, _ := strconv.ParseFloat(m[4], 64)
		p := point{n: n, seconds: ns * 1e-9, xgrad: math.NaN(), gflops: math.NaN()}
		for _, mm := range metric.FindAllStringSubmatch(m[5], -1) {
			switch mm[2] {
			case "x-grad":
				p.xgrad, _ = strconv.ParseFloat(mm[1], 64)
			case "GFlop":
				p.gflops, _ = strconv.ParseFloat(mm[1], 64)
			}
		}
		data[m[2]] = append(data[m[2]], p)
	}
	if len(data) == 0 {
		fail(fmt.Errorf("no BenchmarkScaling lines in the input"))
	}
	var names []string
	for k := range data {
		names = append(names, k)
		sort.Slice(data[k], func(i, j int) bool { return data[k][i].n < data[k][j].n })
	}
	sort.Strings(names)
	report(names, data, *from)
	if *csvOut != "" {
		if err := writeCSV(*csvOut, names, data); err != nil {
			fail(err)
		}
	}
	if *pngOut != "" {
		if err := writePNG(*pngOut, names, data); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scaling:", err)
	os.Exit(1)
}

// report prints a markdown table (time, ratio to the gradient, GFlop/s
// where counted) and the
// least-squares slope of log t against log n for n ≥ from.
func report(names []string, data map[string][]point, from int) {
	ns := map[int]bool{}
	for _, ps := range data {
		for _, p := range ps {
			ns[p.n] = true
		}
	}
	var sizes []int
	for n := range ns {
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	fmt.Print("| product |")
	for _, n := range sizes {
		fmt.Printf(" n=%d |", n)
	}
	fmt.Printf(" growth exponent (n ≥ %d) |\n|---|", from)
	for range sizes {
		fmt.Print("---|")
	}
	fmt.Println("---|")
	for _, name := range names {
		fmt.Printf("| %s |", name)
		at := map[int]point{}
		for _, p := range data[name] {
			at[p.n] = p
		}
		var xs, ys []float64
		for _, n := range sizes {
			p, ok := at[n]
			if !ok {
				fmt.Print(" — |")
				continue
			}
			if math.IsNaN(p.gflops) {
				fmt.Printf(" %s (%.2g×) |", human(p.seconds), p.xgrad)
			} else {
				fmt.Printf(" %s (%.2g×, %.3g GFlop/s) |", human(p.seconds), p.xgrad, p.gflops)
			}
			if n >= from {
				xs, ys = append(xs, math.Log(float64(n))), append(ys, math.Log(p.seconds))
			}
		}
		if len(xs) >= 2 {
			_, slope := stat.LinearRegression(xs, ys, nil, false)
			fmt.Printf(" %.2f |\n", slope)
		} else {
			fmt.Print(" — |\n")
		}
	}
}

func human(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.3g s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	}
	return fmt.Sprintf("%.3g µs", s*1e6)
}

// writeCSV writes the measurements to path atomically (a temporary file
// in the same folder, renamed).
func writeCSV(path string, names []string, data map[string][]point) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".scaling-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	w := csv.NewWriter(f)
	w.Write([]string{"product", "n", "seconds", "ratio_to_gradient", "gflops"})
	for _, name := range names {
		for _, p := range data[name] {
			w.Write([]string{name, strconv.Itoa(p.n), strconv.FormatFloat(p.seconds, 'g', 6, 64),
				strconv.FormatFloat(p.xgrad, 'g', 4, 64), strconv.FormatFloat(p.gflops, 'g', 4, 64)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func writePNG(path string, names []string, data map[string][]point) error {
	p := plot.New()
	p.Title.Text = "newtonia: time per product, square 3-layer net, batch = width = n"
	p.X.Label.Text = "n"
	p.Y.Label.Text = "seconds"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, false // the lower right is empty: times grow with n
	var args []any
	for _, name := range names {
		xys := make(plotter.XYs, len(data[name]))
		for i, pt := range data[name] {
			xys[i].X, xys[i].Y = float64(pt.n), pt.seconds
		}
		args = append(args, name, xys)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), ".scaling-tmp-"+filepath.Base(path)) // same extension: the format
	if err := p.Save(7*vg.Inch, 5*vg.Inch, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path) // atomic: a reader never sees half a plot
}
