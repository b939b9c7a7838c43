package safetensors

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// dirNames returns the names of the entries in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	tensors := sampleTensors()
	if err := WriteFile(path, tensors, map[string]string{"epoch": "1"}); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := encode(t, tensors, map[string]string{"epoch": "1"}); !bytes.Equal(onDisk, want) {
		t.Error("WriteFile wrote different bytes from Encode")
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("file mode = %v, want 0644", fi.Mode().Perm())
		}
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range tensors {
		if got := f.Tensors[want.Name]; !sameTensor(got, want) {
			t.Errorf("tensor %q = %+v, want %+v", want.Name, got, want)
		}
	}
	if f.Metadata["epoch"] != "1" || !f.Checksummed() {
		t.Errorf("metadata = %q, checksummed = %v", f.Metadata, f.Checksummed())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"ckpt.safetensors"}) {
		t.Errorf("directory holds %q, want only the checkpoint", names)
	}
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("ckpt.safetensors", sampleTensors()[:1], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile("ckpt.safetensors"); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, "."); !slices.Equal(names, []string{"ckpt.safetensors"}) {
		t.Errorf("directory holds %q, want only the checkpoint", names)
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := os.WriteFile(path, []byte("an older, longer file that is not even safetensors"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := []Tensor{F32("w", []int{2}, []float32{1, 2})}
	v2 := []Tensor{F32("w", []int{2}, []float32{3, 4}), I64("step", []int{}, []int64{2})}
	for i, tensors := range [][]Tensor{v1, v2} {
		if err := WriteFile(path, tensors, nil); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, encode(t, tensors, nil)) {
			t.Errorf("after write %d the file does not hold the new tensors", i+1)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"ckpt.safetensors"}) {
		t.Errorf("directory holds %q, want only the checkpoint", names)
	}
}

func TestWriteFileFailureKeepsOldFile(t *testing.T) {
	good := []Tensor{F32("w", []int{2}, []float32{1, 2})}
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"wrong data length", []Tensor{{Name: "w", DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 8)}}, nil, "needs 12 bytes"},
		{"reserved metadata key", good, map[string]string{"sha256": "0"}, "reserved"},
		{"duplicate names", append(slices.Clone(good), good...), nil, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ckpt.safetensors")
			if err := WriteFile(path, good, nil); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			err = WriteFile(path, tt.tensors, tt.meta)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "write "+path+": ") {
				t.Fatalf("WriteFile error = %v, want %q prefixed with the path", err, tt.want)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("failed WriteFile changed the existing file")
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"ckpt.safetensors"}) {
				t.Errorf("directory holds %q, want only the checkpoint", names)
			}
		})
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "no-such-dir", "ckpt.safetensors")
	err := WriteFile(path, sampleTensors(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "write "+path+": ") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile error = %v, want a not-exist error prefixed with the path", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("directory holds %q, want nothing", names)
	}
}

func TestWriteFileOverDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, sampleTensors(), nil); err == nil {
		t.Fatal("WriteFile over a non-empty directory succeeded")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"ckpt.safetensors"}) {
		t.Errorf("directory holds %q, want only the original entry", names)
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Errorf("directory contents disturbed: %v", err)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := ReadFile(missing); err == nil || !strings.HasPrefix(err.Error(), "read "+missing+": ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: error = %v", err)
	}

	corrupt := filepath.Join(dir, "corrupt.safetensors")
	b := encode(t, sampleTensors(), nil)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(corrupt)
	if want := "read " + corrupt + ": checksum mismatch: file is corrupted"; err == nil || err.Error() != want || !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("ReadFile of a corrupt file: error = %v, want %q", err, want)
	}

	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile of a directory: error = %v", err)
	}

	// A sparse file just over the limit must be refused before reading.
	big := filepath.Join(dir, "big.safetensors")
	fd, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	err = fd.Truncate(maxFileSize + 1)
	fd.Close()
	if err != nil {
		t.Skipf("cannot create a sparse file: %v", err)
	}
	_, err = ReadFile(big)
	if want := "read " + big + ": file is 8589934593 bytes, over the 8 GiB limit"; err == nil || err.Error() != want {
		t.Errorf("ReadFile of an oversized file: error = %v, want %q", err, want)
	}
}

// ReadMetadata reads the header alone: a file whose data is corrupt still
// gives its metadata; a file that is not safetensors, or whose header is
// cut short, gives an error.
func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	b := encode(t, sampleTensors(), map[string]string{"epoch": "1"})
	b[len(b)-1] ^= 1 // in the data, which ReadMetadata does not read
	path := filepath.Join(dir, "corrupt-data.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMetadata(path)
	if err != nil || meta["epoch"] != "1" {
		t.Errorf("metadata %q, %v", meta, err)
	}
	for name, content := range map[string][]byte{
		"text":         []byte("a text file, not safetensors"),
		"short":        []byte("abc"),
		"header cut":   b[:20],
		"header wrong": append(bytes.Clone(b[:8]), bytes.Repeat([]byte("x"), len(b)-8)...),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if meta, err := ReadMetadata(path); err == nil || !strings.HasPrefix(err.Error(), "read "+path+": ") {
			t.Errorf("%s: metadata %q, error %v", name, meta, err)
		}
	}
	if _, err := ReadMetadata(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
