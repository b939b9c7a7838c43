package fused

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/internal/moduletest"
	"github.com/dnitrain/dnitrain/internal/tensortest"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// The fused modules are checked against the Gorgonia graphs of packages
// graph and synth, the reference implementation, on random inputs: both
// are built from the same seed, so they hold the same parameters. They
// agree to float32 rounding.
var check = moduletest.Checker{Tol: 1e-4}

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
			check.Dense(t, ref, fast, tc.batch, tc.in, tc.out)
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
			check.Output(t, ref, fast, tc.batch, tc.in, tc.classes)
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
			check.Synthesizer(t, ref, fast, cfg, 12)
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
