package fused

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dnitrain/dnitrain/internal/moduletest"
	"github.com/dnitrain/dnitrain/internal/tensortest"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// The fused modules are checked against the Gorgonia graphs of packages
// graph and synth, the reference implementation, on random inputs: both
// are built from the same seed, so they hold the same parameters. They
// agree to float32 rounding.
var check = moduletest.Checker{Tol: 1e-4}

// The cases with batches of 64 rows or more compute them in parts
// (partsOf): two, or three on three threads.
func TestDenseMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, tc := range []struct {
		batch, in, out int
		act            graph.Activation
		bn, inputGrad  bool
		threads        int
	}{
		{1, 1, 1, graph.Identity, false, true, 2},
		{7, 13, 5, graph.ReLU, false, true, 2},
		{33, 17, 40, graph.Tanh, false, false, 2},
		{5, 9, 3, graph.Sigmoid, false, true, 2},
		{16, 20, 31, graph.ReLU, true, true, 2},
		{9, 6, 257, graph.Tanh, true, false, 2},
		{100, 19, 37, graph.ReLU, false, true, 2},
		{100, 21, 35, graph.ReLU, true, true, 2},
		{257, 9, 40, graph.Tanh, true, true, 3},
	} {
		t.Run(fmt.Sprintf("%dx%d->%d_%v_bn=%v_threads=%d", tc.batch, tc.in, tc.out, tc.act, tc.bn, tc.threads), func(t *testing.T) {
			spec := graph.Spec{In: tc.in, Out: tc.out, Act: tc.act, BatchNorm: tc.bn}
			ref, err := graph.NewDense("l", spec, tc.inputGrad, tensor.Float32, rand.New(rand.NewPCG(1, 2)), opt)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := NewDense("l", spec, tc.inputGrad, rand.New(rand.NewPCG(1, 2)), opt, Options{Threads: tc.threads})
			if err != nil {
				t.Fatal(err)
			}
			check.Dense(t, ref, fast, tc.batch, tc.in, tc.out)
		})
	}
}

func TestOutputMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, tc := range []struct{ batch, in, classes, threads int }{{1, 1, 2, 1}, {7, 13, 3, 1}, {64, 33, 10, 1}, {130, 33, 10, 2}} {
		t.Run(fmt.Sprintf("%dx%d->%d_threads=%d", tc.batch, tc.in, tc.classes, tc.threads), func(t *testing.T) {
			ref, err := graph.NewOutput("top", tc.in, tc.classes, true, tensor.Float32, rand.New(rand.NewPCG(5, 6)), opt)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := NewOutput("top", tc.in, tc.classes, true, rand.New(rand.NewPCG(5, 6)), opt, Options{Threads: tc.threads})
			if err != nil {
				t.Fatal(err)
			}
			check.Output(t, ref, fast, tc.batch, tc.in, tc.classes)
		})
	}
}

// synthConfigs are the synthesizers the tests build: linear and deep,
// conditioned or not, with batch norm, and an input model.
var synthConfigs = []synth.Config{
	{In: 5, Scale: 1},
	{In: 6, Classes: 3, Scale: 0.5},
	{In: 7, Classes: 4, Hidden: 2, Width: 9, Scale: 1},
	{In: 4, Hidden: 1, Width: 33, BatchNorm: true, Scale: 2},
	{In: 9, Out: 5, Hidden: 1, Width: 7, Scale: 1, Input: true},
}

// Batches of 12 rows are one part, batches of 96 three parts on three
// threads.
func TestSynthesizerMatchesReference(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, cfg := range synthConfigs {
		for _, run := range []struct{ batch, threads int }{{12, 2}, {96, 3}} {
			t.Run(fmt.Sprintf("%+v_batch=%d", cfg, run.batch), func(t *testing.T) {
				ref, err := synth.New("sg", cfg, tensor.Float32, rand.New(rand.NewPCG(9, 9)), opt)
				if err != nil {
					t.Fatal(err)
				}
				fast, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), opt, Options{Threads: run.threads})
				if err != nil {
					t.Fatal(err)
				}
				check.Synthesizer(t, ref, fast, cfg, run.batch)
			})
		}
	}
}

