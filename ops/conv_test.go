package ops_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/graph"
	"github.com/newtonia/newtonia/ops"
	"github.com/newtonia/newtonia/ops/opcheck"
	"gonum.org/v1/gonum/floats"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randn(rng *rand.Rand, shape ...int) *tensor.Dense {
	data := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// odd convolution geometries: non-square kernels, stride 2, padding 1,
// dilation 2, together and apart.
var windows = []ops.Window{
	{KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1},
	{KH: 2, KW: 3, PadH: 1, PadW: 0, StrideH: 2, StrideW: 1, DilationH: 1, DilationW: 2},
	{KH: 3, KW: 2, PadH: 0, PadW: 1, StrideH: 1, StrideW: 2, DilationH: 2, DilationW: 1},
	{KH: 1, KW: 1, PadH: 0, PadW: 0, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1},
}

var pools = []ops.Pool{
	{KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{KH: 3, KW: 2, Top: 1, Bottom: 1, Left: 0, Right: 0, StrideH: 2, StrideW: 1},
	{KH: 2, KW: 3, Top: 0, Bottom: 1, Left: 1, Right: 1, StrideH: 1, StrideW: 2},
}

// TestShapeRules checks the rules of the ops for values of any rank —
// reshape, permute, im2col and its adjoint col2im, max pooling and the
// gather and scatter of its frozen pattern — with the shared checker
// (opcheck's default tolerances: central differences at r = 1e-6 are good
// to 1e-9 on these linear or piecewise-linear maps, the adjoint identity
// to rounding). Normal draws have no ties within a pooling window, so a
// step of 1e-6 keeps the argmax pattern.
func TestShapeRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	type c struct {
		name string
		op   G.Op
		in   []*tensor.Dense
		skip []int
	}
	cases := []c{
		{"reshape 4-D to matrix", ops.ReshapeOp{From: tensor.Shape{2, 3, 2, 2}, To: tensor.Shape{2, 12}}, []*tensor.Dense{randn(rng, 2, 3, 2, 2)}, nil},
		{"reshape matrix to 3-D", ops.ReshapeOp{From: tensor.Shape{4, 6}, To: tensor.Shape{2, 3, 4}}, []*tensor.Dense{randn(rng, 4, 6)}, nil},
		{"permute 0312", ops.PermuteOp{Axes: []int{0, 3, 1, 2}}, []*tensor.Dense{randn(rng, 2, 3, 4, 5)}, nil},
		{"permute 3-D", ops.PermuteOp{Axes: []int{2, 0, 1}}, []*tensor.Dense{randn(rng, 2, 3, 4)}, nil},
		{"permute matrix", ops.PermuteOp{Axes: []int{1, 0}}, []*tensor.Dense{randn(rng, 3, 5)}, nil},
	}
	for _, w := range windows {
		x := randn(rng, 2, 2, 5, 6)
		oh, ow := w.Out(5, 6)
		cases = append(cases,
			c{"im2col " + w.String(), ops.Im2ColOp{Window: w}, []*tensor.Dense{x}, nil},
			c{"col2im " + w.String(), ops.Col2ImOp{Window: w, C: 2, H: 5, W: 6}, []*tensor.Dense{randn(rng, 2, oh, ow, 2*w.KH*w.KW)}, nil})
	}
	for _, p := range pools {
		x := randn(rng, 2, 3, 5, 6)
		s, err := ops.MaxPoolOp{Pool: p}.InferShape(x.Shape())
		if err != nil {
			t.Fatal(err)
		}
		at := argmaxOf(t, p, x)
		cases = append(cases,
			c{"maxpool " + p.String(), ops.MaxPoolOp{Pool: p}, []*tensor.Dense{x}, nil},
			c{"argmax " + p.String(), ops.PoolArgmaxOp{Pool: p}, []*tensor.Dense{x}, nil},
			// The pattern is an index, held fixed (skip 0).
			c{"gather " + p.String(), ops.PoolGatherOp{}, []*tensor.Dense{at, randn(rng, x.Shape()...)}, []int{0}},
			c{"scatter " + p.String(), ops.PoolScatterOp{Shape: x.Shape().Clone()}, []*tensor.Dense{at, randn(rng, s...)}, []int{0}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := opcheck.Check(c.op, c.in, opcheck.Tolerances{}, rng, c.skip...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("JVP %.2e  VJP adjoint %.2e  VJP-FD %.2e  inverse %v", rep.JVP, rep.VJP, rep.VJPFD, rep.Inverse)
			if _, ok := c.op.(ops.Inverter); ok && len(rep.Inverse) != 1 {
				t.Errorf("no inverse checked: %v", rep.NoInverse)
			}
		})
	}
}

func argmaxOf(t *testing.T, p ops.Pool, x *tensor.Dense) *tensor.Dense {
	t.Helper()
	v, err := ops.PoolArgmaxOp{Pool: p}.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*tensor.Dense)
}

// directConv is the convolution written out: the oracle for Conv2d.
func directConv(x, k *tensor.Dense, w ops.Window) []float64 {
	xs, ks := x.Shape(), k.Shape()
	b, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	kk := ks[0]
	oh, ow := w.Out(h, wd)
	xd, kd := x.Float64s(), k.Float64s()
	out := make([]float64, b*kk*oh*ow)
	for n := 0; n < b; n++ {
		for o := 0; o < kk; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					var s float64
					for ch := 0; ch < c; ch++ {
						for p := 0; p < w.KH; p++ {
							for q := 0; q < w.KW; q++ {
								r, cc := i*w.StrideH-w.PadH+p*w.DilationH, j*w.StrideW-w.PadW+q*w.DilationW
								if r < 0 || r >= h || cc < 0 || cc >= wd {
									continue
								}
								s += xd[((n*c+ch)*h+r)*wd+cc] * kd[((o*c+ch)*w.KH+p)*w.KW+q]
							}
						}
					}
					out[((n*kk+o)*oh+i)*ow+j] = s
				}
			}
		}
	}
	return out
}

