package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dnitrain/dnitrain/data"
)

// FuzzLoadCheckpoint feeds arbitrary files to the checkpoint decoder: the
// safetensors decoding, the config parsing and validation, and the loading
// of tensors into a network. It must return errors, never panic.
func FuzzLoadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	for i, mode := range []Mode{Backprop, CDNI} {
		cfg := smallConfig(mode) // small, so that the fuzzer's mutations stay quick
		cfg.Inputs, cfg.Classes, cfg.Layers, cfg.Hidden = 3, 2, 2, 2
		net, err := NewNetwork(cfg)
		if err != nil {
			f.Fatal(err)
		}
		tr, err := NewTrainer(net, &data.Set{Name: "train", N: 1, Rows: 1, Cols: 3, Classes: 2, Pixels: make([]uint8, 3), Labels: []uint8{1}})
		if err != nil {
			f.Fatal(err)
		}
		path := filepath.Join(dir, "seed"+string(rune('a'+i)))
		if err := tr.Save(path); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := DecodeCheckpoint("fuzz.safetensors", b)
		if err != nil {
			return
		}
		if EstimateMemory(ck.Config) > 64<<20 {
			return // valid, but too large to build in a fuzz run
		}
		_, _ = ck.Network()
	})
}
