package nets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gorgonia.org/tensor"
)

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(False|True)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNpy reads a 2-D little-endian float64 array ('<f8', C order) from an
// .npy file (format versions 1 to 3). Anything else is an error naming the
// file and what it holds: tensor.ReadNpy would silently read a big-endian
// file as little-endian and reads element by element.
func ReadNpy(path string) (*tensor.Dense, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := decodeNpy(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func decodeNpy(raw []byte) (*tensor.Dense, error) {
	if len(raw) < 10 || string(raw[:6]) != "\x93NUMPY" {
		return nil, errors.New("not an .npy file (bad magic)")
	}
	var hlen, off int
	switch raw[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(raw[8:10])), 10
	case 2, 3:
		if len(raw) < 12 {
			return nil, errors.New("truncated header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(raw[8:12])), 12
	default:
		return nil, fmt.Errorf("unsupported .npy version %d.%d", raw[6], raw[7])
	}
	if off+hlen > len(raw) {
		return nil, errors.New("truncated header")
	}
	header := raw[off : off+hlen]
	m := npyDescr.FindSubmatch(header)
	if m == nil {
		return nil, errors.New("no dtype in header")
	}
	if d := string(m[1]); d != "<f8" {
		return nil, fmt.Errorf("dtype %q, want float64 ('<f8', little-endian)", d)
	}
	if m = npyFortran.FindSubmatch(header); m == nil || string(m[1]) != "False" {
		return nil, errors.New("the array is in Fortran (column-major) or unspecified order; save it in C order")
	}
	if m = npyShape.FindSubmatch(header); m == nil {
		return nil, errors.New("no shape in header")
	}
	var shape []int
	for _, f := range strings.Split(string(m[1]), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad shape %q", m[1])
		}
		shape = append(shape, n)
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("%d-D array of shape %v, want a 2-D matrix", len(shape), shape)
	}
	if shape[0] == 0 || shape[1] == 0 {
		return nil, fmt.Errorf("empty matrix of shape %v", shape)
	}
	n := shape[0] * shape[1]
	body := raw[off+hlen:]
	if len(body) != 8*n {
		return nil, fmt.Errorf("%d data bytes for shape %v, want %d", len(body), shape, 8*n)
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data)), nil
}

// WriteNpy writes t (a float64 matrix) as a C-ordered '<f8' .npy file. It
// refuses to replace an existing file unless force is set.
func WriteNpy(path string, t *tensor.Dense, force bool) error {
	if t.Dtype() != tensor.Float64 || t.Dims() != 2 {
		return fmt.Errorf("%s: want a float64 matrix, have %v of shape %v", path, t.Dtype(), t.Shape())
	}
	if t.IsView() {
		t = t.Materialize().(*tensor.Dense)
	}
	var b bytes.Buffer
	if err := t.WriteNpy(&b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, b.Bytes(), force)
}

// writeFile writes data to path, refusing to replace a file unless force.
func writeFile(path string, data []byte, force bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists (use --force to replace it)", path)
		}
		return err
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
