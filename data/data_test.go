package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// header returns an IDX header with the given magic number and dimensions.
func header(magic uint32, dims ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// idx3 returns an IDX3 image file of n images of rows x cols whose pixel i
// is i*7 mod 256.
func idx3(n, rows, cols int) []byte {
	b := header(imagesMagic, uint32(n), uint32(rows), uint32(cols))
	for i := range n * rows * cols {
		b = append(b, byte(i*7))
	}
	return b
}

// idx1 returns an IDX1 label file holding labels.
func idx1(labels ...byte) []byte {
	return append(header(labelsMagic, uint32(len(labels))), labels...)
}

// gz returns b gzip-compressed.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fixture maps file names in a data set directory to their contents.
type fixture map[string][]byte

// Names of the fixture files, compressed as in the original MNIST
// distribution.
const (
	trainImages = "train-images-idx3-ubyte.gz"
	trainLabels = "train-labels-idx1-ubyte.gz"
	testImages  = "t10k-images-idx3-ubyte.gz"
	testLabels  = "t10k-labels-idx1-ubyte.gz"
)

// Labels of the valid fixture.
var (
	fixtureTrainLabels = []byte{5, 0, 4, 1, 9, 2}
	fixtureTestLabels  = []byte{7, 2, 1, 0}
)

// validFixture returns a small valid data set: six training and four test
// images of 3x2 pixels, all files gzip-compressed.
func validFixture(t testing.TB) fixture {
	return fixture{
		trainImages: gz(t, idx3(6, 3, 2)),
		trainLabels: gz(t, idx1(fixtureTrainLabels...)),
		testImages:  gz(t, idx3(4, 3, 2)),
		testLabels:  gz(t, idx1(fixtureTestLabels...)),
	}
}

// write stores the fixture in a new temporary directory and returns it.
func (fx fixture) write(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range fx {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rename moves the content of file from to file to.
func (fx fixture) rename(from, to string) {
	fx[to] = fx[from]
	delete(fx, from)
}

// checkError fails t unless err is a one-line error that starts with the
// file name and contains every one of wants.
func checkError(t *testing.T, err error, file string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one about %s containing %q", file, wants)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans several lines: %q", msg)
	}
	if !strings.HasPrefix(msg, file+": ") {
		t.Errorf("error %q does not start with the file name %q", msg, file)
	}
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

func TestLoadDir(t *testing.T) {
	raw := func(name string) string { return strings.TrimSuffix(name, ".gz") }
	for _, tc := range []struct {
		name   string
		modify func(t *testing.T, fx fixture)
	}{
		{"gzip", func(*testing.T, fixture) {}},
		{"raw", func(t *testing.T, fx fixture) {
			for _, name := range []string{trainImages, trainLabels, testImages, testLabels} {
				fx[raw(name)] = idxOf(t, fx[name])
				delete(fx, name)
			}
		}},
		{"mixed", func(t *testing.T, fx fixture) {
			fx[raw(trainImages)] = idxOf(t, fx[trainImages])
			delete(fx, trainImages)
			fx[raw(testLabels)] = idxOf(t, fx[testLabels])
			delete(fx, testLabels)
		}},
		{"content decides compression", func(t *testing.T, fx fixture) {
			fx.rename(trainImages, raw(trainImages))  // gzip data, no suffix
			fx[testLabels] = idxOf(t, fx[testLabels]) // raw data, .gz suffix
		}},
		{"raw preferred when both present", func(t *testing.T, fx fixture) {
			fx[raw(testImages)] = idxOf(t, fx[testImages])
			fx[testImages] = []byte("not used")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := validFixture(t)
			tc.modify(t, fx)
			dir := fx.write(t)
			p, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkPair(t, p, dir)
		})
	}
}

// idxOf returns the decompressed content of the gzip data b.
func idxOf(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// checkPair checks that p holds the data of validFixture.
func checkPair(t *testing.T, p *Pair, source string) {
	t.Helper()
	if p.Source != source {
		t.Errorf("Source = %q, want %q", p.Source, source)
	}
	for _, c := range []struct {
		set    *Set
		name   string
		labels []byte
	}{
		{p.Train, "train", fixtureTrainLabels},
		{p.Test, "test", fixtureTestLabels},
	} {
		s := c.set
		if s.Name != c.name || s.N != len(c.labels) || s.Rows != 3 || s.Cols != 2 || s.Classes != 10 || s.Features() != 6 {
			t.Errorf("%s set: Name %q, N %d, Rows %d, Cols %d, Classes %d, Features %d; want %q, %d, 3, 2, 10, 6",
				c.name, s.Name, s.N, s.Rows, s.Cols, s.Classes, s.Features(), c.name, len(c.labels))
		}
		if !bytes.Equal(s.Labels, c.labels) {
			t.Errorf("%s labels = %v, want %v", c.name, s.Labels, c.labels)
		}
		if len(s.Pixels) != s.N*6 {
			t.Fatalf("%s: %d pixels, want %d", c.name, len(s.Pixels), s.N*6)
		}
		for i, v := range s.Pixels {
			if want := byte(i * 7); v != want {
				t.Fatalf("%s pixel %d = %v, want %v", c.name, i, v, want)
			}
		}
		img := s.Image(1)
		if len(img) != 6 || cap(img) != 6 || &img[0] != &s.Pixels[6] {
			t.Errorf("%s: Image(1) is not the 6-pixel view of the second image", c.name)
		}
	}
}

// damage returns a copy of b with its last n bytes removed or, when n is
// negative, with -n zero bytes appended.
func damage(b []byte, n int) []byte {
	if n < 0 {
		return append(bytes.Clone(b), make([]byte, -n)...)
	}
	return bytes.Clone(b[:len(b)-n])
}

func TestLoadDirErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(t *testing.T, fx fixture)
		file   string   // file the error must start with
		wants  []string // further text the error must contain
	}{
		{"wrong magic", func(t *testing.T, fx fixture) {
			b := idx3(6, 3, 2)
			copy(b, header(labelsMagic))
			fx[trainImages] = gz(t, b)
		}, trainImages, []string{"bad magic number 0x00000801, want 0x00000803", "label file"}},
		{"wrong magic in labels", func(t *testing.T, fx fixture) {
			b := idx1(fixtureTestLabels...)
			b[3] = 0x02
			fx[testLabels] = gz(t, b)
		}, testLabels, []string{"bad magic number 0x00000802, want 0x00000801"}},
		{"truncated images", func(t *testing.T, fx fixture) {
			fx[testImages] = gz(t, damage(idx3(4, 3, 2), 5))
		}, testImages, []string{"truncated", "4 images of 3x2 (24 bytes)", "only 19 bytes"}},
		{"truncated header", func(t *testing.T, fx fixture) {
			fx[testImages] = gz(t, idx3(4, 3, 2)[:10])
		}, testImages, []string{"truncated header: 10 of 16 bytes"}},
		{"empty file", func(t *testing.T, fx fixture) {
			fx[trainLabels] = nil
		}, trainLabels, []string{"empty file"}},
		{"truncated labels", func(t *testing.T, fx fixture) {
			fx[trainLabels] = gz(t, damage(idx1(fixtureTrainLabels...), 1))
		}, trainLabels, []string{"truncated", "6 labels (6 bytes)", "only 5 bytes"}},
		{"trailing bytes after images", func(t *testing.T, fx fixture) {
			fx[trainImages] = gz(t, damage(idx3(6, 3, 2), -3))
		}, trainImages, []string{"trailing data: 3 bytes after the 6 images of 3x2"}},
		{"trailing bytes after labels", func(t *testing.T, fx fixture) {
			fx[testLabels] = gz(t, damage(idx1(fixtureTestLabels...), -1))
		}, testLabels, []string{"trailing data: 1 bytes after the 4 labels"}},
		{"label out of range", func(t *testing.T, fx fixture) {
			fx[testLabels] = gz(t, idx1(7, 2, 1, 12))
		}, testLabels, []string{"label 12 at index 3 out of range 0..9"}},
		{"label 10 out of range", func(t *testing.T, fx fixture) {
			fx[trainLabels] = gz(t, idx1(10, 0, 4, 1, 9, 2))
		}, trainLabels, []string{"label 10 at index 0 out of range 0..9"}},
		{"train count mismatch", func(t *testing.T, fx fixture) {
			fx[trainLabels] = gz(t, idx1(fixtureTrainLabels[:5]...))
		}, trainLabels, []string{"5 labels", trainImages, "6 images"}},
		{"test count mismatch", func(t *testing.T, fx fixture) {
			fx[testImages] = gz(t, idx3(5, 3, 2))
		}, testLabels, []string{"4 labels", testImages, "5 images"}},
		{"train and test sizes differ", func(t *testing.T, fx fixture) {
			fx[testImages] = gz(t, idx3(4, 2, 3))
		}, testImages, []string{"2x3", trainImages, "3x2"}},
		{"zero images", func(t *testing.T, fx fixture) {
			fx[trainImages] = gz(t, idx3(0, 3, 2))
		}, trainImages, []string{"declares 0 images"}},
		{"zero rows", func(t *testing.T, fx fixture) {
			fx[trainImages] = gz(t, header(imagesMagic, 6, 0, 2))
		}, trainImages, []string{"empty 0x2 images"}},
		{"too many images", func(t *testing.T, fx fixture) {
			fx[trainImages] = gz(t, header(imagesMagic, 0xffffffff, 28, 28))
		}, trainImages, []string{"4294967295 images, more than the limit of 10000000"}},
		{"too many labels", func(t *testing.T, fx fixture) {
			fx[testLabels] = gz(t, header(labelsMagic, 10_000_001))
		}, testLabels, []string{"10000001 labels, more than the limit"}},
		{"images too large", func(t *testing.T, fx fixture) {
			fx[testImages] = gz(t, header(imagesMagic, 4, 28, 1025))
		}, testImages, []string{"28x1025 images, larger than the limit of 1024x1024"}},
		{"huge header, tiny file", func(t *testing.T, fx fixture) {
			fx[trainImages] = gz(t, append(header(imagesMagic, maxCount, maxSide, maxSide), 1, 2, 3))
		}, trainImages, []string{"truncated", "10000000 images of 1024x1024 (10485760000000 bytes)", "only 3 bytes"}},
		{"missing file", func(t *testing.T, fx fixture) {
			delete(fx, testLabels)
		}, "t10k-labels-idx1-ubyte", []string{"missing from", "t10k-labels-idx1-ubyte.gz"}},
		{"several missing files", func(t *testing.T, fx fixture) {
			delete(fx, trainLabels)
			delete(fx, testImages)
		}, "train-labels-idx1-ubyte", []string{"missing from", "also missing: t10k-images-idx3-ubyte"}},
		{"corrupt gzip checksum", func(t *testing.T, fx fixture) {
			b := fx[trainImages]
			b[len(b)-8] ^= 0xff // first byte of the CRC-32
		}, trainImages, []string{"corrupt gzip data", "invalid checksum"}},
		{"corrupt gzip header", func(t *testing.T, fx fixture) {
			b := fx[testLabels]
			b[2] = 0x07 // compression method, must be 8
		}, testLabels, []string{"corrupt gzip data", "invalid header"}},
		{"cut-off gzip stream", func(t *testing.T, fx fixture) {
			fx[testImages] = damage(fx[testImages], 12)
		}, testImages, []string{"corrupt gzip data", "unexpected EOF"}},
		{"corrupt deflate data", func(t *testing.T, fx fixture) {
			// A stored block whose length and its complement disagree.
			fx[trainLabels] = append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff},
				0x01, 0x05, 0x00, 0x00, 0x00)
		}, trainLabels, []string{"corrupt gzip data", "corrupt input"}},
		{"gzip inside raw name is decompressed", func(t *testing.T, fx fixture) {
			fx[strings.TrimSuffix(trainLabels, ".gz")] = gz(t, idx1(1, 2, 3, 4, 5, 11))
			delete(fx, trainLabels)
		}, "train-labels-idx1-ubyte", []string{"label 11 at index 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := validFixture(t)
			tc.modify(t, fx)
			dir := fx.write(t)
			p, err := LoadDir(dir)
			if p != nil {
				t.Errorf("got a data set along with the error")
			}
			checkError(t, err, tc.file, tc.wants...)
			if strings.Contains(tc.name, "missing") && err != nil && !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the directory %s", err, dir)
			}
		})
	}
}