// LearnDeferred followed by its finish gives what Learn gives, bit for bit,
// even when the caller's tensors change before finish runs.
func TestSynthesizerLearnDeferred(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	for _, cfg := range synthConfigs {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			now, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), opt, Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			later, err := NewSynthesizer("sg", cfg, rand.New(rand.NewPCG(9, 9)), opt, Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			const batch = 11
			for step := 0; step < 4; step++ {
				h, target := tensortest.Normal(rng, tensor.Float32, batch, cfg.In), tensortest.Normal(rng, tensor.Float32, batch, cfg.OutWidth())
				var labels *tensor.Dense
				if cfg.Classes > 0 {
					labels = tensortest.OneHot(rng, tensor.Float32, batch, cfg.Classes)
				}
				for _, s := range []*Synthesizer{now, later} {
					if _, err := s.Predict(h, labels); err != nil {
						t.Fatal(err)
					}
				}
				learnH := h
				if step%2 == 1 { // no forward pass to reuse
					learnH = h.Clone().(*tensor.Dense)
				}
				want, err := now.Learn(learnH, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				if err := now.Update(); err != nil {
					t.Fatal(err)
				}
				got, finish, err := later.LearnDeferred(learnH, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				spoil(h, learnH, labels, target)
				finishOnce(t, finish)
				if err := later.Update(); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("step %d: loss %v, Learn's %v", step, got, want)
				}
			}
			moduletest.Checker{}.SameParams(t, later, later.Params(), now.Params())
		})
	}
}

