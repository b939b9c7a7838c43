package fused

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/internal/tensortest"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// The fused modules are checked against the Gorgonia graphs of packages
// graph and synth, the reference implementation, on random inputs: both
// are built from the same seed, so they hold the same parameters.

func requireClose(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: got %v, reference %v", what, got == nil, want == nil)
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
		if d := math.Abs(float64(g[i] - w[i])); d > 1e-4*math.Max(scale, 1e-3) || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s[%d] = %v, reference %v (largest |reference| %v)", what, i, g[i], w[i], scale)
		}
	}
}

func requireSameParams(t *testing.T, got, want []*graph.Param) {
	t.Helper()
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

func TestDenseMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
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
		{9, 6, 257, graph.Tanh, true, false},
	} {
		t.Run(fmt.Sprintf("%dx%d->%d_%v_bn=%v", tc.batch, tc.in, tc.out, tc.act, tc.bn), func(t *testing.T) {
			spec := graph.Spec{In: tc.in, Out: tc.out, Act: tc.act, BatchNorm: tc.bn}
			ref, err := graph.NewDense("l", spec, tc.inputGrad, tensor.Float32, rand.New(rand.NewPCG(1, 2)), opt)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), opt, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for step := 0; step < 3; step++ { // forward, backward, update, again
				x, g := tensortest.Normal(rng, tensor.Float32, tc.batch, tc.in), tensortest.Normal(rng, tensor.Float32, tc.batch, tc.out)
				hr, err := ref.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				hf, err := fast.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "h", hf, hr)
				dr, err := ref.Backward(g)
				if err != nil {
					t.Fatal(err)
				}
				df, err := fast.Backward(g)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "dx", df, dr)
				requireSameParams(t, fast.Params(), ref.Params())
				requireSameParams(t, fast.Stats(), ref.Stats())
				if err := ref.Update(); err != nil {
					t.Fatal(err)
				}
				if err := fast.Update(); err != nil {
					t.Fatal(err)
				}
			}
			x := tensortest.Normal(rng, tensor.Float32, tc.batch+1, tc.in)
			er, _ := ref.Forward(x, false)
			ef, err := fast.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			requireClose(t, "evaluation h", ef, er)
		})
	}
}

func TestOutputMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, tc := range []struct{ batch, in, classes int }{{1, 1, 2}, {7, 13, 3}, {64, 33, 10}} {
		t.Run(fmt.Sprintf("%dx%d->%d", tc.batch, tc.in, tc.classes), func(t *testing.T) {
			ref, err := graph.NewOutput("top", tc.in, tc.classes, true, tensor.Float32, rand.New(rand.NewPCG(5, 6)), opt)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), opt, Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			x, y := tensortest.Normal(rng, tensor.Float32, tc.batch, tc.in), tensortest.OneHot(rng, tensor.Float32, tc.batch, tc.classes)
			lr, logitsR, dxR, err := ref.Train(x, y)
			if err != nil {
				t.Fatal(err)
			}
			lf, logitsF, dxF, err := fast.Train(x, y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(lr-lf) > 1e-5*math.Max(1, lr) {
				t.Fatalf("loss %v, reference %v", lf, lr)
			}
			requireClose(t, "logits", logitsF, logitsR)
			requireClose(t, "dx", dxF, dxR)
			requireSameParams(t, fast.Params(), ref.Params())
			le, _, err := fast.Evaluate(x, y)
			if err != nil || math.Abs(le-lf) > 1e-6*math.Max(1, lf) {
				t.Fatalf("evaluation loss %v (%v), training loss %v", le, err, lf)
			}
		})
	}
}

func TestSynthesizerMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, cfg := range []synth.Config{
		{In: 5, Scale: 1},
		{In: 6, Classes: 3, Scale: 0.5},
		{In: 7, Classes: 4, Hidden: 2, Width: 9, Scale: 1},
		{In: 4, Hidden: 1, Width: 33, BatchNorm: true, Scale: 2},
		{In: 9, Out: 5, Hidden: 1, Width: 7, Scale: 1, Input: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			ref, err := synth.New("sg", cfg, tensor.Float32, rand.New(rand.NewPCG(9, 9)), opt)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), opt, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(10, 11))
			const batch = 12
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
				pf, err := fast.Predict(h, labels)
				if err != nil {
					t.Fatal(err)
				}
				requireClose(t, "prediction", pf, pr)
				// Odd steps learn on a copy of h: no forward pass to reuse.
				learnH := h
				if step%2 == 1 {
					learnH = h.Clone().(*tensor.Dense)
				}
				lr, err := ref.Learn(h, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				lf, err := fast.Learn(learnH, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(lr-lf) > 1e-4*math.Max(1, lr) {
					t.Fatalf("step %d: loss %v, reference %v", step, lf, lr)
				}
				requireSameParams(t, fast.Params(), ref.Params())
				if err := ref.Update(); err != nil {
					t.Fatal(err)
				}
				if err := fast.Update(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestShapeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d, err := NewDense("l", graph.Spec{In: 3, Out: 2, Act: graph.ReLU}, true, rng, optim.DefaultAdam(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backward(tensortest.Normal(rng, tensor.Float32, 2, 2)); err == nil {
		t.Error("backward before forward accepted")
	}
	if _, err := d.Forward(tensortest.Normal(rng, tensor.Float32, 2, 4), true); err == nil {
		t.Error("4 columns accepted by a 3-input layer")
	}
	if _, err := d.Forward(tensortest.Normal(rng, tensor.Float32, 2, 3), true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backward(tensortest.Normal(rng, tensor.Float32, 3, 2)); err == nil {
		t.Error("a 3-row gradient accepted for a 2-row batch")
	}
	s, err := NewSynthesizer("sg", synth.Config{In: 2, Classes: 3, Scale: 1}, rng, optim.DefaultAdam(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Predict(tensortest.Normal(rng, tensor.Float32, 2, 2), nil); err == nil {
		t.Error("a conditioned synthesizer ran without labels")
	}
}
