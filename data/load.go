package data

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Set is an in-memory labelled image data set.
type Set struct {
	// Name identifies the set within its source, "train" or "test".
	Name string

	// Pixels holds N*Rows*Cols pixel bytes, image after image, each stored
	// row by row. A byte p stands for the value p/255 in [0, 1] (see
	// PixelValue). Bytes take a quarter of the memory of floats, and a
	// quarter of the memory traffic when batches are gathered from them.
	Pixels []uint8

	// Labels holds the N labels; each is less than Classes.
	Labels []uint8

	// N is the number of images, Rows and Cols the size of each.
	N, Rows, Cols int

	// Classes is the number of classes labels are drawn from, 10 for the
	// MNIST family.
	Classes int
}

// Features returns the number of pixels in one image, Rows*Cols.
func (s *Set) Features() int { return s.Rows * s.Cols }

// Image returns the pixel bytes of image i as a view of s.Pixels. Appending
// to the returned slice never overwrites the next image. Image panics if i is
// not in [0, N).
func (s *Set) Image(i int) []uint8 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("data: image index %d out of range [0, %d)", i, s.N))
	}
	f := s.Features()
	return s.Pixels[i*f : (i+1)*f : (i+1)*f]
}

// Pair is a training set and a test set read from one source.
type Pair struct {
	Train, Test *Set

	// Source describes where the sets were read from: "embedded MNIST" or
	// the directory given to LoadDir.
	Source string
}

// mnistClasses is the number of classes in the MNIST family of data sets.
const mnistClasses = 10

// The standard IDX file names of the MNIST family, in the order train
// images, train labels, test images, test labels.
var standardNames = [4]string{
	"train-images-idx3-ubyte",
	"train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte",
	"t10k-labels-idx1-ubyte",
}

//go:embed mnist/*.gz
var mnistFS embed.FS

// mnistSHA256 holds the SHA-256 sums of the embedded MNIST files.
var mnistSHA256 = map[string]string{
	"train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
	"train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
	"t10k-images-idx3-ubyte.gz":  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
	"t10k-labels-idx1-ubyte.gz":  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

// LoadMNIST returns the MNIST handwritten digit data set embedded in the
// package: 60,000 training and 10,000 test images of 28x28 pixels with labels
// 0 to 9. The SHA-256 sum of each embedded file is checked before it is
// parsed.
//
// Every call decodes the files afresh and returns sets that the caller owns;
// this takes a fraction of a second and allocates about 140 MiB, of which
// the sets keep about 52 MiB (the pixels as bytes).
func LoadMNIST() (*Pair, error) {
	var files [4]file
	for i, base := range standardNames {
		name := base + ".gz"
		files[i] = file{name: name, open: func() (io.ReadCloser, error) {
			b, err := mnistFS.ReadFile("mnist/" + name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := checkSHA256(name, b, mnistSHA256[name]); err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		}}
	}
	return loadPair("embedded MNIST", files)
}

// checkSHA256 checks that the SHA-256 sum of b is the hex string want.
func checkSHA256(name string, b []byte, want string) error {
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s: SHA-256 mismatch: got %s, want %s", name, got, want)
	}
	return nil
}

// LoadDir reads a data set in the MNIST layout from dir, which must hold the
// four files train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each either raw or
// gzip-compressed with a .gz suffix. If both forms of a file are present the
// raw one is used. Whether a file is compressed is decided by its content,
// not its name.
//
// Labels must lie in 0..9, each image file must hold as many images as the
// matching label file holds labels, and training and test images must have
// the same size.
func LoadDir(dir string) (*Pair, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data set directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("data set directory: %s is not a directory", dir)
	}
	var (
		files   [4]file
		missing []string
	)
	for i, base := range standardNames {
		name, err := findFile(dir, base)
		if err != nil {
			return nil, err
		}
		if name == "" {
			missing = append(missing, base)
			continue
		}
		path := filepath.Join(dir, name)
		files[i] = file{name: name, open: func() (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return f, nil
		}}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s: missing from %s (neither %s nor %s.gz exists)", missing[0], dir, missing[0], missing[0])
		if len(missing) > 1 {
			msg += "; also missing: " + strings.Join(missing[1:], ", ")
		}
		return nil, errors.New(msg)
	}
	return loadPair(dir, files)
}

// DirFiles returns the paths of the files that LoadDir(dir) may read: the
// four standard names, each plain and gzipped, whether or not they exist.
func DirFiles(dir string) []string {
	var paths []string
	for _, base := range standardNames {
		for _, name := range dataNames(base) {
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	return paths
}

// dataNames returns the names under which the file base may be present.
func dataNames(base string) []string { return []string{base, base + ".gz"} }

// findFile returns the name under which the file base is present in dir,
// base itself or base+".gz", or "" if it is absent.
func findFile(dir, base string) (string, error) {
	for _, name := range dataNames(base) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s: not a regular file in %s", name, dir)
		}
		return name, nil
	}
	return "", nil
}

