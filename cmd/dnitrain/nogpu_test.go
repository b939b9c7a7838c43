//go:build !gpu

package main

import (
	"strings"
	"testing"
)

// A build without the gpu tag refuses --device cuda:N with one line that
// says how to get GPU support.
func TestDeviceWithoutGPUBuild(t *testing.T) {
	code, _, stderr := runCLI("train", "--device", "cuda:0", "--epochs", "1")
	if code != exitError || !strings.Contains(stderr, "built without GPU support") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q: want exit %d and one line about GPU support", code, stderr, exitError)
	}
}