// BackwardDeferred followed by its finish gives what Backward gives, bit for
// bit, even when the caller's tensors change before finish runs; and so do
// BackwardApart and BackwardApartDeferred, whose δ computed apart is that of
// the weights before the update, even when it is computed after it.
func TestDenseBackwardDeferred(t *testing.T) {
	opt := optim.DefaultAdam(1e-2)
	// Each way runs the backward pass of d from g and returns δ with the
	// weight gradient's finish (nil when done at once); x and g are spoiled
	// and d updated before δ is computed apart.
	ways := []struct {
		name string
		run  func(d *Dense, g *tensor.Dense, dst *InputGradient) (*tensor.Dense, func() error, error)
	}{
		{"deferred", func(d *Dense, g *tensor.Dense, _ *InputGradient) (*tensor.Dense, func() error, error) {
			return d.BackwardDeferred(g)
		}},
		{"apart", func(d *Dense, g *tensor.Dense, dst *InputGradient) (*tensor.Dense, func() error, error) {
			return nil, nil, d.BackwardApart(g, dst)
		}},
		{"apart deferred", func(d *Dense, g *tensor.Dense, dst *InputGradient) (*tensor.Dense, func() error, error) {
			finish, err := d.BackwardApartDeferred(g, dst)
			return nil, finish, err
		}},
	}
	for _, s := range []graph.Spec{
		{In: 5, Out: 7, Act: graph.ReLU},
		{In: 9, Out: 4, Act: graph.Tanh, BatchNorm: true},
	} {
		for _, way := range ways {
			t.Run(fmt.Sprintf("%+v/%s", s, way.name), func(t *testing.T) {
				now, err := NewDense("l", s, true, rand.New(rand.NewPCG(2, 2)), opt, Options{Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				later, err := NewDense("l", s, true, rand.New(rand.NewPCG(2, 2)), opt, Options{Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				// δ left apart at a step is computed after the next step's
				// backward pass and update, as a queued message would be.
				var aparts [2]InputGradient
				var wants [2]*tensor.Dense
				computeApart := func(step int) {
					t.Helper()
					got, err := aparts[step%2].Compute()
					if err != nil {
						t.Fatal(err)
					}
					moduletest.Checker{}.Close(t, fmt.Sprintf("step %d: δ computed apart", step), got, wants[step%2])
				}
				rng := rand.New(rand.NewPCG(5, 6))
				batches := []int{13, 13, 6}
				for step, batch := range batches {
					x, g := tensortest.Normal(rng, tensor.Float32, batch, s.In), tensortest.Normal(rng, tensor.Float32, batch, s.Out)
					for _, d := range []*Dense{now, later} {
						if _, err := d.Forward(x, true); err != nil {
							t.Fatal(err)
						}
					}
					want, err := now.Backward(g)
					if err != nil {
						t.Fatal(err)
					}
					want = want.Clone().(*tensor.Dense)
					got, finish, err := way.run(later, g, &aparts[step%2])
					if err != nil {
						t.Fatal(err)
					}
					spoil(x, g)
					if finish != nil {
						finishOnce(t, finish)
					}
					moduletest.Checker{}.SameParams(t, later, later.Params(), now.Params())
					for _, d := range []*Dense{now, later} {
						if err := d.Update(); err != nil {
							t.Fatal(err)
						}
					}
					switch {
					case got != nil:
						moduletest.Checker{}.Close(t, fmt.Sprintf("step %d: δ", step), got, want)
					case step > 0:
						computeApart(step - 1)
					}
					wants[step%2] = want
				}
				if way.name != "deferred" {
					computeApart(len(batches) - 1)
				}
			})
		}
	}
}

// BackwardApart needs a layer with an input gradient, and Compute a
// backward pass that left one apart.
func TestBackwardApartErrors(t *testing.T) {
	var apart InputGradient
	if _, err := apart.Compute(); err == nil {
		t.Error("Compute before any backward pass succeeded")
	}
	d, err := NewDense("l", graph.Spec{In: 3, Out: 2, Act: graph.ReLU}, false, rand.New(rand.NewPCG(1, 1)), optim.DefaultAdam(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Forward(tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float32)), true); err != nil {
		t.Fatal(err)
	}
	g := tensor.New(tensor.WithShape(4, 2), tensor.Of(tensor.Float32))
	if err := d.BackwardApart(g, &apart); err == nil {
		t.Error("BackwardApart of a layer without an input gradient succeeded")
	}
	if _, err := d.BackwardApartDeferred(g, &apart); err == nil {
		t.Error("BackwardApartDeferred of a layer without an input gradient succeeded")
	}
}

// spoil fills the tensors that are not nil with NaN.
func spoil(ts ...*tensor.Dense) {
	for _, x := range ts {
		if x != nil {
			x.Memset(float32(math.NaN()))
		}
	}
}

// finishOnce runs finish, which must succeed, then again, which must fail.
func finishOnce(t *testing.T, finish func() error) {
	t.Helper()
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if err := finish(); err == nil {
		t.Fatal("a second finish succeeded")
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
	// Nil tensors, and views whose elements are not in row order, are
	// errors too.
	if _, err := d.Forward(nil, true); err == nil {
		t.Error("a nil input accepted")
	}
	if _, err := s.Predict(nil, nil); err == nil {
		t.Error("a nil input accepted by the synthesizer")
	}
	if _, err := s.Learn(nil, nil, tensortest.Normal(rng, tensor.Float32, 2, 2)); err == nil {
		t.Error("a nil input accepted by the synthesizer's Learn")
	}
	x := tensortest.Normal(rng, tensor.Float32, 3, 2)
	if err := x.T(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Forward(x, true); err == nil || !strings.Contains(err.Error(), "Materialize") {
		t.Errorf("a transposed view: %v", err)
	}
	if err := d.BackwardApart(tensortest.Normal(rng, tensor.Float32, 3, 2), nil); err == nil {
		t.Error("BackwardApart without an InputGradient succeeded")
	}
	if _, err := d.Forward(tensortest.Normal(rng, tensor.Float32, 2, 3), true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backward(nil); err == nil {
		t.Error("a nil gradient accepted")
	}
	o, err := NewOutput("out", 3, 4, true, rng, optim.DefaultAdam(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	batch := tensortest.Normal(rng, tensor.Float32, 2, 3)
	if _, _, _, err := o.Train(batch, nil); err == nil {
		t.Error("the output layer trained without labels")
	}
	if _, _, err := o.Evaluate(batch, tensortest.OneHot(rng, tensor.Float32, 3, 4)); err == nil || !strings.Contains(err.Error(), "labels of 3 rows for a batch of 2") {
		t.Errorf("labels of another batch: %v", err)
	}
}

// With TF32 set, a layer's forward pass is the plain layer's on inputs and
// weights rounded to TF32.
func TestDenseTF32(t *testing.T) {
	spec := graph.Spec{In: 50, Out: 30, Act: graph.Identity}
	newDense := func(o Options) *Dense {
		d, err := NewDense("l", spec, false, rand.New(rand.NewPCG(1, 2)), optim.Config{Kind: optim.SGD, LR: 0.1}, o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tf, plain := newDense(Options{TF32: true}), newDense(Options{})
	round := func(v []float32) {
		for i := range v {
			v[i] = kernels.RoundTF32(v[i])
		}
	}
	round(data(plain.W.Value))
	x := tensortest.Normal(rand.New(rand.NewPCG(3, 4)), tensor.Float32, 8, spec.In)
	xr := x.Clone().(*tensor.Dense)
	round(data(xr))
	got, err := tf.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Forward(xr, false)
	if err != nil {
		t.Fatal(err)
	}
	g, w := data(got), data(want)
	for i := range w {
		if g[i] != w[i] {
			t.Fatalf("h[%d] = %v, %v from rounded operands", i, g[i], w[i])
		}
	}
	exact, err := newDense(Options{}).Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	e := data(exact)
	for i := range e {
		if e[i] != g[i] {
			return
		}
	}
	t.Fatal("rounding to TF32 changed nothing")
}
