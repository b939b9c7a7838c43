//go:build gpu

package gpu

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/internal/tensortest"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// A layer's update is queued without waiting, on the layer's stream, so
// synthesizer work queued after it on the synthesizer's stream runs at the
// same time, as in a decoupled step, where the synthesizers predict and
// learn while the layers below update. The device timeline shows it: the
// layer is large (16384×16384, an Adam step of about 4 GB of memory
// traffic, a millisecond or so), the synthesizer small, and most of the
// synthesizer's device time falls inside the update. Were the streams
// serialised (one stream, or a wait for the update), the fraction would be
// near zero.
func TestSynthesizerOverlapsUpdate(t *testing.T) {
	tl, err := NewTimelineOn(device)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	o := Options{Device: device, Timeline: tl}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch, width, sgWidth = 64, 16384, 256
	layer, err := NewDense("l", graph.Spec{In: width, Out: width, Act: graph.ReLU}, false, rng, optim.DefaultAdam(1e-3), o)
	if err != nil {
		t.Fatal(err)
	}
	defer layer.Close()
	sg, err := NewSynthesizer("sg", synth.Config{In: sgWidth, Classes: 10, Scale: 1}, rng, optim.DefaultAdam(1e-3), o)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	x, g := tensortest.Normal(rng, tensor.Float32, batch, width), tensortest.Normal(rng, tensor.Float32, batch, width)
	h, target := tensortest.Normal(rng, tensor.Float32, batch, sgWidth), tensortest.Normal(rng, tensor.Float32, batch, sgWidth)
	labels := tensortest.OneHot(rng, tensor.Float32, batch, 10)
	for step := 0; step < 5; step++ {
		if step == 1 { // the first step loads the kernels: not counted
			if err := tl.Reset(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := layer.Forward(x, true); err != nil {
			t.Fatal(err)
		}
		if _, err := layer.Backward(g); err != nil {
			t.Fatal(err)
		}
		// Let the backward pass finish first, so that what runs beside
		// the synthesizer below is the update alone.
		if err := layer.stream.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := layer.Update(); err != nil { // queued, not waited for
			t.Fatal(err)
		}
		if _, err := sg.Predict(h, labels); err != nil {
			t.Fatal(err)
		}
		if _, err := sg.Learn(h, labels, target); err != nil {
			t.Fatal(err)
		}
		if err := sg.Update(); err != nil {
			t.Fatal(err)
		}
	}
	update, synthTime, hidden, err := tl.Overlap()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layer updates %.3f ms, synthesizer %.3f ms, %.0f%% of the synthesizer's time inside updates", update, synthTime, 100*hidden)
	if hidden < 0.8 {
		t.Errorf("only %.0f%% of the synthesizer's device time overlaps the layer's update", 100*hidden)
	}
}
