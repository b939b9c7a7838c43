// Package moduletest holds one implementation of the layers and
// synthesizers to another: each check runs both on the same random inputs,
// through forward, backward and update steps, and compares every output,
// gradient and parameter. Built from the same seed, two implementations
// hold the same parameters, so any difference is theirs.
package moduletest

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/internal/tensortest"
	"github.com/dnitrain/dnitrain/synth"
)

// Layer is a hidden layer, as the engine drives it.
type Layer interface {
	Forward(x *tensor.Dense, train bool) (*tensor.Dense, error)
	Backward(g *tensor.Dense) (*tensor.Dense, error)
	Update() error
	Params() []*graph.Param
	Stats() []*graph.Param
}

// Output is the top layer with its loss.
type Output interface {
	Train(x, labels *tensor.Dense) (loss float64, logits, dx *tensor.Dense, err error)
	Evaluate(x, labels *tensor.Dense) (loss float64, logits *tensor.Dense, err error)
	Update() error
	Params() []*graph.Param
}

// Synthesizer is a synthetic-gradient (or synthetic-input) model.
type Synthesizer interface {
	Predict(h, labels *tensor.Dense) (*tensor.Dense, error)
	Learn(h, labels, target *tensor.Dense) (float64, error)
	Update() error
	Params() []*graph.Param
	Stats() []*graph.Param
}

// Checker compares a module under test with a reference module.
type Checker struct {
	// Tol bounds every difference, relative to the largest magnitude of
	// the reference tensor (or to 1 for losses below 1).
	Tol float64
	// Sync, when not nil, is called with the module under test before its
	// parameters' host tensors are read (a GPU module's are a mirror).
	Sync func(m any) error
	// Align, when not nil, is called with the reference and the module
	// under test before each training step, and sets the parameters of the
	// latter to the former's, so that every step starts from the same
	// state. It suits implementations that round differently (TF32 tensor
	// cores): over updates their parameters drift apart by rounding, and an
	// input near a ReLU's kink then takes different sides of it, passing the
	// upstream gradient on one side only. Each check compares the
	// parameters' values after its last update (and Dense an evaluation
	// pass after it), so that every update is compared once.
	Align func(ref, got any) error
}

// align calls c.Align, if any, on the two modules.
func (c Checker) align(t *testing.T, ref, got any) {
	t.Helper()
	if c.Align == nil {
		return
	}
	if err := c.Align(ref, got); err != nil {
		t.Fatal(err)
	}
}

// sameValues fails t unless the parameters of m, the module under test,
// hold the reference's values within c.Tol (their gradients are not
// compared).
func (c Checker) sameValues(t *testing.T, m any, got, want []*graph.Param) {
	t.Helper()
	if c.Sync != nil {
		if err := c.Sync(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want {
		c.Close(t, want[i].Name+" value after the last update", got[i].Value, want[i].Value)
	}
}

// Close fails t unless got and want are both nil or hold the same values
// within c.Tol.
func (c Checker) Close(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: got nil %v, reference nil %v", what, got == nil, want == nil)
	}
	if got == nil {
		return
	}
	g, w := got.Float32s(), want.Float32s()
	if len(g) != len(w) {
		t.Fatalf("%s: %d elements, reference %d", what, len(g), len(w))
	}
	var scale float64
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); !(d <= c.Tol*math.Max(scale, 1e-3)) { // NaN on either side fails too
			t.Fatalf("%s[%d] = %v, reference %v (largest |reference| %v)", what, i, g[i], w[i], scale)
		}
	}
}

// closeLoss fails t unless the losses agree within c.Tol.
func (c Checker) closeLoss(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > c.Tol*math.Max(1, want) || math.IsNaN(got) {
		t.Fatalf("%s %v, reference %v", what, got, want)
	}
}

// SameParams fails t unless the parameters of m, the module under test,
// and their gradients equal the reference's within c.Tol.
func (c Checker) SameParams(t *testing.T, m any, got, want []*graph.Param) {
	t.Helper()
	if c.Sync != nil {
		if err := c.Sync(m); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d parameters, reference %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name {
			t.Fatalf("parameter %d is %s, reference %s", i, got[i].Name, want[i].Name)
		}
		c.Close(t, want[i].Name+" value", got[i].Value, want[i].Value)
		if want[i].Grad != nil {
			c.Close(t, want[i].Name+" gradient", got[i].Grad, want[i].Grad)
		}
	}
}

