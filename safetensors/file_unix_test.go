//go:build unix

package safetensors

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// A file that replaces another keeps its permissions, which the umask does
// not touch; a new one gets 0666 less the umask.
func TestWriteFilePermissions(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o077))
	dir := t.TempDir()
	kept := filepath.Join(dir, "shared.safetensors")
	if err := os.WriteFile(kept, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o664); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "new.safetensors")
	for _, path := range []string{kept, fresh} {
		if err := WriteFile(path, sampleTensors(), nil); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]os.FileMode{kept: 0o664, fresh: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
}

// Something at the path that is not a regular file or a link is refused
// and left alone; a link is replaced by the new file, its target untouched.
func TestWriteFileNonRegularAndLinks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	err := WriteFile(fifo, sampleTensors(), nil)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("WriteFile over a FIFO: %v, want a refusal", err)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was disturbed: %v", err)
	}

	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("target"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, sampleTensors(), nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "target" {
		t.Errorf("the link's target holds %q (%v)", b, err)
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the link was not replaced by a file: %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"link", "pipe", "target"}) {
		t.Errorf("directory holds %q", names)
	}
}
