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

// A layer's update, queued without waiting on the layer's stream, runs
// while the synthesizer predicts and learns on its own stream: the device
// timeline shows most of the synthesizer's time inside the update. The
// layer is large (8192×8192, an Adam step of about a gigabyte of memory
// traffic) so that its update outlasts the synthesizer's calls.
func TestSynthesizerOverlapsUpdate(t *testing.T) {
	tl, err := NewTimelineOn(device)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	o := Options{Device: device, Timeline: tl}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch, width = 256, 8192
	layer, err := NewDense("l", graph.Spec{In: width, Out: width, Act: graph.ReLU}, false, rng, optim.DefaultAdam(1e-3), o)
	if err != nil {
		t.Fatal(err)
	}
	defer layer.Close()
	sg, err := NewSynthesizer("sg", synth.Config{In: width, Classes: 10, Scale: 1}, rng, optim.DefaultAdam(1e-3), o)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	x := tensortest.Normal(rng, tensor.Float32, batch, width)
	labels := tensortest.OneHot(rng, tensor.Float32, batch, 10)
	for step := 0; step < 3; step++ {
		h, err := layer.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		g, err := sg.Predict(h, labels)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := layer.Backward(g); err != nil {
			t.Fatal(err)
		}
		if err := layer.Update(); err != nil { // queued, not waited for
			t.Fatal(err)
		}
		if _, err := sg.Learn(h, labels, g); err != nil {
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
	t.Logf("update %.3f ms, synthesizer %.3f ms, %.0f%% of the synthesizer's time inside updates", update, synthTime, 100*hidden)
	if hidden < 0.5 {
		t.Errorf("only %.0f%% of the synthesizer's device time overlaps the layer's update", 100*hidden)
	}
}
