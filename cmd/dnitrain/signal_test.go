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
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
