//go:build gpu

package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
	"github.com/dnitrain/dnitrain/engine/gpu"
	"github.com/dnitrain/dnitrain/kernels/cuda"
)

// The GPU benchmarks: the fused TF32 GEMM against the device's measured
// tensor-core rate, training steps on the GPU (BenchmarkStep's cuda0
// cases), and how much of the synthesizers' device time the layers'
// updates hide.

func init() { stepDevices = append(stepDevices, "cuda:0") }

// device opens CUDA device 0 once for all benchmarks.
var device = sync.OnceValues(func() (*cuda.Device, error) { return engine.OpenDevice(0) })

// timeKernel returns the device time in milliseconds of b.N launches of
// launch on s, measured with events.
func timeKernel(b *testing.B, d *cuda.Device, s *cuda.Stream, launch func() error) float64 {
	b.Helper()
	start, err := d.NewEvent()
	if err != nil {
		b.Fatal(err)
	}
	end, err := d.NewEvent()
	if err != nil {
		b.Fatal(err)
	}
	defer start.Close()
	defer end.Close()
	if err := launch(); err != nil { // warm up: JIT, caches
		b.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := s.Record(start); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := launch(); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Record(end); err != nil {
		b.Fatal(err)
	}
	ms, err := end.Elapsed(start)
	if err != nil {
		b.Fatal(err)
	}
	return ms
}

// mmaPeak measures the device's TF32 mma.sync rate in TFLOP/s with the
// mma_peak kernel: every SM full of warps issuing independent chains.
var mmaPeak = sync.OnceValues(func() (float64, error) {
	d, err := device()
	if err != nil {
		return 0, err
	}
	s, err := d.NewStream()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	out, err := d.Alloc(1 << 20)
	if err != nil {
		return 0, err
	}
	defer d.Free(out)
	const threads, iters = 256, 4096
	blocks := 4 * d.SMs
	start, err := d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer start.Close()
	end, err := d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer end.Close()
	err = s.MMAPeak(out, blocks, threads, iters) // warm up
	if err == nil {
		err = s.Record(start)
	}
	if err == nil {
		err = s.MMAPeak(out, blocks, threads, iters)
	}
	if err == nil {
		err = s.Record(end)
	}
	if err != nil {
		return 0, err
	}
	ms, err := end.Elapsed(start)
	if err != nil {
		return 0, err
	}
	flops := float64(blocks*threads/32) * float64(iters) * cuda.MMAPeakFlopsPerWarpIteration
	return flops / (ms * 1e-3) / 1e12, nil
})

// BenchmarkMMAPeak reports the measured TF32 tensor-core rate, the
// yardstick of BenchmarkGemm.
func BenchmarkMMAPeak(b *testing.B) {
	peak, err := mmaPeak()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(peak, "TFLOP/s")
}

// BenchmarkGemm reports the fused GEMM's rate on the layer products of a
// 4096-wide layer (x·W with bias and ReLU, the two backward products) and
// its fraction of the measured mma rate.
func BenchmarkGemm(b *testing.B) {
	d, s := benchStream(b)
	peak, err := mmaPeak()
	if err != nil {
		b.Fatal(err)
	}
	const n = 4096
	// Random operands: tensor cores multiplying zeros draw less power and
	// may clock higher than on real data.
	rng := rand.New(rand.NewPCG(1, 1))
	bufs := []cuda.Buffer{randomBuffer(b, d, s, rng, n*n), randomBuffer(b, d, s, rng, n*n), randomBuffer(b, d, s, rng, n*n)}
	bias := randomBuffer(b, d, s, rng, n)
	for _, tc := range []struct {
		name           string
		transA, transB bool
		bias           cuda.Buffer
		act            int
	}{
		{"xW_bias_relu", false, false, bias, 1},
		{"xTg", true, false, cuda.Buffer{}, 0},
		{"gWT", false, true, cuda.Buffer{}, 0},
	} {
		b.Run(fmt.Sprintf("%s_%d", tc.name, n), func(b *testing.B) {
			ms := timeKernel(b, d, s, func() error {
				return s.Gemm(bufs[2], bufs[0], bufs[1], tc.bias, n, n, n, n, n, n, tc.transA, tc.transB, 0, tc.act)
			})
			tflops := 2 * float64(n) * n * n * float64(b.N) / (ms * 1e-3) / 1e12
			b.ReportMetric(tflops, "TFLOP/s")
			b.ReportMetric(100*tflops/peak, "%mma")
			b.ReportMetric(ms/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkOverlap trains MNIST steps of the decoupled modes on the GPU
// with a timeline and reports the fraction of synthesizer device time
// (predictions, learning and their updates) during which some layer's
// update ran (%hidden).
func BenchmarkOverlap(b *testing.B) {
	pair, err := data.LoadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	d, err := device()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mode     engine.Mode
		sgHidden int
	}{
		{"cdni_linear", engine.CDNI, 0},
		{"dni_2x1024", engine.DNI, 2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tl, err := gpu.NewTimelineOn(d)
			if err != nil {
				b.Fatal(err)
			}
			defer tl.Close()
			tr := mnistTrainer(b, pair, tc.mode, tc.sgHidden, "cuda:0", func(cfg engine.Config) (*engine.Network, error) {
				return engine.NewTimedNetwork(cfg, tl)
			})
			if _, err := tr.RunEpoch(context.Background(), nil); err != nil { // warm up: buffers, JIT
				b.Fatal(err)
			}
			if err := tl.Reset(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			update, synth, hidden, err := tl.Overlap()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(100*hidden, "%hidden")
			b.ReportMetric(synth/float64(b.N*stepsPerRun), "sg-ms/step")
			b.ReportMetric(update/float64(b.N*stepsPerRun), "update-ms/step")
		})
	}
}

// BenchmarkGemmSmall times the products of MNIST's networks, which cover
// few blocks of the device, as one kernel (split1) and as Gemm runs them
// (auto: K split to fill the SMs, then the reduction), in µs per product.
func BenchmarkGemmSmall(b *testing.B) {
	d, s := benchStream(b)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, tc := range []struct {
		name           string
		m, n, k        int
		transA, transB bool
	}{
		{"xW_256x784x256", 256, 256, 784, false, false},     // a first layer's forward pass
		{"xTg_784x256x256", 784, 256, 256, true, false},     // its weight gradient
		{"xW_256x1024x1024", 256, 1024, 1024, false, false}, // a 1024-wide synthesizer layer
		{"gWT_256x256x1024", 256, 256, 1024, false, true},   // the gradient into its input
	} {
		a, bb, c := randomBuffer(b, d, s, rng, tc.m*tc.k), randomBuffer(b, d, s, rng, tc.k*tc.n), randomBuffer(b, d, s, rng, tc.m*tc.n)
		lda, ldb := tc.k, tc.n
		if tc.transA {
			lda = tc.m
		}
		if tc.transB {
			ldb = tc.k
		}
		for _, split := range []bool{false, true} {
			name := tc.name + "/split1"
			if split {
				name = tc.name + "/auto"
			}
			b.Run(name, func(b *testing.B) {
				ms := timeKernel(b, d, s, func() error {
					if split {
						return s.Gemm(c, a, bb, cuda.Buffer{}, tc.m, tc.n, tc.k, lda, ldb, tc.n, tc.transA, tc.transB, 0, 0)
					}
					return s.GemmSplit(c, a, bb, cuda.Buffer{}, tc.m, tc.n, tc.k, lda, ldb, tc.n, tc.transA, tc.transB, 0, 0, 1)
				})
				reportMicros(b, ms)
				b.ReportMetric(2*float64(tc.m)*float64(tc.n)*float64(tc.k)*float64(b.N)/(ms*1e-3)/1e12, "TFLOP/s")
			})
		}
	}
}

// randomBuffer returns a device buffer of n normal random floats, freed
// when b ends.
func randomBuffer(b *testing.B, d *cuda.Device, s *cuda.Stream, rng *rand.Rand, n int) cuda.Buffer {
	buf, err := d.Alloc(n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Free(buf) })
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	if err := s.Upload(buf, v); err == nil {
		err = s.Sync()
	}
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

// BenchmarkKernels times the elementwise kernels on the shapes of an
// MNIST step (a batch of 256; layers 256 and synthesizers 1024 wide), in
// µs per launch, launches queued back to back.
func BenchmarkKernels(b *testing.B) {
	d, s := benchStream(b)
	rng := rand.New(rand.NewPCG(3, 3))
	const rows = 256
	bn := cuda.BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, cols := range []int{256, 1024} {
		buf := func(n int) cuda.Buffer { return randomBuffer(b, d, s, rng, n) }
		z, h, g, dz := buf(rows*cols), buf(rows*cols), buf(rows*cols), buf(rows*cols)
		xhat, mean, invStd, gamma, beta, runMean, runVar := buf(rows*cols), buf(cols), buf(cols), buf(cols), buf(cols), buf(cols), buf(cols)
		sums := buf(cols)
		for _, k := range []struct {
			name   string
			launch func() error
		}{
			{"bias_relu", func() error { return s.BiasActivate(z, sums, rows, cols, 1) }},
			{"relu_backward", func() error { return s.ActivationBackward(dz, g, h, rows, cols, 1) }},
			{"column_sums", func() error { return s.ColumnSums(sums, g, rows, cols) }},
			{"batchnorm_forward_train", func() error {
				return s.BatchNormForwardTrain(bn, z, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols)
			}},
			{"batchnorm_backward", func() error { return s.BatchNormBackward(g, xhat, invStd, gamma, sums, mean, rows, cols) }},
			{"squared_error", func() error { return s.SquaredError(dz, h, z, g, rows*cols, 1) }},
		} {
			b.Run(fmt.Sprintf("%s_%dx%d", k.name, rows, cols), func(b *testing.B) { reportMicros(b, timeKernel(b, d, s, k.launch)) })
		}
	}
	logits, labels, grad, rowLoss := randomBuffer(b, d, s, rng, rows*10), randomBuffer(b, d, s, rng, rows*10), randomBuffer(b, d, s, rng, rows*10), randomBuffer(b, d, s, rng, rows)
	b.Run("softmax_cross_entropy_256x10", func(b *testing.B) {
		reportMicros(b, timeKernel(b, d, s, func() error { return s.SoftmaxCrossEntropy(grad, rowLoss, logits, labels, rows, 10) }))
	})
	for _, n := range []int{784 * 256, 1024 * 1024} {
		w, g, m, v := randomBuffer(b, d, s, rng, n), randomBuffer(b, d, s, rng, n), randomBuffer(b, d, s, rng, n), randomBuffer(b, d, s, rng, n)
		b.Run(fmt.Sprintf("adam_step_%d", n), func(b *testing.B) {
			reportMicros(b, timeKernel(b, d, s, func() error { return s.AdamStep(w, g, m, v, 0.9, 0.999, 1e-8, 1e-3, 1) }))
		})
	}
}

// benchStream returns device 0 and a new stream of it, closed when b ends.
func benchStream(b *testing.B) (*cuda.Device, *cuda.Stream) {
	d, err := device()
	if err != nil {
		b.Fatal(err)
	}
	s, err := d.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return d, s
}

// reportMicros reports the device time ms of b.N launches as µs/op.
func reportMicros(b *testing.B, ms float64) { b.ReportMetric(1e3*ms/float64(b.N), "µs/op") }