// TestConv2d compares ops.Conv2d (im2col and one matrix product) with the
// convolution written out, on every odd geometry: the same sums in
// another order, so to 1e-13 relative.
func TestConv2d(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 2))
	for _, w := range windows {
		g := G.NewGraph()
		xv, kv := randn(rng, 2, 3, 7, 6), randn(rng, 4, 3, w.KH, w.KW)
		x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(xv.Shape()...), G.WithName("x"), G.WithValue(xv))
		k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(kv.Shape()...), G.WithName("k"), G.WithValue(kv))
		y, err := ops.Conv2d(x, k, w)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := graph.Compile("conv", []*G.Node{y}).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, want := vals[y].(*tensor.Dense).Float64s(), directConv(xv, kv, w)
		oh, ow := w.Out(7, 6)
		if s := y.Shape(); !s.Eq(tensor.Shape{2, 4, oh, ow}) {
			t.Fatalf("%v: shape %v", w, s)
		}
		if d := floats.Distance(got, want, 2) / floats.Norm(want, 2); !(d < 1e-13) {
			t.Errorf("%v: Conv2d differs from the direct convolution by %.3g", w, d)
		}
	}
}

// TestMaxPoolTies: of equal values the first in row-major order takes the
// adjoint (Gorgonia's strict >), and padding never wins over a negative
// pixel.
func TestMaxPoolTies(t *testing.T) {
	x := tensor.New(tensor.WithShape(1, 1, 2, 3), tensor.WithBacking([]float64{
		-1, 5, 5,
		-2, 5, -3,
	}))
	p := ops.Pool{KH: 2, KW: 2, Top: 0, Bottom: 0, Left: 1, Right: 1, StrideH: 2, StrideW: 2}
	y, err := ops.MaxPoolOp{Pool: p}.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	at := argmaxOf(t, p, x)
	if got, want := y.(*tensor.Dense).Float64s(), []float64{-1, 5}; !floats.Equal(got, want) {
		t.Errorf("pooled %v, want %v", got, want)
	}
	if got, want := at.Float64s(), []float64{0, 1}; !floats.Equal(got, want) {
		t.Errorf("argmax %v, want %v (first of the ties, never the padding)", got, want)
	}
}

