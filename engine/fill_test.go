package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/data"
)

// BenchmarkFillBatch times the filling of one batch of 256 MNIST samples in
// the random order of an epoch, and reports it per sample.
func BenchmarkFillBatch(b *testing.B) {
	pair, err := data.LoadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig(pair.Train.Features(), pair.Train.Classes)
	cfg.InputMean, cfg.InputStd = InputStats(pair.Train)
	tr := &Trainer{net: &Network{cfg: cfg}, batches: [2]map[int]*batch{{}, {}}}
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