func TestLoadDirNotRegular(t *testing.T) {
	fx := validFixture(t)
	delete(fx, testImages)
	dir := fx.write(t)
	if err := os.Mkdir(filepath.Join(dir, testImages), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	checkError(t, err, testImages, "not a regular file")
}

func TestLoadDirNoDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("LoadDir(%q) error = %v, want one naming the directory", dir, err)
	}
}

func TestReadImages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		wants []string // empty for success
	}{
		{"valid", idx3(2, 4, 3), nil},
		{"single pixel", idx3(1, 1, 1), nil},
		{"empty", nil, []string{"empty file"}},
		{"short magic", []byte{0, 0, 8}, []string{"truncated header: 3 of 16 bytes"}},
		{"gzip data", gz(t, idx3(1, 1, 1)), []string{"bad magic number 0x1f8b", "gzip-compressed"}},
		{"labels", idx1(1, 2), []string{"bad magic number 0x00000801", "label file"}},
		{"truncated", damage(idx3(2, 4, 3), 1), []string{"truncated", "only 23 bytes"}},
		{"no pixels", header(imagesMagic, 2, 4, 3), []string{"truncated", "only 0 bytes"}},
		{"trailing", damage(idx3(2, 4, 3), -2), []string{"trailing data: 2 bytes"}},
		{"zero cols", header(imagesMagic, 1, 1, 0), []string{"empty 1x0 images"}},
		{"rows too large", header(imagesMagic, 1, 1<<31, 1), []string{"2147483648x1 images, larger than the limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, rows, cols, pix, err := ReadImages("x.idx", bytes.NewReader(tc.in))
			if len(tc.wants) > 0 {
				checkError(t, err, "x.idx", tc.wants...)
				if n != 0 || rows != 0 || cols != 0 || pix != nil {
					t.Errorf("got %d, %d, %d, %d pixels along with the error", n, rows, cols, len(pix))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.in[16:]; n*rows*cols != len(want) || !bytes.Equal(pix, want) {
				t.Errorf("got %d images of %dx%d, pixels %v; want pixels %v", n, rows, cols, pix, want)
			}
		})
	}
}

func TestReadLabels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		wants []string // empty for success
	}{
		{"valid", idx1(3, 1, 4, 1, 5), nil},
		{"out of range values are not checked here", idx1(200), nil},
		{"empty", nil, []string{"empty file"}},
		{"short header", header(labelsMagic), []string{"truncated header: 4 of 8 bytes"}},
		{"images", idx3(1, 1, 1), []string{"bad magic number 0x00000803, want 0x00000801", "image file"}},
		{"zero labels", idx1(), []string{"declares 0 labels"}},
		{"truncated", damage(idx1(3, 1, 4), 2), []string{"truncated", "3 labels (3 bytes)", "only 1 bytes"}},
		{"trailing", damage(idx1(3, 1, 4), -4), []string{"trailing data: 4 bytes after the 3 labels"}},
		{"huge count", header(labelsMagic, maxCount), []string{"truncated", "10000000 labels", "only 0 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels, err := ReadLabels("y.idx", bytes.NewReader(tc.in))
			if len(tc.wants) > 0 {
				checkError(t, err, "y.idx", tc.wants...)
				if labels != nil {
					t.Errorf("got %d labels along with the error", len(labels))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(labels, tc.in[8:]) {
				t.Errorf("labels = %v, want %v", labels, tc.in[8:])
			}
		})
	}
}

// TestHugeHeaderAllocation checks that headers declaring the largest
// accepted sizes do not make the readers allocate memory for data that is
// not there.
func TestHugeHeaderAllocation(t *testing.T) {
	images := append(header(imagesMagic, maxCount, maxSide, maxSide), make([]byte, 1000)...)
	labels := append(header(labelsMagic, maxCount), make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, errImages := ReadImages("images", bytes.NewReader(images))
	_, errLabels := ReadLabels("labels", bytes.NewReader(labels))
	runtime.ReadMemStats(&after)
	checkError(t, errImages, "images", "truncated")
	checkError(t, errLabels, "labels", "truncated")
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading two tiny files with huge headers allocated %d bytes", alloc)
	}
}

// TestTrailingDataCount checks that a large amount of trailing data is
// reported without reading all of it.
func TestTrailingDataCount(t *testing.T) {
	in := damage(idx1(1), -3*maxTrailingCount)
	r := bytes.NewReader(in)
	_, err := ReadLabels("z", r)
	checkError(t, err, "z", "trailing data: at least 1048576 bytes")
	if r.Len() == 0 {
		t.Errorf("read all %d trailing bytes", 3*maxTrailingCount)
	}
}

func TestSetImagePanics(t *testing.T) {
	s := &Set{Pixels: make([]uint8, 12), N: 3, Rows: 2, Cols: 2}
	for _, i := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Image(%d) of a 3-image set did not panic", i)
				}
			}()
			s.Image(i)
		}()
	}
}