// Dense runs three training steps (forward, backward from a random
// upstream gradient, update) and an evaluation forward pass through both
// layers, for batches of the given size, and compares them.
func (c Checker) Dense(t *testing.T, ref, got Layer, batch, in, out int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	for step := 0; step < 3; step++ {
		c.align(t, ref, got)
		x, g := tensortest.Normal(rng, tensor.Float32, batch, in), tensortest.Normal(rng, tensor.Float32, batch, out)
		hr, err := ref.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		hg, err := got.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		c.Close(t, "h", hg, hr)
		dr, err := ref.Backward(g)
		if err != nil {
			t.Fatal(err)
		}
		dg, err := got.Backward(g)
		if err != nil {
			t.Fatal(err)
		}
		c.Close(t, "dx", dg, dr)
		poison(x, g)
		c.SameParams(t, got, got.Params(), ref.Params())
		c.SameParams(t, got, got.Stats(), ref.Stats())
		updateBoth(t, ref, got)
	}
	c.sameValues(t, got, got.Params(), ref.Params())
	x := tensortest.Normal(rng, tensor.Float32, batch+1, in)
	er, err := ref.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	eg, err := got.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(t, "evaluation h", eg, er)
}

// Output runs two training steps, each with an evaluation of the same
// batch, and an update after each, through both top layers on random
// batches and compares them.
func (c Checker) Output(t *testing.T, ref, got Output, batch, in, classes int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	for step := 0; step < 2; step++ {
		c.align(t, ref, got)
		x, y := tensortest.Normal(rng, tensor.Float32, batch, in), tensortest.OneHot(rng, tensor.Float32, batch, classes)
		lr, logitsR, dxR, err := ref.Train(x, y)
		if err != nil {
			t.Fatal(err)
		}
		xe, ye := x.Clone().(*tensor.Dense), y.Clone().(*tensor.Dense)
		lg, logitsG, dxG, err := got.Train(x, y)
		if err != nil {
			t.Fatal(err)
		}
		poison(x, y)
		c.closeLoss(t, "loss", lg, lr)
		c.Close(t, "logits", logitsG, logitsR)
		c.Close(t, "dx", dxG, dxR)
		c.SameParams(t, got, got.Params(), ref.Params())
		le, _, err := got.Evaluate(xe, ye)
		if err != nil || math.Abs(le-lg) > 1e-5*math.Max(1, lg) {
			t.Fatalf("evaluation loss %v (%v), training loss %v", le, err, lg)
		}
		updateBoth(t, ref, got)
	}
	c.sameValues(t, got, got.Params(), ref.Params())
}

// Synthesizer runs four prediction, learning and update steps of both
// synthesizers (configured by cfg) on random batches and compares them.
// Odd steps learn on a copy of h, so that the forward pass of the
// prediction cannot be reused.
func (c Checker) Synthesizer(t *testing.T, ref, got Synthesizer, cfg synth.Config, batch int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(10, 11))
	for step := 0; step < 4; step++ {
		c.align(t, ref, got)
		h, target := tensortest.Normal(rng, tensor.Float32, batch, cfg.In), tensortest.Normal(rng, tensor.Float32, batch, cfg.OutWidth())
		var labels *tensor.Dense
		if cfg.Classes > 0 {
			labels = tensortest.OneHot(rng, tensor.Float32, batch, cfg.Classes)
		}
		pr, err := ref.Predict(h, labels)
		if err != nil {
			t.Fatal(err)
		}
		pg, err := got.Predict(h, labels)
		if err != nil {
			t.Fatal(err)
		}
		c.Close(t, "prediction", pg, pr)
		learnH := h
		if step%2 == 1 {
			learnH = h.Clone().(*tensor.Dense)
		}
		lr, err := ref.Learn(h, labels, target)
		if err != nil {
			t.Fatal(err)
		}
		lg, err := got.Learn(learnH, labels, target)
		if err != nil {
			t.Fatal(err)
		}
		poison(h, learnH, labels, target)
		c.closeLoss(t, "loss", lg, lr)
		c.SameParams(t, got, got.Params(), ref.Params())
		c.SameParams(t, got, got.Stats(), ref.Stats())
		updateBoth(t, ref, got)
	}
	c.sameValues(t, got, got.Params(), ref.Params())
}

// poison fills the tensors given to the module under test with NaN once
// its call has returned: a module that keeps one and reads it again later
// (in its next call, or in work left queued on a device that copies from
// that host memory when it runs) spoils the comparisons that follow. The
// reference is done with them by then. Nil tensors are skipped.
func poison(ts ...*tensor.Dense) {
	for _, t := range ts {
		if t != nil {
			for i := range t.Float32s() {
				t.Float32s()[i] = float32(math.NaN())
			}
		}
	}
}

// updateBoth applies the pending update of the reference and of the module
// under test.
func updateBoth(t *testing.T, ref, got interface{ Update() error }) {
	t.Helper()
	if err := ref.Update(); err != nil {
		t.Fatal(err)
	}
	if err := got.Update(); err != nil {
		t.Fatal(err)
	}
}
