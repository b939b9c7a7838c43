package optim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/kernels"
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
		// Rates and epsilons that float32 rounds to infinity or zero.
		{Kind: SGD, LR: 1e300},
		{Kind: SGD, LR: 1e-320},
		{Kind: SGD, LR: 1e-40},
		{Kind: Adam, LR: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-50},
		{Kind: Adam, LR: 1, Beta1: 0.9, Beta2: 0.999, Eps: math.Inf(1)},
	}
	for i, c := range bad {
		if c.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	for _, good := range []Config{DefaultAdam(3e-4), {Kind: SGD, LR: 1e38}, {Kind: SGD, LR: 1e-37}} {
		if err := good.Validate(); err != nil {
			t.Errorf("%+v rejected: %v", good, err)
		}
	}
}

func TestStepUsesScheduleAndOwnState(t *testing.T) {
	w := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{0, 0}))
	g := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 1}))
	o, err := New(Config{Kind: SGD, LR: 1, DecaySteps: []int{1}, DecayFactor: 0.5}, []*tensor.Dense{w})
	if err != nil {
		t.Fatal(err)
	}
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

// Shared out by a Gemm's Shards, the updates of large parameters give the
// same bits as on one goroutine, for Adam and SGD with momentum.
func TestStepSplitGivesTheSameBits(t *testing.T) {
	for _, cfg := range []Config{DefaultAdam(1e-3), {Kind: SGD, LR: 0.1, Momentum: 0.9}} {
		rng := rand.New(rand.NewPCG(7, 8))
		shapes := [][]int{{3*splitGrain + 5}, {7, 3}} // one split, one too small to split
		var params [2][]*tensor.Dense
		var grads []*tensor.Dense
		for _, s := range shapes {
			p := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
			g := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
			for i := range p.Float32s() {
				p.Float32s()[i] = float32(rng.NormFloat64())
			}
			params[0] = append(params[0], p)
			params[1] = append(params[1], p.Clone().(*tensor.Dense))
			grads = append(grads, g)
		}
		plain, err := New(cfg, params[0])
		if err != nil {
			t.Fatal(err)
		}
		split, err := New(cfg, params[1])
		if err != nil {
			t.Fatal(err)
		}
		split.SetSplit(&kernels.Gemm{Threads: 2, Cores: kernels.NewCores(2)})
		for step := 0; step < 3; step++ {
			for _, g := range grads {
				for i := range g.Float32s() {
					g.Float32s()[i] = float32(rng.NormFloat64())
				}
			}
			if err := plain.Step(params[0], grads); err != nil {
				t.Fatal(err)
			}
			if err := split.Step(params[1], grads); err != nil {
				t.Fatal(err)
			}
		}
		for k := range params[0] {
			a, b := params[0][k].Float32s(), params[1][k].Float32s()
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("%v: parameter %d element %d: %v split, %v on one goroutine", cfg.Kind, k, i, b[i], a[i])
				}
			}
		}
	}
}

// New refuses a bad config and parameter types it cannot update; Step
// refuses gradients of another type or size than their parameters.
func TestOptimizerRefusals(t *testing.T) {
	w := tensor.New(tensor.WithShape(4), tensor.Of(tensor.Float32))
	if _, err := New(Config{}, []*tensor.Dense{w}); err == nil {
		t.Error("New took a zero Config")
	}
	if _, err := New(DefaultAdam(1e-3), []*tensor.Dense{tensor.New(tensor.WithShape(2), tensor.Of(tensor.Int))}); err == nil {
		t.Error("New took int parameters")
	}
	if _, err := New(DefaultAdam(1e-3), []*tensor.Dense{nil}); err == nil {
		t.Error("New took a nil parameter")
	}
	o, err := New(DefaultAdam(1e-3), []*tensor.Dense{w})
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*tensor.Dense{
		"float64 gradient": tensor.New(tensor.WithShape(4), tensor.Of(tensor.Float64)),
		"short gradient":   tensor.New(tensor.WithShape(2), tensor.Of(tensor.Float32)),
		"nil gradient":     nil,
	} {
		if err := o.Step([]*tensor.Dense{w}, []*tensor.Dense{g}); err == nil || !strings.Contains(err.Error(), "gradient") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if o.Steps() != 0 {
		t.Errorf("refused steps counted: %d", o.Steps())
	}
}

// A zero Gemm, ready to use, shares an update out in one part: the large
// parameter is updated.
func TestStepWithZeroGemm(t *testing.T) {
	w := tensor.New(tensor.WithShape(4*splitGrain), tensor.Of(tensor.Float32))
	g := tensor.New(tensor.WithShape(4*splitGrain), tensor.Of(tensor.Float32))
	for i := range g.Float32s() {
		g.Float32s()[i] = 1
	}
	o, err := New(DefaultAdam(0.1), []*tensor.Dense{w})
	if err != nil {
		t.Fatal(err)
	}
	o.SetSplit(&kernels.Gemm{})
	if err := o.Step([]*tensor.Dense{w}, []*tensor.Dense{g}); err != nil {
		t.Fatal(err)
	}
	if v := w.Float32s(); v[0] >= 0 || v[len(v)-1] >= 0 {
		t.Errorf("weights not updated: %v … %v", v[0], v[len(v)-1])
	}
}
