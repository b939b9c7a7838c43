package data

import (
	"bytes"
	"strings"
	"testing"
)

// checkFuzzError checks the form every reader error must have.
func checkFuzzError(t *testing.T, err error, name string) {
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, name+": ") {
		t.Errorf("malformed error %q", msg)
	}
}

func FuzzReadImages(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		n, rows, cols, pixels, err := ReadImages("f", bytes.NewReader(in))
		if err != nil {
			checkFuzzError(t, err, "f")
			if n != 0 || rows != 0 || cols != 0 || pixels != nil {
				t.Errorf("got %d, %d, %d, %d pixels along with error %v", n, rows, cols, len(pixels), err)
			}
			return
		}
		if n < 1 || n > maxCount || rows < 1 || rows > maxSide || cols < 1 || cols > maxSide {
			t.Fatalf("accepted %d images of %dx%d", n, rows, cols)
		}
		if len(pixels) != n*rows*cols {
			t.Fatalf("%d images of %dx%d but %d pixels", n, rows, cols, len(pixels))
		}
		if len(in) != 16+len(pixels) || !bytes.Equal(pixels, in[16:]) {
			t.Fatalf("pixels are not the %d bytes after the header of a %d-byte input", len(pixels), len(in))
		}
	})
}

func FuzzReadLabels(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		labels, err := ReadLabels("f", bytes.NewReader(in))
		if err != nil {
			checkFuzzError(t, err, "f")
			if labels != nil {
				t.Errorf("got %d labels along with error %v", len(labels), err)
			}
			return
		}
		if len(labels) < 1 || len(labels) > maxCount {
			t.Fatalf("accepted %d labels", len(labels))
		}
		if len(in) != 8+len(labels) || !bytes.Equal(labels, in[8:]) {
			t.Fatalf("labels are not the %d bytes after the header of a %d-byte input", len(labels), len(in))
		}
	})
}
