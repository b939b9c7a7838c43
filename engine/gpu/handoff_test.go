//go:build gpu

package gpu

import (
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/internal/tensortest"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/synth"
)

// TestHandoff runs a small network's modules on a shared Handoff: each
// module given another's output copies it on the device, with the results
// that the host copy's upload gives, bit for bit; after a synthesizer's
// refitted forward pass has overwritten its prediction's buffer, its last
// prediction is uploaded again; and a closed module's outputs are no
// longer offered.
func TestHandoff(t *testing.T) {
	h := NewHandoff()
	o := Options{Device: device, Handoff: h}
	l1, err := NewDense("l1", graph.Spec{In: 20, Out: 16, Act: graph.ReLU}, false, rand.New(rand.NewPCG(1, 1)), sgd, o)
	if err != nil {
		t.Fatal(err)
	}
	closed := false // l1 is closed at the end
	defer func() {
		if !closed {
			l1.Close()
		}
	}()
	l2, err := NewDense("l2", graph.Spec{In: 16, Out: 12, Act: graph.Tanh}, true, rand.New(rand.NewPCG(2, 2)), sgd, o)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	top, err := NewOutput("top", 12, 3, true, rand.New(rand.NewPCG(3, 3)), sgd, o)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	m, err := NewSynthesizer("m", synth.Config{In: 12, Scale: 1}, rand.New(rand.NewPCG(4, 4)), sgd, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	rng := rand.New(rand.NewPCG(5, 5))
	const rows = 8
	x, labels := tensortest.Normal(rng, tensor.Float32, rows, 20), tensortest.OneHot(rng, tensor.Float32, rows, 3)
	// call runs f, which hands one module's output to another, and checks
	// that it copied copies inputs on the device.
	call := func(what string, copies int64, f func() error) {
		t.Helper()
		before := h.Copies()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := h.Copies() - before; got != copies {
			t.Fatalf("%s: %d inputs copied on the device, want %d", what, got, copies)
		}
	}
	// same fails unless got and want hold the same bits.
	same := func(what string, got, want []float32) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s differs between the device copy and the upload", what)
		}
	}

	var h1, h2, h2Up *tensor.Dense
	call("l1.Forward(x)", 0, func() (err error) { h1, err = l1.Forward(x, true); return })
	call("l2.Forward(h1)", 1, func() (err error) { h2, err = l2.Forward(h1, true); return })
	got := slices.Clone(data(h2))
	call("l2.Forward(copy of h1)", 0, func() (err error) { h2Up, err = l2.Forward(plain(h1), true); return })
	same("h2", got, data(h2Up))

	var loss, lossUp float64
	var logits, dx *tensor.Dense
	call("top.Train(h2)", 1, func() (err error) { loss, logits, dx, err = top.Train(h2, labels); return })
	gotLogits, gotDx := slices.Clone(data(logits)), slices.Clone(data(dx))
	call("top.Train(copy of h2)", 0, func() (err error) { lossUp, logits, dx, err = top.Train(plain(h2), labels); return })
	if loss != lossUp {
		t.Fatalf("loss %v from the device copy, %v from the upload", loss, lossUp)
	}
	same("logits", gotLogits, data(logits))
	same("∂L/∂h2", gotDx, data(dx))

	// M learns once, so that its prediction is not zero, and predicts.
	call("m.Learn(h2, ∂L/∂h2)", 2, func() error { _, err := m.Learn(h2, nil, dx); return err })
	if err := m.Update(); err != nil {
		t.Fatal(err)
	}
	var gHat, delta *tensor.Dense
	call("m.Predict(h2)", 1, func() (err error) { gHat, err = m.Predict(h2, nil); return })
	gHatHost := plain(gHat)
	call("l2.Backward(ĝ)", 1, func() (err error) { delta, err = l2.Backward(gHat); return })
	gotDelta := slices.Clone(data(delta))
	call("l2.Backward(copy of ĝ)", 0, func() (err error) { delta, err = l2.Backward(gHatHost); return })
	same("δ", gotDelta, data(delta))

	// A refit on another input overwrites the prediction's buffer on the
	// device, not its host copy: ĝ must come from the host again.
	twice := plain(h2)
	for i := range data(twice) {
		data(twice)[i] *= 2
	}
	call("m.Learn(2·h2, ∂L/∂h2)", 1, func() error { _, err := m.Learn(twice, nil, dx); return err })
	call("l2.Backward(ĝ) after the refit", 0, func() (err error) { delta, err = l2.Backward(gHat); return })
	same("δ after the refit", gotDelta, data(delta))

	closed = true
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.source(data(h1)); ok {
		t.Error("a closed layer's output is still offered")
	}
	if _, ok := h.source(data(h2)); !ok {
		t.Error("an open layer's output is no longer offered")
	}
}

