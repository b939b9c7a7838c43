package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the command, so that a test
// can run it as a child process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("DNITRAIN_TEST_AS_CLI") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func TestSignalsCheckpointAndExit(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, exitInterrupted}, {syscall.SIGTERM, exitTerminated}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			writeIDX(t, dir, 4096, 40)
			ckpt := filepath.Join(dir, "run.safetensors")
			cmd := exec.Command(os.Args[0], "train", "--data", dir, "--hidden", "64", "--batch", "8", "--epochs", "1000", "--checkpoint", ckpt)
			cmd.Env = append(os.Environ(), "DNITRAIN_TEST_AS_CLI=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // well inside the first epochs
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
				t.Fatalf("exit %v, want status %d; stderr: %s", err, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "checkpoint written to") {
				t.Errorf("stderr: %q", stderr.String())
			}
			// The checkpoint resumes.
			code, _, errOut := runCLI("eval", "--checkpoint", ckpt, "--data", dir)
			if code != 0 {
				t.Fatalf("eval of the interrupted run's checkpoint: %s", errOut)
			}
		})
	}
}

// A run whose standard output is a pipe closed by its reader stops after
// its first epoch, once that epoch is saved, and fails on the lost output.
func TestClosedPipeFailsAfterSaving(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 256, 40)
	ckpt := filepath.Join(dir, "run.safetensors")
	cmd := exec.Command(os.Args[0], "train", "--data", dir, "--hidden", "16", "--batch", "32", "--epochs", "3", "--checkpoint", ckpt)
	cmd.Env = append(os.Environ(), "DNITRAIN_TEST_AS_CLI=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // no reader: every write to stdout fails
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	w.Close()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError || !strings.Contains(stderr.String(), "training stopped after epoch 1") {
		t.Fatalf("exit %v, want status %d; stderr: %q", err, exitError, stderr.String())
	}
	if code, out, errOut := runCLI("info", "--checkpoint", ckpt, "--data", dir); code != 0 || !strings.Contains(out, "at step 8") {
		t.Errorf("info on the checkpoint: exit %d: %s%s", code, out, errOut)
	}
}