// FuzzConvAdjoint draws a geometry, an image and patches, and checks that
// im2col and col2im are adjoint, ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ to
// rounding, that Conv2d equals the direct convolution, and that max
// pooling's gather and scatter are adjoint too; a geometry that does not
// fit is a typed error at build time, never a panic.
func FuzzConvAdjoint(f *testing.F) {
	f.Add(uint8(3), uint8(3), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(6), uint8(5), uint64(1))
	f.Add(uint8(2), uint8(3), uint8(1), uint8(0), uint8(2), uint8(1), uint8(1), uint8(2), uint8(5), uint8(7), uint64(2))
	f.Add(uint8(5), uint8(5), uint8(0), uint8(0), uint8(1), uint8(1), uint8(1), uint8(1), uint8(3), uint8(3), uint64(3)) // does not fit
	f.Fuzz(func(t *testing.T, kh, kw, ph, pw, sh, sw, dh, dw, hb, wb uint8, seed uint64) {
		w := ops.Window{KH: 1 + int(kh)%4, KW: 1 + int(kw)%4, PadH: int(ph) % 3, PadW: int(pw) % 3,
			StrideH: 1 + int(sh)%3, StrideW: 1 + int(sw)%3, DilationH: 1 + int(dh)%3, DilationW: 1 + int(dw)%3}
		h, wd := 1+int(hb)%8, 1+int(wb)%8
		rng := rand.New(rand.NewPCG(seed, 3))
		xv := randn(rng, 2, 2, h, wd)
		g := G.NewGraph()
		x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 2, h, wd), G.WithName("x"), G.WithValue(xv))
		col, err := ops.Im2Col(x, w)
		if err != nil {
			if !typed(err) {
				t.Fatalf("%v on %d×%d: untyped error %v", w, h, wd, err)
			}
			return
		}
		cv := randn(rng, col.Shape()...)
		c := G.NewTensor(g, tensor.Float64, 4, G.WithShape(col.Shape()...), G.WithName("c"), G.WithValue(cv))
		back, err := ops.Apply(ops.Col2ImOp{Window: w, C: 2, H: h, W: wd}, c)
		if err != nil {
			t.Fatal(err)
		}
		kv := randn(rng, 3, 2, w.KH, w.KW)
		k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(kv.Shape()...), G.WithName("k"), G.WithValue(kv))
		y, err := ops.Conv2d(x, k, w)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := graph.Compile("adjoint", []*G.Node{col, back, y}).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		lhs := floats.Dot(vals[col].(*tensor.Dense).Float64s(), cv.Float64s())
		rhs := floats.Dot(xv.Float64s(), vals[back].(*tensor.Dense).Float64s())
		scale := floats.Norm(xv.Float64s(), 2) * floats.Norm(cv.Float64s(), 2) * float64(w.KH*w.KW)
		if math.Abs(lhs-rhs) > 1e-13*scale { // the same products summed in another order
			t.Fatalf("%v: ⟨im2col x, c⟩ = %g, ⟨x, col2im c⟩ = %g", w, lhs, rhs)
		}
		want := directConv(xv, kv, w)
		if d := floats.Distance(vals[y].(*tensor.Dense).Float64s(), want, 2); d > 1e-13*(floats.Norm(want, 2)+1) {
			t.Fatalf("%v: Conv2d differs from the direct convolution by %.3g", w, d)
		}
		p := ops.Pool{KH: w.KH, KW: w.KW, Top: w.PadH, Bottom: int(ph) % 2, Left: w.PadW, Right: int(pw) % 2, StrideH: w.StrideH, StrideW: w.StrideW}
		s, err := ops.MaxPoolOp{Pool: p}.InferShape(xv.Shape())
		if err != nil {
			if !errors.Is(err, errs.ErrShape) {
				t.Fatalf("%v: untyped error %v", p, err)
			}
			return
		}
		at := argmaxOf(t, p, xv)
		a := randn(rng, s...)
		gv, err := ops.PoolGatherOp{}.Do(at, xv)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := ops.PoolScatterOp{Shape: xv.Shape().Clone()}.Do(at, a)
		if err != nil {
			t.Fatal(err)
		}
		lhs = floats.Dot(gv.(*tensor.Dense).Float64s(), a.Float64s())
		rhs = floats.Dot(xv.Float64s(), sv.(*tensor.Dense).Float64s())
		if math.Abs(lhs-rhs) > 1e-13*floats.Norm(xv.Float64s(), 2)*floats.Norm(a.Float64s(), 2)*float64(p.KH*p.KW) {
			t.Fatalf("%v: ⟨gather x, a⟩ = %g, ⟨x, scatter a⟩ = %g", p, lhs, rhs)
		}
	})
}