// file is one input of a data set: its base name, used in error messages,
// and a way to open it.
type file struct {
	name string
	open func() (io.ReadCloser, error)
}

// decoded holds the contents of one file of a data set.
type decoded struct {
	n, rows, cols int
	pixels        []uint8
	labels        []uint8
}

// loadPair decodes the four files of a data set, in the order of
// standardNames, concurrently and assembles the training and test sets.
func loadPair(source string, files [4]file) (*Pair, error) {
	var (
		out  [4]decoded
		errs [4]error
		wg   sync.WaitGroup
	)
	for i, f := range files {
		wg.Go(func() { out[i], errs[i] = decodeFile(f, i%2 == 0) })
	}
	wg.Wait()
	// Report the first failure in file order so the error does not depend
	// on scheduling.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	train, err := newSet("train", files[0].name, files[1].name, out[0], out[1])
	if err != nil {
		return nil, err
	}
	test, err := newSet("test", files[2].name, files[3].name, out[2], out[3])
	if err != nil {
		return nil, err
	}
	if test.Rows != train.Rows || test.Cols != train.Cols {
		return nil, fmt.Errorf("%s: images are %dx%d but those in %s are %dx%d",
			files[2].name, test.Rows, test.Cols, files[0].name, train.Rows, train.Cols)
	}
	return &Pair{Train: train, Test: test, Source: source}, nil
}

// decodeFile opens f, decompresses it if it starts with the gzip magic
// bytes, and parses it as an image or a label file.
func decodeFile(f file, images bool) (decoded, error) {
	rc, err := f.open()
	if err != nil {
		return decoded{}, err
	}
	defer rc.Close()
	r, err := decompress(f.name, rc)
	if err != nil {
		return decoded{}, err
	}
	if !images {
		labels, err := ReadLabels(f.name, r)
		return decoded{n: len(labels), labels: labels}, err
	}
	n, rows, cols, pixels, err := ReadImages(f.name, r)
	if err != nil {
		return decoded{}, err
	}
	return decoded{n: n, rows: rows, cols: cols, pixels: pixels}, nil
}

// decompress returns a reader of the content of r, decompressed if r starts
// with the gzip magic bytes.
func decompress(name string, r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); !gzipMagic(magic) {
		return br, nil
	}
	zr, err := newGzipReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return zr, nil
}

// PixelMax is the byte of a full pixel, which stands for 1.
const PixelMax = 255

// PixelValue returns the value in [0, 1] that the pixel byte p stands for,
// p/PixelMax rounded to float32.
func PixelValue(p uint8) float32 { return float32(p) / PixelMax }

// newSet assembles a set from decoded image and label files named imgName
// and lblName, checking that they agree and that every label is in range.
func newSet(setName, imgName, lblName string, img, lbl decoded) (*Set, error) {
	if img.n != lbl.n {
		return nil, fmt.Errorf("%s: holds %d labels but %s holds %d images", lblName, lbl.n, imgName, img.n)
	}
	for i, l := range lbl.labels {
		if l >= mnistClasses {
			return nil, fmt.Errorf("%s: label %d at index %d out of range 0..%d", lblName, l, i, mnistClasses-1)
		}
	}
	return &Set{
		Name:    setName,
		Pixels:  img.pixels,
		Labels:  lbl.labels,
		N:       img.n,
		Rows:    img.rows,
		Cols:    img.cols,
		Classes: mnistClasses,
	}, nil
}

// Head returns a set holding the first n samples of s (all of them if n is
// larger), sharing its memory; appending to its slices copies them.
func (s *Set) Head(n int) *Set {
	n = max(0, min(n, s.N))
	h := *s
	h.N = n
	h.Pixels = s.Pixels[: n*s.Features() : n*s.Features()]
	h.Labels = s.Labels[:n:n]
	return &h
}

// Check reports the first inconsistency of s, for a set built in memory
// (those LoadMNIST and LoadDir return are checked already): sizes out of
// range, Pixels and Labels of other lengths than N says, or a label that is
// not less than Classes.
func (s *Set) Check() error {
	switch {
	case s == nil:
		return fmt.Errorf("no data set")
	case s.N < 0 || s.Rows < 1 || s.Cols < 1 || s.Classes < 1 || s.Classes > 256:
		return fmt.Errorf("%s set: %d samples of %d×%d, %d classes: out of range", s.Name, s.N, s.Rows, s.Cols, s.Classes)
	case len(s.Pixels) != s.N*s.Features():
		return fmt.Errorf("%s set: %d pixel bytes for %d samples of %d×%d", s.Name, len(s.Pixels), s.N, s.Rows, s.Cols)
	case len(s.Labels) != s.N:
		return fmt.Errorf("%s set: %d labels for %d samples", s.Name, len(s.Labels), s.N)
	}
	for i, l := range s.Labels {
		if int(l) >= s.Classes {
			return fmt.Errorf("%s set: label %d of sample %d is not below the %d classes", s.Name, l, i, s.Classes)
		}
	}
	return nil
}
