package nets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/newtonia/newtonia/errs"
	"gorgonia.org/tensor"
)

// MaxNpyHeader caps an .npy header's length (numpy writes under 200 bytes;
// version 2 allows 4 GiB).
const MaxNpyHeader = 1 << 16

// ReadNpy reads a 2-D little-endian float64 array ('<f8', C order) from an
// .npy file (format versions 1 to 3). Anything else is an error naming the
// file and what it holds: tensor.ReadNpy would silently read a big-endian
// file as little-endian. The declared shape is checked against the file's
// size before anything is allocated, and only regular files are read (a
// FIFO or a device such as /dev/zero is refused, not read forever).
func ReadNpy(path string) (*tensor.Dense, error) {
	// Stat before opening: opening a FIFO for reading blocks until a writer
	// comes.
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	if fi.Size() > math.MaxInt-1 {
		return nil, fmt.Errorf("%s: %d bytes, too large", path, fi.Size())
	}
	t, err := decodeNpy(io.LimitReader(f, fi.Size()), fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// DecodeNpy decodes the bytes of an .npy file (see ReadNpy).
func DecodeNpy(raw []byte) (*tensor.Dense, error) {
	return decodeNpy(bytes.NewReader(raw), int64(len(raw)))
}

func decodeNpy(r io.Reader, size int64) (*tensor.Dense, error) {
	bad := func(format string, a ...any) error {
		return &errs.ShapeError{What: ".npy file", Reason: fmt.Sprintf(format, a...)}
	}
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:10]); err != nil || string(pre[:6]) != "\x93NUMPY" {
		return nil, bad("not an .npy file (bad magic)")
	}
	var hlen, off int64
	switch pre[6] {
	case 1:
		hlen, off = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return nil, bad("truncated header")
		}
		hlen, off = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return nil, bad("unsupported .npy version %d.%d", pre[6], pre[7])
	}
	if hlen > MaxNpyHeader || off+hlen > size {
		return nil, bad("header of %d bytes in a file of %d", hlen, size)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, bad("truncated header")
	}
	h, err := parseHeader(string(header))
	if err != nil {
		return nil, bad("header %q: %v", strings.TrimSpace(string(header)), err)
	}
	if h.descr != "<f8" {
		return nil, bad("dtype %q, want float64 ('<f8', little-endian)", h.descr)
	}
	if h.fortran {
		return nil, bad("the array is in Fortran (column-major) order; save it in C order")
	}
	if len(h.shape) != 2 {
		return nil, bad("%d-D array of shape %v, want a 2-D matrix", len(h.shape), h.shape)
	}
	rows, cols := h.shape[0], h.shape[1]
	if rows == 0 || cols == 0 {
		return nil, bad("empty matrix of shape %v", h.shape)
	}
	body := size - off - hlen
	// rows·cols·8 must equal the data's size: checked by division, so that
	// a product that overflows (shape (2^61, 4)) is refused, not wrapped.
	if body%8 != 0 || rows > body/8 || cols != body/8/rows || rows*cols != body/8 {
		return nil, bad("%d data bytes for shape %v, want 8 per element", body, h.shape)
	}
	raw := make([]byte, body)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, bad("truncated data: %v", err)
	}
	data := make([]float64, rows*cols)
	for i := range data {
		data[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return tensor.New(tensor.WithShape(int(rows), int(cols)), tensor.WithBacking(data)), nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseHeader reads the Python dict literal of an .npy header: exactly the
// keys 'descr', 'fortran_order' and 'shape', each once.
func parseHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &lexer{s: strings.TrimRight(s, " \n\x00")}
	if !p.eat("{") {
		return h, errors.New("not a dict")
	}
	seen := map[string]bool{}
	for !p.eat("}") {
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		if !p.eat(":") {
			return h, fmt.Errorf("no ':' after %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case p.eat("False"):
			case p.eat("True"):
				h.fortran = true
			default:
				return h, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(",") && !p.peek("}") {
			return h, errors.New("no ',' between entries")
		}
	}
	if p.rest() != "" {
		return h, fmt.Errorf("data after the dict: %q", p.rest())
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("no %q", k)
		}
	}
	return h, nil
}

type lexer struct {
	s string
	i int
}

func (l *lexer) skip() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\n' || l.s[l.i] == '\t') {
		l.i++
	}
}
func (l *lexer) rest() string { l.skip(); return l.s[l.i:] }
func (l *lexer) peek(t string) bool {
	l.skip()
	return strings.HasPrefix(l.s[l.i:], t)
}
func (l *lexer) eat(t string) bool {
	if l.peek(t) {
		l.i += len(t)
		return true
	}
	return false
}

// str reads a quoted string without escapes.
func (l *lexer) str() (string, error) {
	l.skip()
	if l.i >= len(l.s) || (l.s[l.i] != '\'' && l.s[l.i] != '"') {
		return "", errors.New("expected a quoted string")
	}
	q := l.s[l.i]
	end := strings.IndexByte(l.s[l.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := l.s[l.i+1 : l.i+1+end]
	l.i += end + 2
	return v, nil
}

// tuple reads a tuple of non-negative integers: (), (3,), (3, 4).
func (l *lexer) tuple() ([]int64, error) {
	if !l.eat("(") {
		return nil, errors.New("shape is not a tuple")
	}
	var out []int64
	for !l.eat(")") {
		l.skip()
		j := l.i
		for j < len(l.s) && l.s[j] >= '0' && l.s[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(l.s[l.i:j], 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad dimension %q", l.s[l.i:j])
		}
		l.i = j
		out = append(out, n)
		if !l.eat(",") && !l.peek(")") {
			return nil, errors.New("no ',' between dimensions")
		}
	}
	return out, nil
}

// WriteNpy writes t (a float64 matrix) as a C-ordered '<f8' .npy file,
// atomically (see WriteFile). It refuses to replace an existing file
// unless force is set.
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
	return WriteFile(path, b.Bytes(), force)
}

// WriteFile writes data to path atomically: into a temporary file beside
// it, synced, then moved into place, so that a full disk or a crash never
// leaves a partial file under path. It refuses to replace a file unless
// force is set.
func WriteFile(path string, data []byte, force bool) (err error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists (use -force to replace it)", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if force {
		return os.Rename(tmp, path)
	}
	if err = os.Link(tmp, path); err != nil { // fails if path appeared meanwhile
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists (use -force to replace it)", path)
		}
		return err
	}
	return os.Remove(tmp)
}
