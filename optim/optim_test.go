package optim

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

func TestRateAt(t *testing.T) {
	c := DefaultAdam(1)
	c.DecaySteps = []int{10, 20}
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 1}, {9, 1}, {10, 0.1}, {19, 0.1}, {20, 0.01}, {1000, 0.01}} {
		if got := c.RateAt(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("RateAt(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Kind: Adam, LR: 0, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{Kind: Adam, LR: math.NaN(), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{Kind: Adam, LR: 1, Beta1: 1, Beta2: 0.999, Eps: 1e-8},
		{Kind: SGD, LR: 1, Momentum: -1},
		{Kind: "rmsprop", LR: 1},
		{Kind: SGD, LR: 1, DecaySteps: []int{5, 5}, DecayFactor: 0.1},
	}
	for i, c := range bad {
		if c.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	if err := DefaultAdam(3e-4).Validate(); err != nil {
		t.Errorf("default rejected: %v", err)
	}
}

func TestStepUsesScheduleAndOwnState(t *testing.T) {
	w := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{0, 0}))
	g := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 1}))
	o := New(Config{Kind: SGD, LR: 1, DecaySteps: []int{1}, DecayFactor: 0.5}, []*tensor.Dense{w})
	for i := 0; i < 2; i++ {
		if err := o.Step([]*tensor.Dense{w}, []*tensor.Dense{g}); err != nil {
			t.Fatal(err)
		}
	}
	// Step 0 at lr 1, step 1 at lr 0.5, no momentum: w = -1.5.
	if got := w.Data().([]float64)[0]; got != -1.5 {
		t.Errorf("w = %v, want -1.5", got)
	}
	if o.Steps() != 2 {
		t.Errorf("Steps = %d", o.Steps())
	}
}
