package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

// stepsPerRun is the number of training steps one benchmark iteration runs:
// one epoch over the first stepsPerRun batches of MNIST, real data rather
// than one repeated batch (which drives gradients into slow denormals).
const stepsPerRun = 10

// stepDevices are the devices BenchmarkStep runs on: the CPU, and CUDA
// device 0 in a build with the gpu tag.
var stepDevices = []string{"cpu"}

// BenchmarkStep reports the wall time of one training step (batch 256,
// 784-256-256-10) for each mode and device, as ms/step, and the most memory
// the Go heap held for the trainer (see Curve.PeakHeapMiB), as
// peak-heap-MiB.
func BenchmarkStep(b *testing.B) {
	pair, err := data.LoadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mode     engine.Mode
		sgHidden int
	}{
		{"bprop", engine.Backprop, 0},
		{"cdni_linear", engine.CDNI, 0},
		{"dni_2x1024", engine.DNI, 2},
	} {
		for _, device := range stepDevices {
			b.Run(tc.name+"/"+strings.ReplaceAll(device, ":", ""), func(b *testing.B) {
				benchmarkStep(b, pair, tc.mode, tc.sgHidden, device)
			})
		}
	}
}

// benchmarkStep times steps of one mode on one device.
func benchmarkStep(b *testing.B, pair *data.Pair, mode engine.Mode, sgHidden int, device string) {
	heap := startHeapPeak()
	defer heap.Stop() // when the benchmark fails
	tr := mnistTrainer(b, pair, mode, sgHidden, device, engine.NewNetwork)
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil { // compile the graphs
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1000*b.Elapsed().Seconds()/float64(b.N*stepsPerRun), "ms/step")
	b.ReportMetric(heap.Stop(), "peak-heap-MiB")
}

// mnistTrainer returns a trainer of the CLI's default network in the given
// mode on device, built by newNetwork, whose epochs are the first
// stepsPerRun batches of MNIST. The network is closed when b ends.
func mnistTrainer(b *testing.B, pair *data.Pair, mode engine.Mode, sgHidden int, device string, newNetwork func(engine.Config) (*engine.Network, error)) *engine.Trainer {
	b.Helper()
	cfg := engine.DefaultConfig(pair.Train.Features(), pair.Train.Classes)
	cfg.Mode, cfg.SGHidden, cfg.Epochs, cfg.Device = mode, sgHidden, 100000, device
	cfg.InputMean, cfg.InputStd = engine.InputStats(pair.Train)
	subset := pair.Train.Head(stepsPerRun * cfg.Batch)
	net, err := newNetwork(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { net.Close() })
	tr, err := engine.NewTrainer(net, subset)
	if err != nil {
		b.Fatal(err)
	}
	return tr
}
