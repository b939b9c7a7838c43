//go:build gpu

package gpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/internal/moduletest"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// The GPU modules are checked against the fused CPU modules, built from
// the same seed, on random inputs. The GPU's GEMMs run on TF32 tensor
// cores, which round their inputs to 10-bit mantissas; the reference rounds
// every GEMM operand the same way (fused.Options.TF32), so the two differ
// only in the order of float32 sums. Without that, a ReLU whose input
// lands within the TF32 error of zero passes the upstream gradient on one
// side and not on the other, and whole columns of a weight gradient differ
// (up to a tenth of its largest element for a 256×784→256 layer, seen on
// an H200). The sums' order still moves a computed operand (an activation,
// a gradient) across a TF32 rounding boundary now and then. A few large
// updates magnify that: a batch-norm layer's output after three updates
// differed by 0.15% of its largest element on an H200, within the
// tolerance of 0.5%. So does a ReLU behind a second GEMM, whose input is
// such an operand: in a synthesizer of two 1024-wide hidden layers on a
// batch of 64, one flipped derivative moved an element of the first
// weight gradient by 1.5% of the largest. Wide synthesizers are therefore
// checked with one hidden layer (whose GEMM's operands are the rounded
// inputs and parameters, the same on both sides), two hidden layers at a
// width where a flip is unlikely; the training-curve test in package
// engine runs the 2×1024 synthesizers of DNI.
// The optimizer is SGD, whose updates are linear in the gradients, so that
// parameters after a few updates stay as close as the gradients are (Adam
// divides by √v and magnifies differences in near-zero gradients).

var device *cuda.Device

func TestMain(m *testing.M) {
	var err error
	if device, err = cuda.Open(0); err != nil {
		fmt.Fprintln(os.Stderr, "gpu tests need CUDA device 0:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// check compares a GPU module with its TF32 CPU twin, syncing the GPU
// module's host mirror before its parameters are read.
var check = moduletest.Checker{Tol: 5e-3, Sync: func(m any) error { return m.(interface{ SyncHost() error }).SyncHost() }}

// twin are the options of the CPU reference modules.
var twin = fused.Options{Threads: 1, TF32: true}

var sgd = optim.Config{Kind: optim.SGD, LR: 1e-2, Momentum: 0.9}

func TestDenseMatchesCPU(t *testing.T) {
	for _, tc := range []struct {
		batch, in, out int
		act            graph.Activation
		bn, inputGrad  bool
	}{
		{1, 1, 1, graph.Identity, false, true},
		{7, 13, 5, graph.ReLU, false, true},
		{33, 17, 40, graph.Tanh, false, false},
		{5, 9, 3, graph.Sigmoid, false, true},
		{16, 20, 31, graph.ReLU, true, true},
		{256, 784, 256, graph.ReLU, true, false},
		{255, 257, 129, graph.Tanh, true, true},
	} {
		t.Run(fmt.Sprintf("%dx%d->%d_%v_bn=%v", tc.batch, tc.in, tc.out, tc.act, tc.bn), func(t *testing.T) {
			spec := graph.Spec{In: tc.in, Out: tc.out, Act: tc.act, BatchNorm: tc.bn}
			ref, err := fused.NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), sgd, twin)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			check.Dense(t, ref, dev, tc.batch, tc.in, tc.out)
		})
	}
}

func TestOutputMatchesCPU(t *testing.T) {
	for _, tc := range []struct{ batch, in, classes int }{{1, 1, 2}, {7, 13, 3}, {256, 256, 10}} {
		t.Run(fmt.Sprintf("%dx%d->%d", tc.batch, tc.in, tc.classes), func(t *testing.T) {
			ref, err := fused.NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), sgd, twin)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			check.Output(t, ref, dev, tc.batch, tc.in, tc.classes)
		})
	}
}

func TestSynthesizerMatchesCPU(t *testing.T) {
	for _, cfg := range []synth.Config{
		{In: 5, Scale: 1},
		{In: 256, Classes: 10, Scale: 1},
		{In: 7, Classes: 4, Hidden: 2, Width: 9, Scale: 1},
		// Wide layers take one hidden layer: see below. Two hidden layers
		// with batch norm are checked narrow.
		{In: 256, Hidden: 1, Width: 1024, BatchNorm: true, Scale: 1},
		{In: 20, Hidden: 2, Width: 24, BatchNorm: true, Scale: 1},
		{In: 9, Out: 5, Hidden: 1, Width: 7, Scale: 1, Input: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			ref, err := fused.NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), sgd, twin)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			check.Synthesizer(t, ref, dev, cfg, 64)
		})
	}
}

// A checkpoint's state written to the host tensors reaches the device.
func TestSyncDevice(t *testing.T) {
	d, err := NewDense("l", graph.Spec{In: 3, Out: 2, Act: graph.Identity}, false, rand.New(rand.NewPCG(1, 1)), sgd, Options{Device: device})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := data(d.W.Value)
	for i := range w {
		w[i] = float32(i)
	}
	if err := d.SyncDevice(); err != nil {
		t.Fatal(err)
	}
	clear(w)
	if err := d.SyncHost(); err != nil {
		t.Fatal(err)
	}
	for i, v := range w {
		if v != float32(i) {
			t.Fatalf("W[%d] = %v after a round trip, want %d", i, v, i)
		}
	}
}
