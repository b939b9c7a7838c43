// Package data loads labelled image classification data sets stored in the
// IDX layout used by MNIST and validates them before they reach training code.
//
// Every size read from a file header is bounded before anything is allocated,
// and pixel and label data are read incrementally, so a crafted or damaged
// header makes a load fail with an error instead of exhausting memory. Each
// error is a single line that starts with the base name of the offending file.
package data

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// IDX magic numbers: two zero bytes, the element type (0x08, unsigned byte)
// and the number of dimensions.
const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801
)

// Limits on sizes declared by IDX headers. They are far above any real data
// set of this family and exist to reject absurd or hostile headers.
const (
	maxSide  = 1024       // rows and columns per image
	maxCount = 10_000_000 // images or labels per file
)

// initialChunk is the first buffer size used while reading a file body; the
// buffer then doubles as data actually arrives.
const initialChunk = 64 << 10

// maxTrailingCount bounds how many trailing bytes are counted when reporting
// data beyond what a header declares.
const maxTrailingCount = 1 << 20

// ReadImages reads an IDX3 image file (magic 0x00000803) of unsigned bytes
// from r and returns the number of images, their height and width, and the
// pixels, image after image, each stored row by row.
//
// The header is checked before any pixel data is allocated: the image count
// must lie in 1..10,000,000 and rows and cols in 1..1024. The stream must hold
// exactly the number of bytes the header declares; a shorter stream is
// reported as truncated, a longer one as having trailing data. The stream
// must not be compressed; LoadDir and LoadMNIST take care of gzip.
//
// name is used only to prefix error messages and is typically the base name
// of the file r reads from.
func ReadImages(name string, r io.Reader) (n, rows, cols int, pixels []uint8, err error) {
	var hdr [16]byte
	if err := readHeader(name, r, hdr[:], imagesMagic); err != nil {
		return 0, 0, 0, nil, err
	}
	count := binary.BigEndian.Uint32(hdr[4:])
	h := binary.BigEndian.Uint32(hdr[8:])
	w := binary.BigEndian.Uint32(hdr[12:])
	if err := checkCount(name, count, "images"); err != nil {
		return 0, 0, 0, nil, err
	}
	if h == 0 || w == 0 {
		return 0, 0, 0, nil, fmt.Errorf("%s: header declares empty %dx%d images", name, h, w)
	}
	if h > maxSide || w > maxSide {
		return 0, 0, 0, nil, fmt.Errorf("%s: header declares %dx%d images, larger than the limit of %dx%d", name, h, w, maxSide, maxSide)
	}
	total := uint64(count) * uint64(h) * uint64(w) // at most 1e7 * 2^20, no overflow
	if total > math.MaxInt {
		return 0, 0, 0, nil, fmt.Errorf("%s: header declares %d images of %dx%d, too large for this platform", name, count, h, w)
	}
	what := fmt.Sprintf("%d images of %dx%d", count, h, w)
	pixels, err = readBody(r, int(total))
	if err != nil {
		return 0, 0, 0, nil, bodyError(name, err, what, len(pixels), int(total))
	}
	if err := checkEnd(name, r, what); err != nil {
		return 0, 0, 0, nil, err
	}
	return int(count), int(h), int(w), pixels, nil
}

// ReadLabels reads an IDX1 label file (magic 0x00000801) of unsigned bytes
// from r and returns the labels.
//
// The label count declared by the header must lie in 1..10,000,000 and the
// stream must hold exactly that many bytes after the header. ReadLabels does
// not check label values; the number of classes is a property of the data set
// and is checked by LoadDir and LoadMNIST.
//
// name is used only to prefix error messages.
func ReadLabels(name string, r io.Reader) (labels []uint8, err error) {
	var hdr [8]byte
	if err := readHeader(name, r, hdr[:], labelsMagic); err != nil {
		return nil, err
	}
	count := binary.BigEndian.Uint32(hdr[4:])
	if err := checkCount(name, count, "labels"); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%d labels", count)
	labels, err = readBody(r, int(count))
	if err != nil {
		return nil, bodyError(name, err, what, len(labels), int(count))
	}
	if err := checkEnd(name, r, what); err != nil {
		return nil, err
	}
	return labels, nil
}

