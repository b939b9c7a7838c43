package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/internal/tensortest"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

// checkGradient compares analytic with central finite differences of loss
// with respect to every element of xs (or a sample of at most 40 of them).
func checkGradient(t *testing.T, what string, xs, analytic []float64, loss func() float64) {
	t.Helper()
	const h = 1e-6
	step := max(1, len(xs)/40)
	for i := 0; i < len(xs); i += step {
		orig := xs[i]
		xs[i] = orig + h
		up := loss()
		xs[i] = orig - h
		down := loss()
		xs[i] = orig
		numeric := (up - down) / (2 * h)
		if d := math.Abs(numeric - analytic[i]); d > 1e-5*math.Max(1, math.Abs(numeric)) {
			t.Errorf("%s[%d]: analytic %.9g, finite differences %.9g", what, i, analytic[i], numeric)
		}
	}
}

func TestDenseBackwardMatchesFiniteDifferences(t *testing.T) {
	cases := []struct {
		batch, in, out int
		act            Activation
		bn             bool
	}{
		{1, 1, 1, Identity, false},
		{3, 7, 5, ReLU, false},
		{5, 4, 9, Tanh, false},
		{7, 3, 2, Sigmoid, false},
		{6, 5, 3, ReLU, true},
		{4, 2, 7, Tanh, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%dx%d->%d_%v_bn=%v", tc.batch, tc.in, tc.out, tc.act, tc.bn)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.in*100+tc.out)))
			d, err := NewDense("l", Spec{In: tc.in, Out: tc.out, Act: tc.act, BatchNorm: tc.bn}, true, tensor.Float64, rng, optim.DefaultAdam(1e-3))
			if err != nil {
				t.Fatal(err)
			}
			if tc.bn { // move γ and β away from their initial 1 and 0
				initUniform(d.Gamma.Value, rng, 2)
				initUniform(d.Beta.Value, rng, 1)
			}
			x := tensortest.Normal(rng, tensor.Float64, tc.batch, tc.in)
			upstream := tensortest.Normal(rng, tensor.Float64, tc.batch, tc.out)
			// L = Σ h ⊙ upstream, so ∂L/∂h = upstream.
			loss := func() float64 {
				h, err := d.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				var s float64
				for i, v := range h.Data().([]float64) {
					s += v * upstream.Data().([]float64)[i]
				}
				return s
			}
			loss()
			dx, err := d.Backward(upstream)
			if err != nil {
				t.Fatal(err)
			}
			dxs := append([]float64(nil), dx.Data().([]float64)...)
			grads := map[string][]float64{}
			for _, p := range d.Params() {
				grads[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
			}
			checkGradient(t, "dx", x.Data().([]float64), dxs, loss)
			for _, p := range d.Params() {
				checkGradient(t, p.Name, p.Value.Data().([]float64), grads[p.Name], loss)
			}
		})
	}
}

func TestOutputBackwardMatchesFiniteDifferences(t *testing.T) {
	for _, tc := range []struct{ batch, in, classes int }{{1, 1, 2}, {5, 7, 3}, {9, 4, 10}} {
		t.Run(fmt.Sprintf("%dx%d->%d", tc.batch, tc.in, tc.classes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(tc.in)))
			o, err := NewOutput("out", tc.in, tc.classes, true, tensor.Float64, rng, optim.DefaultAdam(1e-3))
			if err != nil {
				t.Fatal(err)
			}
			x := tensortest.Normal(rng, tensor.Float64, tc.batch, tc.in)
			y := tensortest.OneHot(rng, tensor.Float64, tc.batch, tc.classes)
			lossTrain, _, dx, err := o.Train(x, y)
			if err != nil {
				t.Fatal(err)
			}
			dxs := append([]float64(nil), dx.Data().([]float64)...)
			grads := map[string][]float64{}
			for _, p := range o.Params() {
				grads[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
			}
			loss := func() float64 {
				l, _, err := o.Evaluate(x, y)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			if l := loss(); math.Abs(l-lossTrain) > 1e-12 {
				t.Fatalf("Evaluate loss %v differs from Train loss %v", l, lossTrain)
			}
			checkGradient(t, "dx", x.Data().([]float64), dxs, loss)
			for _, p := range o.Params() {
				checkGradient(t, p.Name, p.Value.Data().([]float64), grads[p.Name], loss)
			}
		})
	}
}

func TestCrossEntropyValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	o, err := NewOutput("out", 2, 3, false, tensor.Float64, rng, optim.DefaultAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	// Zero weights: uniform softmax, loss = ln 3 whatever the label.
	fill(o.W.Value, func() float64 { return 0 })
	fill(o.B.Value, func() float64 { return 0 })
	l, logits, err := o.Evaluate(tensortest.Normal(rng, tensor.Float64, 4, 2), tensortest.OneHot(rng, tensor.Float64, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l-math.Log(3)) > 1e-12 {
		t.Errorf("loss %v, want ln 3", l)
	}
	if s := logits.Shape(); s[0] != 4 || s[1] != 3 {
		t.Errorf("logits shape %v", s)
	}
}

func TestBatchNormEvaluationUsesRunningStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	d, err := NewDense("l", Spec{In: 3, Out: 2, Act: Identity, BatchNorm: true}, false, tensor.Float64, rng, optim.DefaultAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	x := tensortest.Normal(rng, tensor.Float64, 8, 3)
	h, err := d.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	// Training output is normalised per feature: mean 0 across the batch.
	for j := 0; j < 2; j++ {
		var s float64
		for i := 0; i < 8; i++ {
			s += h.Data().([]float64)[i*2+j]
		}
		if math.Abs(s) > 1e-9 {
			t.Errorf("feature %d: batch mean %v, want 0", j, s/8)
		}
	}
	// Running mean moved 10% of the way from 0 to the batch mean.
	if m := d.RunMean.Value.Data().([]float64); m[0] == 0 && m[1] == 0 {
		t.Errorf("running mean not updated: %v", m)
	}
	if _, err := d.Forward(x, false); err != nil {
		t.Fatal(err)
	}
}

func TestBackwardBeforeForwardIsAnError(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	d, err := NewDense("l", Spec{In: 2, Out: 2, Act: ReLU}, true, tensor.Float64, rng, optim.DefaultAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backward(tensortest.Normal(rng, tensor.Float64, 2, 2)); err == nil {
		t.Fatal("expected an error")
	}
	if _, err := d.Forward(tensortest.Normal(rng, tensor.Float64, 2, 3), true); err == nil {
		t.Fatal("expected a shape error")
	}
	// Nil tensors and random sources are errors, not panics.
	if _, err := d.Forward(nil, true); err == nil {
		t.Error("a nil input accepted")
	}
	if _, err := d.Forward(tensortest.Normal(rng, tensor.Float64, 2, 2), true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backward(nil); err == nil {
		t.Error("a nil gradient accepted")
	}
	if _, err := NewDense("l", Spec{In: 2, Out: 2}, true, tensor.Float64, nil, optim.DefaultAdam(1e-3)); err == nil {
		t.Error("a layer built without a random source")
	}
	if _, err := NewAffine("l", Spec{In: 2, Out: 2, Act: Activation(9)}, tensor.Float32, rng); err == nil {
		t.Error("an unknown activation accepted")
	}
}
