//go:build gpu

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/internal/tensortest"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// The GPU modules are checked against the fused CPU modules, built from
// the same seed, on random inputs. The GEMMs run on TF32 tensor cores
// (10-bit mantissas, relative rounding 2⁻¹¹ per input), so results agree to
// about 1e-3 of their scale rather than float32's 1e-6; the optimizer is
// SGD, whose updates are linear in the gradients, so that parameters after
// a few updates stay as close as the gradients are (Adam divides by √v and
// magnifies differences in near-zero gradients).

var device *cuda.Device

func TestMain(m *testing.M) {
	var err error
	if device, err = cuda.Open(0); err != nil {
		fmt.Fprintln(os.Stderr, "gpu tests need CUDA device 0:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// tf32Tol is the tolerance of a TF32 result relative to the largest
// magnitude of the reference.
const tf32Tol = 5e-3

func requireClose(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: got nil %v, reference nil %v", what, got == nil, want == nil)
	}
	if got == nil {
		return
	}
	g, w := data(got), data(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d elements, reference %d", what, len(g), len(w))
	}
	var scale float64
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > tf32Tol*math.Max(scale, 1e-3) || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s[%d] = %v, reference %v (largest |reference| %v)", what, i, g[i], w[i], scale)
		}
	}
}

// requireSameParams syncs the GPU module's state to the host and compares
// its parameters and gradients with the reference's.
func requireSameParams(t *testing.T, m interface{ SyncHost() error }, got, want []*graph.Param) {
	t.Helper()
	if err := m.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d parameters, reference %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name {
			t.Fatalf("parameter %d is %s, reference %s", i, got[i].Name, want[i].Name)
		}
		requireClose(t, want[i].Name+" value", got[i].Value, want[i].Value)
		if want[i].Grad != nil {
			requireClose(t, want[i].Name+" gradient", got[i].Grad, want[i].Grad)
		}
	}
}

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
			ref, err := fused.NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), sgd, fused.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			rng := rand.New(rand.NewPCG(3, 4))
			for step := 0; step < 3; step++ { // forward, backward, update, again
				x, g := tensortest.Normal(rng, tensor.Float32, tc.batch, tc.in), tensortest.Normal(rng, tensor.Float32, tc.batch, tc.out)
				hr, err := ref.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				hd, err := dev.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "h", hd, hr)
				dr, err := ref.Backward(g)
				if err != nil {
					t.Fatal(err)
				}
				dd, err := dev.Backward(g)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "dx", dd, dr)
				requireSameParams(t, dev, dev.Params(), ref.Params())
				requireSameParams(t, dev, dev.Stats(), ref.Stats())
				if err := ref.Update(); err != nil {
					t.Fatal(err)
				}
				if err := dev.Update(); err != nil {
					t.Fatal(err)
				}
			}
			x := tensortest.Normal(rng, tensor.Float32, tc.batch+1, tc.in)
			er, _ := ref.Forward(x, false)
			ed, err := dev.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			requireClose(t, "evaluation h", ed, er)
		})
	}
}

func TestOutputMatchesCPU(t *testing.T) {
	for _, tc := range []struct{ batch, in, classes int }{{1, 1, 2}, {7, 13, 3}, {256, 256, 10}} {
		t.Run(fmt.Sprintf("%dx%d->%d", tc.batch, tc.in, tc.classes), func(t *testing.T) {
			ref, err := fused.NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), sgd, fused.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			rng := rand.New(rand.NewPCG(7, 8))
			x, y := tensortest.Normal(rng, tensor.Float32, tc.batch, tc.in), tensortest.OneHot(rng, tensor.Float32, tc.batch, tc.classes)
			lr, logitsR, dxR, err := ref.Train(x, y)
			if err != nil {
				t.Fatal(err)
			}
			ld, logitsD, dxD, err := dev.Train(x, y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(lr-ld) > tf32Tol*math.Max(1, lr) {
				t.Fatalf("loss %v, reference %v", ld, lr)
			}
			requireClose(t, "logits", logitsD, logitsR)
			requireClose(t, "dx", dxD, dxR)
			requireSameParams(t, dev, dev.Params(), ref.Params())
			le, _, err := dev.Evaluate(x, y)
			if err != nil || math.Abs(le-ld) > 1e-5*math.Max(1, ld) {
				t.Fatalf("evaluation loss %v (%v), training loss %v", le, err, ld)
			}
		})
	}
}

func TestSynthesizerMatchesCPU(t *testing.T) {
	for _, cfg := range []synth.Config{
		{In: 5, Scale: 1},
		{In: 256, Classes: 10, Scale: 1},
		{In: 7, Classes: 4, Hidden: 2, Width: 9, Scale: 1},
		{In: 256, Hidden: 2, Width: 1024, BatchNorm: true, Scale: 1},
		{In: 9, Out: 5, Hidden: 1, Width: 7, Scale: 1, Input: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			ref, err := fused.NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), sgd, fused.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), sgd, Options{Device: device})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			rng := rand.New(rand.NewPCG(10, 11))
			const batch = 64
			for step := 0; step < 4; step++ {
				h, target := tensortest.Normal(rng, tensor.Float32, batch, cfg.In), tensortest.Normal(rng, tensor.Float32, batch, cfg.OutWidth())
				var labels *tensor.Dense
				if cfg.Classes > 0 {
					labels = tensortest.OneHot(rng, tensor.Float32, batch, cfg.Classes)
				}
				pr, err := ref.Predict(h, labels)
				if err != nil {
					t.Fatal(err)
				}
				pd, err := dev.Predict(h, labels)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "prediction", pd, pr)
				// Odd steps learn on a copy of h: no forward pass to reuse.
				learnH := h
				if step%2 == 1 {
					learnH = h.Clone().(*tensor.Dense)
				}
				lr, err := ref.Learn(h, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				ld, err := dev.Learn(learnH, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(lr-ld) > tf32Tol*math.Max(1, lr) {
					t.Fatalf("step %d: loss %v, reference %v", step, ld, lr)
				}
				requireSameParams(t, dev, dev.Params(), ref.Params())
				if err := ref.Update(); err != nil {
					t.Fatal(err)
				}
				if err := dev.Update(); err != nil {
					t.Fatal(err)
				}
			}
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
