package ops

import (
	"fmt"
	"hash"

	"github.com/newtonia/newtonia/errs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Im2ColOp lays out the patches of a batch of images x (B, C, H, W) that
// a 2-D convolution's kernel sees, one row per output position, as a
// (B, OH, OW, C·KH·KW) value in Gorgonia's layout (its im2col): element
// (b, i, j, (c·KH + p)·KW + q) is
//
//	x[b, c, i·StrideH − PadH + p·DilationH, j·StrideW − PadW + q·DilationW]
//
// (0 outside the image), with OH = (H + 2·PadH − DilationH·(KH−1) − 1) /
// StrideH + 1 and OW likewise. A convolution is then one matrix product
// (Conv2d). Im2Col is linear; its adjoint is Col2ImOp, which adds each
// patch element back onto its pixel:
//
//	backward:  X̄ = col2im(Ȳ)
//	JVP:       Ẏ = im2col(Ẋ)
//
// No inverse (a pixel that no patch covers is lost) and no RowWise (its
// rows are positions, not samples).
type Im2ColOp struct {
	Unary
	Window
}

// Window is the geometry of a 2-D convolution: a KH × KW kernel, zero
// padding of PadH rows above and below and PadW columns on each side,
// strides and dilations (Gorgonia's Conv2d arguments; every one ≥ 1 but
// the paddings, ≥ 0).
type Window struct {
	KH, KW               int
	PadH, PadW           int
	StrideH, StrideW     int
	DilationH, DilationW int
}

// Out returns the output height and width for an h × w image.
func (w Window) Out(h, wd int) (int, int) {
	return (h+2*w.PadH-w.DilationH*(w.KH-1)-1)/w.StrideH + 1, (wd+2*w.PadW-w.DilationW*(w.KW-1)-1)/w.StrideW + 1
}

func (w Window) String() string {
	return fmt.Sprintf("kernel (%d,%d) pad (%d,%d) stride (%d,%d) dilation (%d,%d)", w.KH, w.KW, w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW)
}

// check returns the output height and width for an image of shape s
// (B, C, H, W), or why the window does not fit it.
func (w Window) check(op fmt.Stringer, s tensor.Shape) (int, int, error) {
	if len(s) != 4 {
		return 0, 0, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("input of shape %v, want (batch, channels, height, width)", s)}
	}
	if w.KH < 1 || w.KW < 1 || w.StrideH < 1 || w.StrideW < 1 || w.DilationH < 1 || w.DilationW < 1 || w.PadH < 0 || w.PadW < 0 {
		return 0, 0, &errs.ShapeError{What: op.String(), Reason: "kernel, strides and dilations ≥ 1 and paddings ≥ 0 wanted"}
	}
	oh, ow := w.Out(s[2], s[3])
	if oh < 1 || ow < 1 || s[2]+2*w.PadH < w.DilationH*(w.KH-1)+1 || s[3]+2*w.PadW < w.DilationW*(w.KW-1)+1 {
		return 0, 0, &errs.ShapeError{What: op.String(), Reason: fmt.Sprintf("the kernel does not fit an image of %d×%d", s[2], s[3])}
	}
	return oh, ow, nil
}

// each calls f(colIndex, imageIndex) for every element of the patches of
// one image of c channels, h × w, whose pixel is inside the image, in
// Gorgonia's order.
func (w Window) each(c, h, wd int, f func(col, im int)) {
	oh, ow := w.Out(h, wd)
	k := 0
	for i := 0; i < oh; i++ {
		for j := 0; j < ow; j++ {
			for ch := 0; ch < c; ch++ {
				for p := 0; p < w.KH; p++ {
					r := i*w.StrideH - w.PadH + p*w.DilationH
					for q := 0; q < w.KW; q++ {
						cc := j*w.StrideW - w.PadW + q*w.DilationW
						if r >= 0 && r < h && cc >= 0 && cc < wd {
							f(k, (ch*h+r)*wd+cc)
						}
						k++
					}
				}
			}
		}
	}
}

var _ interface {
	G.Op
	VJPer
	JVPer
} = Im2ColOp{}

// Im2Col returns the node of x's patches under the window w.
func Im2Col(x *G.Node, w Window) (*G.Node, error) { return Apply(Im2ColOp{Window: w}, x) }

func (o Im2ColOp) String() string        { return "im2col(" + o.Window.String() + ")" }
func (o Im2ColOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o Im2ColOp) Hashcode() uint32      { return Hashcode(o) }

func (o Im2ColOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	oh, ow, err := o.check(o, s[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0][0], oh, ow, s[0][1] * o.KH * o.KW}, nil
}

func (o Im2ColOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o Im2ColOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	oh, ow, err := o.check(o, s)
	if err != nil {
		return nil, err
	}
	b, c, h, w := s[0], s[1], s[2], s[3]
	per := oh * ow * c * o.KH * o.KW
	out := alloc(b * per)
	clear(out) // the padding's zeros
	for n := 0; n < b; n++ {
		col, im := out[n*per:(n+1)*per], x[n*c*h*w:(n+1)*c*h*w]
		o.each(c, h, w, func(k, i int) { col[k] = im[i] })
	}
	return newValue(tensor.Shape{b, oh, ow, c * o.KH * o.KW}, out), nil
}

