//go:build !gpu

package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnitrain/dnitrain/safetensors"
)

// A build without the gpu tag refuses --device cuda:N before it loads any
// data, with one line that says how to get GPU support, and so a checkpoint
// made on a GPU; that evaluates and describes on the CPU all the same.
func TestDeviceWithoutGPUBuild(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--device", "cuda:0", "--data", "/nonexistent"},
		{"bench", "--device", "cuda:0", "--data", "/nonexistent"},
		{"eval", "--device", "cuda:0", "--checkpoint", "/nonexistent"},
		{"info", "--device", "cuda:0", "--data", "/nonexistent"},
	} {
		code, _, stderr := runCLI(args...)
		if code != exitUsage || !strings.Contains(stderr, "built without GPU support") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q: want exit %d and one line about GPU support", args, code, stderr, exitUsage)
		}
	}

	// A checkpoint whose config names a GPU, as one trained there holds.
	dir := t.TempDir()
	writeIDX(t, dir, 64, 20)
	ckpt := filepath.Join(dir, "run.safetensors")
	if code, _, stderr := runCLI("train", "--data", dir, "--hidden", "8", "--batch", "32", "--epochs", "1", "--checkpoint", ckpt, "--quiet"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	f, err := safetensors.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(f.Metadata["config"]), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["device"] = "cuda:0"
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata["config"] = string(raw)
	delete(f.Metadata, "sha256") // WriteFile adds the new one
	if err := safetensors.WriteFile(ckpt, slices.Collect(maps.Values(f.Tensors)), f.Metadata); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"eval", "--checkpoint", ckpt, "--data", dir},
		{"info", "--checkpoint", ckpt, "--data", dir, "--device", "cpu"},
		{"train", "--resume", ckpt, "--data", dir, "--epochs", "2", "--device", "cpu", "--quiet"},
	} {
		if code, _, stderr := runCLI(args...); code != 0 {
			t.Errorf("%q: exit %d, %s", args, code, stderr)
		}
	}
	if code, _, stderr := runCLI("info", "--checkpoint", ckpt, "--data", "/nonexistent"); code != exitUsage || !strings.Contains(stderr, "--device cpu") {
		t.Errorf("info of a GPU checkpoint on its device: exit %d, %q; want the hint to use --device cpu", code, stderr)
	}
}
