package synth_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// A cDNI synthesizer for a layer of 4 units and 3 classes: it predicts ĝ
// from h and the one-hot label, starts at exactly zero, and learns by L2
// regression onto the target δ that the layer above sends back.
func ExampleSynthesizer() {
	cfg := synth.Config{In: 4, Classes: 3, Scale: 1}
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := synth.New("synth0", cfg, tensor.Float64, rng, optim.DefaultAdam(1e-2))
	if err != nil {
		log.Fatal(err)
	}
	h := tensor.New(tensor.WithShape(2, 4), tensor.WithBacking([]float64{1, 0, -1, 2, 0.5, 1, 0, -1}))
	labels := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 0, 0, 0, 0, 1}))
	delta := tensor.New(tensor.WithShape(2, 4), tensor.WithBacking([]float64{0.1, -0.2, 0, 0.3, -0.1, 0, 0.2, 0}))

	g, err := m.Predict(h, labels)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first prediction:", g.Data())

	var first, last float64
	for step := range 200 {
		loss, err := m.Learn(h, labels, delta)
		if err != nil {
			log.Fatal(err)
		}
		if err := m.Update(); err != nil {
			log.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
	}
	// The loss is B·Σ‖ĝ − δ‖², B the batch size: at first 2·Σδ² = 0.38.
	fmt.Printf("L2 loss %.4f at the first step, under a hundredth of it after 200: %v\n", first, last < first/100)
	// Output:
	// first prediction: [0 0 0 0 0 0 0 0]
	// L2 loss 0.3800 at the first step, under a hundredth of it after 200: true
}