func (o Im2ColOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	s := in[0].Shape()
	var b Builder
	return []*G.Node{b.Apply(Col2ImOp{Window: o.Window, C: s[1], H: s[2], W: s[3]}, adj)}, b.Err
}

func (o Im2ColOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// Col2ImOp is the adjoint of Im2ColOp: from patches (B, OH, OW, C·KH·KW)
// of C × H × W images it forms the images (B, C, H, W), each pixel the sum
// of the patch elements that read it (padding dropped). Linear:
//
//	backward:  X̄ = im2col(Ȳ)
//	JVP:       Ẏ = col2im(Ẋ)
type Col2ImOp struct {
	Unary
	Window
	C, H, W int // the images' channels, height and width
}

var _ interface {
	G.Op
	VJPer
	JVPer
} = Col2ImOp{}

func (o Col2ImOp) String() string {
	return fmt.Sprintf("col2im(%d×%d×%d, %v)", o.C, o.H, o.W, o.Window)
}
func (o Col2ImOp) WriteHash(h hash.Hash) { WriteHash(h, o) }
func (o Col2ImOp) Hashcode() uint32      { return Hashcode(o) }

// image returns the images' shape for patches of shape s.
func (o Col2ImOp) image(s tensor.Shape) (tensor.Shape, error) {
	if len(s) != 4 {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, want (batch, height, width, patch)", s)}
	}
	im := tensor.Shape{s[0], o.C, o.H, o.W}
	oh, ow, err := o.check(o, im)
	if err != nil {
		return nil, err
	}
	if s[1] != oh || s[2] != ow || s[3] != o.C*o.KH*o.KW {
		return nil, &errs.ShapeError{What: o.String(), Reason: fmt.Sprintf("input of shape %v, want (%d, %d, %d, %d)", s, s[0], oh, ow, o.C*o.KH*o.KW)}
	}
	return im, nil
}

func (o Col2ImOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := Shapes(o, 1, in)
	if err != nil {
		return nil, err
	}
	return o.image(s[0])
}

func (o Col2ImOp) Do(v ...G.Value) (G.Value, error) { return Checked(o, o.do, v) }

func (o Col2ImOp) do(v ...G.Value) (G.Value, error) {
	x, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	is, err := o.image(s)
	if err != nil {
		return nil, err
	}
	per, size := s[1]*s[2]*s[3], o.C*o.H*o.W
	out := alloc(s[0] * size)
	clear(out)
	for n := 0; n < s[0]; n++ {
		col, im := x[n*per:(n+1)*per], out[n*size:(n+1)*size]
		o.each(o.C, o.H, o.W, func(k, i int) { im[i] += col[k] })
	}
	return newValue(is, out), nil
}

func (o Col2ImOp) VJP(in []*G.Node, out, adj *G.Node, needs []bool) ([]*G.Node, error) {
	var b Builder
	return []*G.Node{b.Apply(Im2ColOp{Window: o.Window}, adj)}, b.Err
}

func (o Col2ImOp) JVP(in []*G.Node, out *G.Node, tan []*G.Node) (*G.Node, error) {
	if tan[0] == nil {
		return nil, nil
	}
	var b Builder
	return b.Apply(o, tan[0]), b.Err
}

// Conv2d returns the 2-D convolution (cross-correlation, as Gorgonia's
// G.Conv2d) of images x (B, C, H, W) with kernels k (K, C, KH, KW), a
// (B, K, OH, OW) node, built as Gorgonia builds it: the patches
// (Im2ColOp) as a (B·OH·OW, C·KH·KW) matrix times the kernels as a
// (K, C·KH·KW) matrix, transposed (one matrix product on fastblas), then
// the (B·OH·OW, K) result reshaped and its channel axis moved second.
// Its rules are those of the ops it is made of.
func Conv2d(x, k *G.Node, w Window) (*G.Node, error) {
	ks := k.Shape()
	if len(ks) != 4 || ks[2] != w.KH || ks[3] != w.KW {
		return nil, &errs.ShapeError{What: "ops.Conv2d kernels", Reason: fmt.Sprintf("shape %v, want (out channels, in channels, %d, %d)", ks, w.KH, w.KW)}
	}
	var b Builder
	col := b.Apply(Im2ColOp{Window: w}, x)
	if b.Err != nil {
		return nil, b.Err
	}
	cs := col.Shape()
	if cs[3] != ks[1]*ks[2]*ks[3] {
		return nil, &errs.ShapeError{What: "ops.Conv2d kernels", Reason: fmt.Sprintf("shape %v for images of %d channels", ks, x.Shape()[1])}
	}
	rows := cs[0] * cs[1] * cs[2]
	patches := b.Apply(ReshapeOp{From: cs.Clone(), To: tensor.Shape{rows, cs[3]}}, col)
	flat := b.Apply(ReshapeOp{From: ks.Clone(), To: tensor.Shape{ks[0], cs[3]}}, k)
	y := b.MatMul(patches, b.T(flat))
	y = b.Apply(ReshapeOp{From: tensor.Shape{rows, ks[0]}, To: tensor.Shape{cs[0], cs[1], cs[2], ks[0]}}, y)
	return b.Apply(PermuteOp{Axes: []int{0, 3, 1, 2}}, y), b.Err
}
