//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCLIWithin is runCLI, failing t if the command has not returned after
// d (it may be waiting to open a named pipe).
func runCLIWithin(t *testing.T, d time.Duration, args ...string) (code int, stderr string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI(args...)
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(d):
		t.Fatalf("%v has not returned after %v", args, d)
		return 0, ""
	}
}

// A named pipe is refused as an output, and as a checkpoint
// to read, at once rather than after a wait for the other end.
func TestNamedPipes(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 64, 20)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no named pipes:", err)
	}
	short := []string{"train", "--data", dir, "--hidden", "8", "--batch", "32", "--epochs", "1", "--quiet"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(short, "--metrics", fifo), "is a named pipe: name a regular file"},
		{append(short, "--trace", fifo), "is a named pipe: name a regular file"},
		{[]string{"train", "--data", dir, "--resume", fifo}, "not a regular file"},
		{[]string{"eval", "--checkpoint", fifo, "--data", dir}, "not a regular file"},
	} {
		if code, stderr := runCLIWithin(t, 10*time.Second, tc.args...); code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q", tc.args, code, stderr)
		}
	}
}

// A run whose metrics or profile cannot be written fails, once the
// epoch's checkpoint is saved.
func TestFullDeviceFails(t *testing.T) {
	const full = "/dev/full"
	if _, err := os.Stat(full); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	writeIDX(t, dir, 64, 20)
	for _, flag := range []string{"metrics", "cpuprofile", "trace"} {
		ckpt := filepath.Join(dir, flag+".safetensors")
		code, _, stderr := runCLI("train", "--data", dir, "--hidden", "8", "--batch", "32", "--epochs", "1", "--quiet", "--checkpoint", ckpt, "--"+flag, full)
		if code != exitError || !strings.Contains(stderr, "write "+full) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("--%s %s: exit %d, %q", flag, full, code, stderr)
		}
		if _, err := os.Stat(ckpt); err != nil {
			t.Errorf("--%s %s: the checkpoint was not saved: %v", flag, full, err)
		}
	}
}