// readHeader fills hdr from r and checks that it starts with the magic
// number want.
func readHeader(name string, r io.Reader, hdr []byte, want uint32) error {
	n, err := io.ReadFull(r, hdr[:4])
	if err == nil {
		got := binary.BigEndian.Uint32(hdr)
		if got != want {
			return fmt.Errorf("%s: bad magic number 0x%08x, want 0x%08x%s", name, got, want, magicHint(got))
		}
		var m int
		m, err = io.ReadFull(r, hdr[4:])
		n += m
	}
	switch {
	case err == nil:
		return nil
	case n == 0 && err == io.EOF:
		return fmt.Errorf("%s: empty file", name)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s: truncated header: %d of %d bytes", name, n, len(hdr))
	default:
		return fmt.Errorf("%s: %w", name, err)
	}
}

// magicHint explains a few common reasons for a wrong magic number.
func magicHint(got uint32) string {
	switch {
	case got == imagesMagic:
		return " (this is an image file)"
	case got == labelsMagic:
		return " (this is a label file)"
	case got>>16 == 0x1f8b:
		return " (the data is gzip-compressed)"
	}
	return ""
}

// checkCount checks the number of items declared by a header.
func checkCount(name string, count uint32, items string) error {
	if count == 0 {
		return fmt.Errorf("%s: header declares 0 %s", name, items)
	}
	if count > maxCount {
		return fmt.Errorf("%s: header declares %d %s, more than the limit of %d", name, count, items, maxCount)
	}
	return nil
}

// readBody reads exactly n bytes from r. The buffer grows with the data
// actually received, so a header that overstates the size makes it allocate
// at most about twice what the input really holds. On error it returns the
// bytes read so far.
func readBody(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, initialChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// bodyError describes a failure to read a file body after got of the want
// bytes the header declares.
func bodyError(name string, err error, what string, got, want int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: truncated: header declares %s (%d bytes) but only %d bytes follow", name, what, want, got)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// checkEnd checks that r holds no data beyond what the header declared.
// Reading to the end also makes a gzip reader verify its checksum.
func checkEnd(name string, r io.Reader, what string) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	if n == 0 {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	extra, err := io.CopyN(io.Discard, r, maxTrailingCount-1)
	extra++
	var gzErr corruptGzipError
	if errors.As(err, &gzErr) {
		// Damaged compressed data can decode to too many bytes; the
		// corruption is the better explanation.
		return fmt.Errorf("%s: %w", name, err)
	}
	if err == nil {
		return fmt.Errorf("%s: trailing data: at least %d bytes after the %s the header declares", name, extra, what)
	}
	return fmt.Errorf("%s: trailing data: %d bytes after the %s the header declares", name, extra, what)
}

// gzipMagic reports whether b starts with the gzip magic bytes.
func gzipMagic(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

// newGzipReader starts decompressing r, reporting every failure, including
// a damaged header, as a corruptGzipError.
func newGzipReader(r io.Reader) (io.Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, corruptGzipError{err}
	}
	return gzipReader{zr}, nil
}

// gzipReader reports every decompression failure as a corruptGzipError, so
// that a damaged stream is never mistaken for a truncated IDX file: gzip
// itself reports a cut-off stream as io.ErrUnexpectedEOF.
type gzipReader struct {
	zr *gzip.Reader
}

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = corruptGzipError{err}
	}
	return n, err
}

// corruptGzipError is a failure to decompress gzip data.
type corruptGzipError struct {
	err error
}

func (e corruptGzipError) Error() string {
	return "corrupt gzip data: " + strings.TrimPrefix(e.err.Error(), "gzip: ")
}

func (e corruptGzipError) Unwrap() error { return e.err }
