package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/internal/tensortest"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

func TestFirstPredictionIsZero(t *testing.T) {
	for _, cfg := range []Config{
		{In: 5, Scale: 1},
		{In: 5, Classes: 3, Scale: 1},
		{In: 4, Hidden: 2, Width: 8, Scale: 2},
	} {
		rng := rand.New(rand.NewPCG(1, 1))
		s, err := New("sg", cfg, tensor.Float64, rng, optim.DefaultAdam(1e-3))
		if err != nil {
			t.Fatal(err)
		}
		var labels *tensor.Dense
		if cfg.Classes > 0 {
			labels = tensortest.OneHot(rng, tensor.Float64, 6, cfg.Classes)
		}
		g, err := s.Predict(tensortest.Normal(rng, tensor.Float64, 6, cfg.In), labels)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range g.Data().([]float64) {
			if v != 0 {
				t.Fatalf("%+v: ĝ[%d] = %v, want exactly 0", cfg, i, v)
			}
		}
	}
}

func TestLearnGradientMatchesFiniteDifferences(t *testing.T) {
	for _, cfg := range []Config{
		{In: 3, Scale: 1},
		{In: 4, Classes: 3, Scale: 0.5},
		{In: 3, Classes: 2, Hidden: 2, Width: 5, Scale: 1},
		{In: 2, Hidden: 1, Width: 7, BatchNorm: true, Scale: 3},
		{In: 5, Out: 3, Hidden: 1, Width: 4, Scale: 1, Input: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(cfg.In)))
			s, err := New("sg", cfg, tensor.Float64, rng, optim.DefaultAdam(1e-3))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range s.Params() { // leave the zero start behind
				for i := range p.Value.Data().([]float64) {
					p.Value.Data().([]float64)[i] += 0.5 * rng.NormFloat64()
				}
			}
			const batch = 5
			h, target := tensortest.Normal(rng, tensor.Float64, batch, cfg.In), tensortest.Normal(rng, tensor.Float64, batch, cfg.OutWidth())
			var labels *tensor.Dense
			if cfg.Classes > 0 {
				labels = tensortest.OneHot(rng, tensor.Float64, batch, cfg.Classes)
			}
			loss := func() float64 {
				l, err := s.Learn(h, labels, target)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			// The loss is LossWeight·Σ‖pred−target‖²: check it against Predict.
			l := loss()
			pred, err := s.Predict(h, labels)
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			for i, v := range pred.Data().([]float64) {
				d := v - target.Data().([]float64)[i]
				want += d * d
			}
			if want *= cfg.LossWeight(batch); math.Abs(l-want) > 1e-9*math.Max(1, want) {
				t.Fatalf("loss %v, want %v", l, want)
			}
			loss()
			analytic := map[string][]float64{} // copied now: every loss() below overwrites Grad
			for _, p := range s.Params() {
				analytic[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
			}
			for _, p := range s.Params() {
				want := analytic[p.Name]
				xs := p.Value.Data().([]float64)
				for i := range xs {
					orig := xs[i]
					xs[i] = orig + 1e-6
					up := loss()
					xs[i] = orig - 1e-6
					down := loss()
					xs[i] = orig
					if n := (up - down) / 2e-6; math.Abs(n-want[i]) > 1e-5*math.Max(1, math.Abs(n)) {
						t.Errorf("%s[%d]: analytic %.9g, finite differences %.9g", p.Name, i, want[i], n)
					}
				}
			}
		})
	}
}

func TestRegressionLowersLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s, err := New("sg", Config{In: 4, Classes: 2, Scale: 1}, tensor.Float32, rng, optim.DefaultAdam(1e-2))
	if err != nil {
		t.Fatal(err)
	}
	h := tensor.New(tensor.WithShape(8, 4), tensor.Of(tensor.Float32))
	target := tensor.New(tensor.WithShape(8, 4), tensor.Of(tensor.Float32))
	labels := tensor.New(tensor.WithShape(8, 2), tensor.Of(tensor.Float32))
	for i := range h.Data().([]float32) {
		h.Data().([]float32)[i] = float32(rng.NormFloat64())
		target.Data().([]float32)[i] = 0.3 * h.Data().([]float32)[i] / 8 // batch-mean gradient: per sample 0.3·h
	}
	for r := 0; r < 8; r++ {
		labels.Data().([]float32)[r*2+r%2] = 1
	}
	first, last := 0.0, 0.0
	for step := 0; step < 200; step++ {
		l, err := s.Learn(h, labels, target)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = l
		}
		last = l
		if err := s.Update(); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < 0.05*first) {
		t.Errorf("loss went from %v to %v, want a 20× drop", first, last)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{In: 0, Scale: 1}, {In: 3, Hidden: 1, Width: 0, Scale: 1}, {In: 3, Scale: 0}, {In: 3, Hidden: -1, Scale: 1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New("sg", Config{In: 3, Classes: 2, Scale: 1}, tensor.Float64, rand.New(rand.NewPCG(1, 1)), optim.DefaultAdam(1)); err != nil {
		t.Fatal(err)
	}
}

// Nil tensors are errors, not panics.
func TestNilInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	s, err := New("sg", Config{In: 5, Classes: 3, Scale: 1}, tensor.Float64, rng, optim.DefaultAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	h, labels := tensortest.Normal(rng, tensor.Float64, 6, 5), tensortest.OneHot(rng, tensor.Float64, 6, 3)
	if _, err := s.Predict(nil, labels); err == nil {
		t.Error("Predict(nil) succeeded")
	}
	if _, err := s.Predict(h, nil); err == nil {
		t.Error("a conditioned synthesizer predicted without labels")
	}
	if _, err := s.Learn(h, labels, nil); err == nil {
		t.Error("Learn without a target succeeded")
	}
}
