package nets_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/newtonia/newtonia/errs"
	"github.com/newtonia/newtonia/nets"
	"gorgonia.org/tensor"
)

func npy(dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}

// FuzzDecodeNpy: any bytes decode to a matrix whose size matches the
// bytes given, or to an *errs.ShapeError; never a panic, never an
// allocation beyond the input's size (the element count is checked against
// the data before anything is allocated). A decoded matrix written back
// decodes to itself.
func FuzzDecodeNpy(f *testing.F) {
	var good bytes.Buffer
	if err := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6})).WriteNpy(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 4), }", make([]byte, 64)))
	f.Add(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", nil))
	f.Add(npy("{'descr': '<f8', 'descr': '>f8', 'fortran_order': False, 'shape': (1, 1), }", make([]byte, 8)))
	f.Add(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1), }", make([]byte, 8)))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := nets.DecodeNpy(raw)
		if err != nil {
			if !errors.Is(err, errs.ErrShape) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		s := m.Shape()
		if len(s) != 2 || s[0]*s[1]*8 > len(raw) {
			t.Fatalf("shape %v from %d bytes", s, len(raw))
		}
		var b bytes.Buffer
		if err := m.WriteNpy(&b); err != nil {
			t.Fatal(err)
		}
		again, err := nets.DecodeNpy(b.Bytes())
		if err != nil {
			t.Fatalf("a written matrix does not decode: %v", err)
		}
		x, y := m.Float64s(), again.Float64s()
		for i := range x {
			if x[i] != y[i] && !(x[i] != x[i] && y[i] != y[i]) {
				t.Fatalf("round trip changed element %d", i)
			}
		}
	})
}
