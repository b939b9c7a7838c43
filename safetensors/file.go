package safetensors

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// maxFileSize bounds the files ReadFile will load into memory.
const maxFileSize = 8 << 30

// WriteFile encodes tensors and metadata as with Encode and stores them at
// path atomically and durably.
//
// The file is first written to a temporary file in the same directory, synced,
// then renamed over path, and finally the directory is synced so that the
// rename itself survives a crash. Readers therefore see either the old file or
// the complete new one. On failure the temporary file is removed and an
// existing file at path is left untouched. A file that replaces another keeps
// its permissions; a new one gets 0666 less the umask. If path is a symbolic
// link, the link itself is replaced; anything else there that is not a
// regular file (a folder, a device, a pipe) is refused.
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
	perm, keep := os.FileMode(0o666), false
	if st, err := os.Lstat(path); err == nil {
		switch {
		case st.Mode().IsRegular():
			perm, keep = st.Mode().Perm(), true
		case st.Mode()&os.ModeSymlink == 0:
			return errors.New("not a regular file")
		}
	}
	tmp, err := createTemp(dir, "."+base+".tmp-", perm)
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
	if keep { // the umask applied at creation; the old file's permissions win
		if err := os.Chmod(tmpName, perm); err != nil {
			return unwrapPath(err)
		}
	}
	if err := os.Rename(tmpName, path); err != nil {
		return unwrapPath(err)
	}
	// The temporary file no longer exists; from here on an error means the
	// new file is in place but its directory entry may not be durable yet.
	tmpName = ""
	return syncDir(dir)
}

// createTemp creates a new file in dir named prefix and a random number, with
// the permissions perm less the umask, like os.CreateTemp (whose files are
// always 0600).
func createTemp(dir, prefix string, perm os.FileMode) (*os.File, error) {
	for tries := 0; ; tries++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && tries < 100 {
			continue
		}
		return f, err
	}
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

// ReadMetadata reads the header of the safetensors file at path, and not
// its tensors' data, and returns the metadata: enough to tell a file's kind
// without reading it all. The header is checked as Decode checks it, but
// for what needs the data (the checksum, the tensors tiling the buffer).
// Errors are prefixed with "read <path>: ".
func ReadMetadata(path string) (map[string]string, error) {
	meta, err := readMetadata(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return meta, nil
}

func readMetadata(path string) (map[string]string, error) {
	fd, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", size)
	}
	if _, err := io.ReadFull(fd, lenBuf[:]); err != nil {
		return nil, unwrapPath(err)
	}
	n, err := headerLen(lenBuf[:], int(min(size-8, maxHeaderLen)))
	if err != nil {
		return nil, err
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(fd, header); err != nil {
		return nil, unwrapPath(err)
	}
	meta := map[string]string{}
	err = parseHeader(header, int(size-8-int64(n)), meta, func(Tensor, int, int) error { return nil })
	return meta, err
}

// openRegular opens the regular file at path and returns it with its size.
func openRegular(path string) (*os.File, int64, error) {
	// Checked before opening too: opening a named pipe waits for a writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, 0, unwrapPath(err)
	} else if !fi.Mode().IsRegular() {
		return nil, 0, errNotRegular
	}
	fd, err := os.Open(path)
	if err != nil {
		return nil, 0, unwrapPath(err)
	}
	fi, err := fd.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotRegular
	}
	if err != nil {
		fd.Close()
		return nil, 0, unwrapPath(err)
	}
	return fd, fi.Size(), nil
}

// errNotRegular is openRegular's error for a path that names no regular
// file.
var errNotRegular = errors.New("not a regular file")

func readFile(path string) (*File, error) {
	fd, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
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
