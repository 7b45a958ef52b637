package native

import (
	"fmt"
	"reflect"

	"github.com/newtonia/newtonia/ops"
	G "gorgonia.org/gorgonia"
)

// Gorgonia's image ops, whose parameters its printed forms do not all
// show (im2col's hash even omits the dilation): the rules read them from
// the op's fields, by name, as v0.9.18 declares them.
//
//	G.Conv2d(x, k, kernel, pad, stride, dilation)
//	    im2col(x) → Reshape → (A × Bᵀ with Reshape(k)) → Reshape → Aᵀ{0, 3, 1, 2}
//	    im2col is ops.Im2ColOp (Gorgonia's patch layout), the rest are the
//	    reshape, product and transpose rules
//	G.MaxPool2D(x, kernel, pad, stride)
//	    ops.MaxPoolOp; pad (p, q) pads p rows above and below, q columns
//	    left and right; a 4-element pad (n, s, w, e) starts the windows at
//	    s and e (Gorgonia's maxPoolOp reads padSouth and padEast as the
//	    offsets when the padding is explicit) with n + s and w + e in all

// intFields reads the named int fields of a Gorgonia op (a struct or a
// pointer to one).
func intFields(op G.Op, names ...string) ([]int, error) {
	v := reflect.ValueOf(op)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("op %T is not a struct", op)
	}
	out := make([]int, len(names))
	for i, nm := range names {
		f := v.FieldByName(nm)
		if !f.IsValid() || f.Kind() != reflect.Int {
			return nil, fmt.Errorf("op %T has no int field %q (not Gorgonia v0.9.18's?)", op, nm)
		}
		out[i] = int(f.Int())
	}
	return out, nil
}

// window reads the geometry of Gorgonia's im2colOp.
func window(op G.Op) (ops.Window, error) {
	f, err := intFields(op, "h", "w", "padH", "padW", "strideH", "strideW", "dilationH", "dilationW")
	if err != nil {
		return ops.Window{}, err
	}
	return ops.Window{KH: f[0], KW: f[1], PadH: f[2], PadW: f[3], StrideH: f[4], StrideW: f[5], DilationH: f[6], DilationW: f[7]}, nil
}

// pool reads the geometry of Gorgonia's maxPoolOp.
func pool(op G.Op) (ops.Pool, error) {
	f, err := intFields(op, "h", "w", "padNorth", "padWest", "padSouth", "padEast", "strideH", "strideW")
	if err != nil {
		return ops.Pool{}, err
	}
	v := reflect.ValueOf(op)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	explicit := v.FieldByName("explicitPadding")
	if !explicit.IsValid() || explicit.Kind() != reflect.Bool {
		return ops.Pool{}, fmt.Errorf("op %T has no bool field explicitPadding (not Gorgonia v0.9.18's?)", op)
	}
	north, west, south, east := f[2], f[3], f[4], f[5]
	top, left := north, west
	if explicit.Bool() {
		top, left = south, east
	}
	return ops.Pool{KH: f[0], KW: f[1], Top: top, Bottom: north + south - top, Left: left, Right: west + east - left, StrideH: f[6], StrideW: f[7]}, nil
}

func matchIm2Col(s *Site) error {
	if d := fourDims(s); d != nil {
		return d
	}
	_, err := window(s.n.Op())
	return err
}

func translateIm2Col(s *Site) (*G.Node, error) {
	w, _ := window(s.n.Op())
	return s.apply(ops.Im2ColOp{Window: w}, s.x(0)), nil
}

func matchMaxPool(s *Site) error {
	if d := fourDims(s); d != nil {
		return d
	}
	_, err := pool(s.n.Op())
	return err
}

func translateMaxPool(s *Site) (*G.Node, error) {
	p, _ := pool(s.n.Op())
	return s.apply(ops.MaxPoolOp{Pool: p}, s.x(0)), nil
}

// fourDims says why an image op's value is not a batch of images.
func fourDims(s *Site) error {
	k := s.n.Op()
	in := s.n.Shape()
	if len(in) != 4 {
		return fmt.Errorf("%v of shape %v: want (batch, channels, height, width)", k, in)
	}
	return nil
}