// FuzzReshapeRoundTrip draws a value of rank 1 to 4, a reshape to another
// shape of as many elements and a permutation of its axes, and checks
// their inverses (ReshapeOp, PermuteOp: bijective) reproduce the value
// exactly (they only move elements), and that the VJP is the adjoint of
// the JVP, ⟨Jd, a⟩ = ⟨d, Jᵀa⟩, to rounding. Shapes that do not fit are
// typed errors at build time, never panics.
func FuzzReshapeRoundTrip(f *testing.F) {
	f.Add(uint8(2), uint8(3), uint8(4), uint8(1), uint8(2), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(5), uint8(2), uint8(0), uint64(2))
	f.Add(uint8(6), uint8(2), uint8(1), uint8(3), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, a, b2, c, rank, permSeed uint8, seed uint64) {
		dims := []int{1 + int(a)%4, 1 + int(b2)%4, 1 + int(c)%4, 2}[:1+int(rank)%4]
		n := tensor.Shape(dims).TotalSize()
		rng := rand.New(rand.NewPCG(seed, uint64(permSeed)))
		// the target: n's elements split into factors of a random order
		var to []int
		for m := n; m > 1; {
			d := 2 + rng.IntN(m-1)
			for m%d != 0 {
				d--
			}
			to, m = append(to, d), m/d
		}
		if len(to) == 0 {
			to = []int{1}
		}
		g := G.NewGraph()
		xv := randn(rng, dims...)
		x := G.NewTensor(g, tensor.Float64, len(dims), G.WithShape(dims...), G.WithName("x"), G.WithValue(xv))
		y, err := ops.Reshape(x, to...)
		if err != nil {
			if !typed(err) {
				t.Fatalf("reshape %v → %v: untyped error %v", dims, to, err)
			}
			return
		}
		axes := rng.Perm(len(to))
		z, err := ops.Permute(y, axes...)
		if err != nil {
			t.Fatal(err)
		}
		var b ops.Builder
		backZ, err := ops.PermuteOp{Axes: axes}.Inverse(0, []*G.Node{nil}, z)
		if err != nil {
			t.Fatal(err)
		}
		backX, err := ops.ReshapeOp{From: dims, To: to}.Inverse(0, []*G.Node{nil}, backZ)
		if err != nil {
			t.Fatal(err)
		}
		d := G.NewTensor(g, tensor.Float64, len(dims), G.WithShape(dims...), G.WithName("d"), G.WithValue(randn(rng, dims...)))
		adj := G.NewTensor(g, tensor.Float64, len(to), G.WithShape(z.Shape()...), G.WithName("adj"), G.WithValue(randn(rng, z.Shape()...)))
		jd := b.Apply(ops.PermuteOp{Axes: axes}, b.Apply(ops.ReshapeOp{From: dims, To: to}, d))
		ay, err := ops.PermuteOp{Axes: axes}.VJP([]*G.Node{y}, z, adj, nil)
		if err != nil {
			t.Fatal(err)
		}
		ax, err := ops.ReshapeOp{From: dims, To: to}.VJP([]*G.Node{x}, y, ay[0], nil)
		if err != nil || b.Err != nil {
			t.Fatal(err, b.Err)
		}
		vals, err := graph.Compile("round trip", []*G.Node{backX, jd, ax[0]}, d, adj).Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := vals[backX].(*tensor.Dense).Float64s(); !floats.Equal(got, xv.Float64s()) {
			t.Fatalf("%v → %v, axes %v: the round trip moved elements", dims, to, axes)
		}
		lhs := floats.Dot(vals[jd].(*tensor.Dense).Float64s(), vals[adj].(*tensor.Dense).Float64s())
		rhs := floats.Dot(vals[d].(*tensor.Dense).Float64s(), vals[ax[0]].(*tensor.Dense).Float64s())
		if math.Abs(lhs-rhs) > 1e-13*float64(n) { // one permutation of n products summed
			t.Fatalf("%v → %v, axes %v: ⟨Jd, a⟩ = %g, ⟨d, Jᵀa⟩ = %g", dims, to, axes, lhs, rhs)
		}
	})
}
