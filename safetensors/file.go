package safetensors

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// maxFileSize bounds the files ReadFile will load into memory.
const maxFileSize = 8 << 30

// WriteFile encodes tensors and metadata as with Encode and stores them at
// path atomically and durably.
//
// The file is first written to a temporary file in the same directory, synced
// and given mode 0644, then renamed over path, and finally the directory is
// synced so that the rename itself survives a crash. Readers therefore see
// either the old file or the complete new one. On failure the temporary file
// is removed and an existing file at path is left untouched. If path is a
// symbolic link, the link itself is replaced.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	if err := writeFile(path, tensors, metadata); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", unwrapPath(err))
	}
	tmpName := tmp.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			if tmpName != "" {
				os.Remove(tmpName)
			}
		}
	}()

	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := Encode(w, tensors, metadata); err != nil {
		return unwrapPath(err)
	}
	if err := w.Flush(); err != nil {
		return unwrapPath(err)
	}
	if err := tmp.Sync(); err != nil {
		return unwrapPath(err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return unwrapPath(err)
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return unwrapPath(err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return unwrapPath(err)
	}
	// The temporary file no longer exists; from here on an error means the
	// new file is in place but its directory entry may not be durable yet.
	tmpName = ""
	return syncDir(dir)
}

// syncDir flushes the directory entry changes in dir to stable storage.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Directories cannot be opened for syncing on Windows, where
		// rename is already durable once it returns.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", unwrapPath(err))
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", unwrapPath(err))
	}
	return nil
}

// ReadFile reads and decodes the safetensors file at path; see Decode. Files
// larger than 8 GiB are refused before anything is read. Errors are prefixed
// with "read <path>: ".
func ReadFile(path string) (*File, error) {
	f, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

func readFile(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	size := fi.Size()
	if size > maxFileSize || uint64(size) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("file is %d bytes, over the %d GiB limit", size, maxFileSize>>30)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(fd, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errors.New("file shrank while being read")
		}
		return nil, unwrapPath(err)
	}
	var extra [1]byte
	if n, _ := fd.Read(extra[:]); n > 0 {
		return nil, errors.New("file grew while being read")
	}
	return Decode(b)
}

// unwrapPath strips the path from os errors, which the callers already
// report.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}
