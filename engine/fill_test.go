package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/data"
)

// TestFillBatch checks every input of a filled batch against the
// standardised pixel value, exactly, and the labels.
func TestFillBatch(t *testing.T) {
	pair, err := data.LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	s := pair.Train
	cfg := DefaultConfig(s.Features(), s.Classes)
	cfg.InputMean, cfg.InputStd = InputStats(s)
	tr := &Trainer{net: &Network{cfg: cfg, host: &hostArena{}, epochHost: &hostArena{}}, batches: [2]map[int]*batch{{}, {}}}
	bt := tr.buffers(tr.batches[0], cfg.Batch)
	idx := rand.New(rand.NewPCG(3, 4)).Perm(s.N)[:cfg.Batch]
	fillBatch(bt, s, idx, cfg)
	x, y := bt.x.Float32s(), bt.labels.Float32s()
	f, c := s.Features(), s.Classes
	mean, inv := float32(cfg.InputMean), float32(1/cfg.InputStd)
	for r, i := range idx {
		for j, p := range s.Image(i) {
			if want := (data.PixelValue(p) - mean) * inv; x[r*f+j] != want {
				t.Fatalf("sample %d (row %d), pixel %d (byte %d): %v, want %v", i, r, j, p, x[r*f+j], want)
			}
		}
		for k := range c {
			want := float32(0)
			if k == int(s.Labels[i]) {
				want = 1
			}
			if y[r*c+k] != want {
				t.Fatalf("sample %d (row %d): label column %d is %v, want %v (label %d)", i, r, k, y[r*c+k], want, s.Labels[i])
			}
		}
		if bt.classes[r] != s.Labels[i] {
			t.Fatalf("sample %d (row %d): class %d, want %d", i, r, bt.classes[r], s.Labels[i])
		}
	}
}

// BenchmarkFillBatch times the filling of one batch of 256 MNIST samples in
// the random order of an epoch, and reports it per sample.
func BenchmarkFillBatch(b *testing.B) {
	pair, err := data.LoadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig(pair.Train.Features(), pair.Train.Classes)
	cfg.InputMean, cfg.InputStd = InputStats(pair.Train)
	tr := &Trainer{net: &Network{cfg: cfg, host: &hostArena{}, epochHost: &hostArena{}}, batches: [2]map[int]*batch{{}, {}}}
	bt := tr.buffers(tr.batches[0], cfg.Batch)
	order := rand.New(rand.NewPCG(1, 2)).Perm(pair.Train.N)
	k := 0
	for b.Loop() {
		if (k+1)*cfg.Batch > len(order) {
			k = 0
		}
		fillBatch(bt, pair.Train, order[k*cfg.Batch:(k+1)*cfg.Batch], cfg)
		k++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*cfg.Batch), "ns/sample")
}
