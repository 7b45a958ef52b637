package graph_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/nets"
	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The columns of the M_i by JVPs replayed on replicated rows against the
// n_l JVPs of one column each, on nets with smooth and piecewise-linear
// activations, biases, the three losses and the mean reduction, every
// block, with chunks of 2 columns (so that a shorter last chunk is
// replayed too): the same ops on the same numbers, only in taller
// matrices, so 1e-12 relative to the largest entry (rounding of a
// reordered product sum, at most a few ulps).
func TestPerSampleReplayedColumns(t *testing.T) {
	tanh, leaky, id := ops.TanhFunc{}, ops.LeakyReLUFunc{Alpha: 0.1}, ops.IdentityFunc{}
	cases := []struct {
		name      string
		batch, in int
		layers    []nets.Layer
		loss, red string
	}{
		{"tanh, half SSE", 6, 5, []nets.Layer{{Out: 5, Act: tanh}, {Out: 5, Act: tanh}, {Out: 5, Act: tanh}}, nets.HalfSquaredError, ""},
		{"tanh + bias, softmax CE, mean", 6, 5, []nets.Layer{{Out: 5, Act: tanh, Bias: true}, {Out: 5, Act: tanh, Bias: true}, {Out: 4, Act: id, Bias: true}}, nets.SoftmaxCrossEntropy, nets.ReductionMean},
		{"leaky + bias, sigmoid BCE", 4, 6, []nets.Layer{{Out: 5, Act: leaky, Bias: true}, {Out: 3, Act: id, Bias: true}}, nets.SigmoidCrossEntropy, ""},
	}
	defer func(c int) { graph.ChunkBytes = c }(graph.ChunkBytes)
	rng := rand.New(rand.NewPCG(24, 3))
	for _, c := range cases {
		m, err := nets.Build(nets.Spec{Batch: c.batch, In: c.in, Layers: c.layers, Loss: c.loss, Reduction: c.red})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Randomize(rng, 1, 1); err != nil {
			t.Fatal(err)
		}
		gp, err := graph.BuildGradient(m.Loss, m.Params())
		if err != nil {
			t.Fatal(err)
		}
		for l, layer := range c.layers {
			params := []*G.Node{m.Weights[l]}
			if layer.Bias {
				params = append(params, m.Biases[l])
			}
			n := layer.Out
			graph.ChunkBytes = 8 * 2 * c.batch * n // two columns a chunk
			rep, err := graph.BuildPerSample(gp, params)
			if err != nil {
				t.Fatal(err)
			}
			graph.ChunkBytes = 0 // one JVP a column
			loop, err := graph.BuildPerSample(gp, params)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Chunk != 2 || loop.Chunk != 0 || !strings.Contains(loop.Columns, "ChunkBytes") {
				t.Fatalf("%s, block %d: chunks %d (%s) and %d (%s), want 2 and 0", c.name, l, rep.Chunk, rep.Columns, loop.Chunk, loop.Columns)
			}
			if rep.Fallback != "" || loop.Fallback != "" { // the default loop is no fallback
				t.Fatalf("%s, block %d: fallbacks %q, %q", c.name, l, rep.Fallback, loop.Fallback)
			}
			graph.ChunkBytes = 8 * c.batch * n // asked for, but one column a chunk: a recorded fallback
			small, err := graph.BuildPerSample(gp, params)
			if err != nil {
				t.Fatal(err)
			}
			if n > 1 && (small.Chunk != 0 || !strings.Contains(small.Fallback, "ChunkBytes")) {
				t.Fatalf("%s, block %d: ChunkBytes too small for two columns: chunk %d, fallback %q", c.name, l, small.Chunk, small.Fallback)
			}
			graph.ChunkBytes = 0
			// The solves too (λ = 0.5, one direction for both): the
			// replayed route's reads its columns stacked.
			bind := graph.Values{}
			for _, ps := range []*graph.PerSample{rep, loop} {
				bind[ps.Lambda] = tensor.New(tensor.WithBacking([]float64{0.5}))
				for i, d := range ps.Dirs {
					s := d.Shape()
					r := rand.New(rand.NewPCG(uint64(l), uint64(i)))
					v := make([]float64, s.TotalSize())
					for k := range v {
						v[k] = r.NormFloat64()
					}
					bind[d] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(v))
				}
			}
			roots := append(append([]*G.Node{rep.Solve, loop.Solve}, rep.Cols...), loop.Cols...)
			vals, err := graph.Compile("columns", roots).Run(bind)
			if err != nil {
				t.Fatal(err)
			}
			var diff, scale float64
			for j := range n {
				a, b := vals[rep.Cols[j]].Data().([]float64), vals[loop.Cols[j]].Data().([]float64)
				for i := range a {
					diff, scale = max(diff, math.Abs(a[i]-b[i])), max(scale, math.Abs(b[i]))
				}
			}
			if scale == 0 || diff > 1e-12*scale {
				t.Errorf("%s, block %d: replayed columns differ by %.3g (largest entry %.3g)", c.name, l, diff, scale)
			}
			// The solve amplifies the columns' rounding by cond(M_i + λI),
			// hence 1e-9; measured: equal to the bit (AVX-512 EPYC), each
			// row of a product not depending on the matrix's height.
			a, b := vals[rep.Solve].Data().([]float64), vals[loop.Solve].Data().([]float64)
			diff, scale = 0, 0
			for i := range a {
				diff, scale = max(diff, math.Abs(a[i]-b[i])), max(scale, math.Abs(b[i]))
			}
			if scale == 0 || diff > 1e-9*scale {
				t.Errorf("%s, block %d: solves differ by %.3g (largest entry %.3g)", c.name, l, diff, scale)
			}
		}
	}
}

// A node of the replayed part that is a sum over the samples (a scalar)
// would be shared by the copies: the replay refuses it, naming the node.
func TestReplayRowsRefusesScalars(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, G.Float64, G.WithShape(3, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	s, err := ops.Sum(x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := ops.Apply(ops.ScalarMulOp{}, s, x)
	if err != nil {
		t.Fatal(err)
	}
	tiled, err := ops.Apply(ops.ConcatOp{Axis: 0, N: 2}, x, x)
	if err != nil {
		t.Fatal(err)
	}
	_, err = graph.ReplayRows(y, x, tiled, 2, map[*G.Node]*G.Node{})
	var ne *errs.NoInverseError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), errs.Label(s)) {
		t.Fatalf("error %v, want a NoInverseError naming %s", err, errs.Label(s))
	}
}