func TestHead(t *testing.T) {
	s := &Set{Name: "x", N: 3, Rows: 1, Cols: 2, Classes: 10, Pixels: []uint8{1, 2, 3, 4, 5, 6}, Labels: []uint8{7, 8, 9}}
	h := s.Head(2)
	if h.N != 2 || len(h.Pixels) != 4 || len(h.Labels) != 2 || h.Image(1)[1] != 4 {
		t.Errorf("Head(2) = %+v", h)
	}
	if s.Head(10).N != 3 || s.Head(-1).N != 0 {
		t.Error("Head does not clamp n")
	}
}

func TestSetCheck(t *testing.T) {
	good := func() *Set {
		return &Set{Name: "train", Pixels: make([]uint8, 3*4), Labels: []uint8{0, 1, 2}, N: 3, Rows: 2, Cols: 2, Classes: 3}
	}
	if err := good().Check(); err != nil {
		t.Fatalf("a good set: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(s *Set)
		want  string
	}{
		{"short pixels", func(s *Set) { s.Pixels = s.Pixels[:11] }, "11 pixel bytes"},
		{"long labels", func(s *Set) { s.Labels = append(s.Labels, 0) }, "4 labels for 3 samples"},
		{"label out of range", func(s *Set) { s.Labels[1] = 3 }, "label 3 of sample 1"},
		{"no columns", func(s *Set) { s.Cols = 0 }, "out of range"},
		{"negative count", func(s *Set) { s.N = -1 }, "out of range"},
	} {
		s := good()
		tc.spoil(s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := (*Set)(nil).Check(); err == nil {
		t.Error("a nil set passed")
	}
	// A head is a set of its own: appending to it leaves its parent alone.
	s := good()
	h := s.Head(2)
	h.Labels = append(h.Labels, 0)
	if s.Labels[2] != 2 {
		t.Errorf("appending to a head changed its parent's labels: %v", s.Labels)
	}
}