// plain returns a copy of t in ordinary memory, which no module offered.
func plain(t *tensor.Dense) *tensor.Dense {
	return tensor.New(tensor.WithShape(t.Shape()...), tensor.WithBacking(slices.Clone(data(t))))
}

// TestLatePasses hands the outputs of late passes on while their producers
// are still computing them (a large product queued ahead on the producer's
// stream) and on a new batch, so that a copy that did not wait for its
// producer would read the last batch's values: the results are those of
// passes that wait, bit for bit.
func TestLatePasses(t *testing.T) {
	o := Options{Device: device, Handoff: NewHandoff()}
	var modules []interface{ Close() error }
	defer func() {
		for _, m := range modules {
			m.Close()
		}
	}()
	must := func(m interface{ Close() error }, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		modules = append(modules, m)
	}
	l1, err := NewDense("l1", graph.Spec{In: 20, Out: 16, Act: graph.ReLU}, false, rand.New(rand.NewPCG(1, 1)), sgd, o)
	must(l1, err)
	l2, err := NewDense("l2", graph.Spec{In: 16, Out: 12, Act: graph.Tanh}, true, rand.New(rand.NewPCG(2, 2)), sgd, o)
	must(l2, err)
	top, err := NewOutput("top", 12, 3, true, rand.New(rand.NewPCG(3, 3)), sgd, o)
	must(top, err)
	var twins [2]*Synthesizer // M_1, learning from l2's δ
	for k := range twins {
		twins[k], err = NewSynthesizer("m1", synth.Config{In: 16, Scale: 1}, rand.New(rand.NewPCG(4, 4)), sgd, o)
		must(twins[k], err)
	}
	const n = 4096 // a product of n³ keeps a stream busy for about a millisecond
	var big [3]cuda.Buffer
	for k := range big {
		if big[k], err = device.Alloc(n * n); err != nil {
			t.Fatal(err)
		}
		defer device.Free(big[k])
	}
	busy := func(s *state) {
		t.Helper()
		if err := s.stream.Gemm(big[2], big[0], big[1], cuda.Buffer{}, n, n, n, n, n, n, false, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const rows = 8
	x, next := tensortest.Normal(rng, tensor.Float32, rows, 20), tensortest.Normal(rng, tensor.Float32, rows, 20)
	labels := tensortest.OneHot(rng, tensor.Float32, rows, 3)

	// The waiting passes on the new batch: what the late ones must give.
	h1, err := l1.Forward(next, true)
	check("l1.Forward", err)
	h2, err := l2.Forward(h1, true)
	check("l2.Forward", err)
	wantH1, wantH2 := slices.Clone(data(h1)), slices.Clone(data(h2))
	wantLoss, logits, dx, err := top.Train(h2, labels)
	check("top.Train", err)
	wantLogits := slices.Clone(data(logits))
	delta, err := l2.Backward(dx)
	check("l2.Backward", err)
	wantDelta := slices.Clone(data(delta))
	wantM, err := twins[0].Learn(plain(h1), nil, plain(delta))
	check("M_1.Learn", err)

	// The last batch's values in every buffer.
	h1, err = l1.Forward(x, true)
	check("l1.Forward", err)
	h2, err = l2.Forward(h1, true)
	check("l2.Forward", err)
	_, _, dx, err = top.Train(h2, labels)
	check("top.Train", err)
	_, err = l2.Backward(dx)
	check("l2.Backward", err)

	// The late passes on the new batch, their producers kept busy.
	busy(l1.state)
	h1, wait1, err := l1.ForwardLate(next, true)
	check("l1.ForwardLate", err)
	h2, wait2, err := l2.ForwardLate(h1, true)
	check("l2.ForwardLate", err)
	loss, logits, dx, err := top.Train(h2, labels)
	check("top.Train after late passes", err)
	busy(l2.state)
	delta, wait3, err := l2.BackwardLate(dx)
	check("l2.BackwardLate", err)
	waitM, err := twins[1].LearnLate(h1, nil, delta)
	check("M_1.LearnLate", err)
	gotM, err := waitM()
	check("M_1's late loss", err)
	for _, wait := range []func() error{wait1, wait2, wait3} {
		check("wait", wait())
	}
	if loss != wantLoss || gotM != wantM {
		t.Fatalf("losses %v and %v after late passes, %v and %v after waiting ones", loss, gotM, wantLoss, wantM)
	}
	for _, c := range []struct {
		what      string
		got, want []float32
	}{{"h1", data(h1), wantH1}, {"h2", data(h2), wantH2}, {"logits", data(logits), wantLogits}, {"δ", data(delta), wantDelta}} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s of the late passes differs from the waiting passes'", c.what)
		}
	}
	if got := o.Handoff.Copies(); got < 5 {
		t.Errorf("%d inputs copied on the device, want at least 5", got)
	}
}
