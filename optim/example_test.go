package optim_test

import (
	"fmt"
	"log"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

// Adam minimising (w − 3)², whose gradient is 2(w − 3). Each optimizer
// keeps the state of its own parameters, so every layer and synthesizer of
// a decoupled network can update on its own.
func ExampleOptimizer_Step() {
	w := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0}))
	g := tensor.New(tensor.WithShape(1), tensor.Of(tensor.Float64))
	opt, err := optim.New(optim.DefaultAdam(0.1), []*tensor.Dense{w})
	if err != nil {
		log.Fatal(err)
	}
	for range 300 {
		g.Float64s()[0] = 2 * (w.Float64s()[0] - 3)
		if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("w = %.3f after %d steps\n", w.Float64s()[0], opt.Steps())
	// Output: w = 3.000 after 300 steps
}

// The paper's step schedule: the learning rate divided by 10 at given
// steps.
func ExampleConfig_RateAt() {
	c := optim.DefaultAdam(1e-3)
	c.DecaySteps = []int{100, 200}
	for _, step := range []int{0, 99, 100, 250} {
		fmt.Printf("step %d: %.3g\n", step, c.RateAt(step))
	}
	// Output:
	// step 0: 0.001
	// step 99: 0.001
	// step 100: 0.0001
	// step 250: 1e-05
}
