package engine

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// Synthesizers that predict the true gradient times a factor agree with it
// as the factor says: cosine ±1, norm ratio |factor|.
func TestSGAgreementOfKnownGradients(t *testing.T) {
	for _, factor := range []float32{1, 2, -0.5} {
		t.Run(fmt.Sprint(factor), func(t *testing.T) {
			test := toySet("test", 40, 2)
			cfg := smallConfig(CDNI)
			cfg.Layers = 4
			tr := newTrainer(t, cfg, toySet("train", 64, 1))
			if _, err := tr.RunEpoch(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			// The batch SGAgreement takes: the set's first Batch samples.
			b := tr.headBatch(test, cfg.Batch)
			for i, g := range trueGradients(t, tr.net, b.x, b.labels) {
				tr.net.models[i] = exactModel{g, factor}
			}
			got, err := tr.SGAgreement(test)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != cfg.Layers-1 {
				t.Fatalf("%d layers compared, want %d", len(got), cfg.Layers-1)
			}
			wantCos := math.Copysign(1, float64(factor))
			for i, a := range got {
				if math.Abs(a.Cosine-wantCos) > 1e-6 || math.Abs(a.NormRatio-math.Abs(float64(factor))) > 1e-6 {
					t.Errorf("layer%d: cosine %v, norm ratio %v; want %v, %v", i, a.Cosine, a.NormRatio, wantCos, math.Abs(float64(factor)))
				}
			}
		})
	}
}

// A run that compares its synthetic gradients after every epoch trains
// bit for bit as one that does not: the comparison updates nothing and
// puts back the batch-norm statistics its forward passes move.
func TestSGAgreementLeavesTrainingAlone(t *testing.T) {
	type run struct {
		name string
		set  func(*Config)
	}
	runs := []run{
		{"cdni in parts of rows", func(*Config) {}},
		{"dni overlapped", func(c *Config) { c.Mode, c.SGHidden, c.SGWidth = DNI, 2, 24 }},
		{"lambda", func(c *Config) { c.Lambda = 0.5 }},
		{"update-prob and warm-up", func(c *Config) { c.UpdateProb, c.SGWarmup = []float64{0.5}, 5 }},
		{"unlocked", func(c *Config) { c.Unlock = true }},
		{"async, 1 worker", func(c *Config) { c.Exec, c.Workers = ExecAsync, 1 }},
		{"unlocked async, 1 worker", func(c *Config) { c.Exec, c.Workers, c.Unlock = ExecAsync, 1, true }},
		{"reference", func(c *Config) { c.Backend = Reference }},
		{"unlocked reference", func(c *Config) { c.Backend, c.Unlock = Reference, true }},
	}
	for _, dev := range testDevices[1:] {
		runs = append(runs, run{dev, func(c *Config) { c.Device, c.Threads = dev, 0 }})
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			train, test := toySet("train", 400, 1), toySet("test", 100, 2)
			cfg := smallConfig(CDNI)
			// Batches of 64 on 2 threads: two parts of rows, and the loop's
			// finisher.
			cfg.Layers, cfg.Hidden, cfg.Batch, cfg.Threads = 4, 32, 64, 2
			tc.set(&cfg)
			plain, compared := newTrainer(t, cfg, train), newTrainer(t, cfg, train)
			for !plain.Done() {
				want, err := plain.RunEpoch(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := compared.RunEpoch(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if got.TrainLoss != want.TrainLoss || got.SGLoss != want.SGLoss {
					t.Fatalf("epoch %d: losses %v, %v; want %v, %v", got.Epoch, got.TrainLoss, got.SGLoss, want.TrainLoss, want.SGLoss)
				}
				a, err := compared.SGAgreement(test)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Unlock {
					in, err := compared.InputAgreement(test)
					if err != nil {
						t.Fatal(err)
					}
					a = append(a, in...)
				}
				for i, x := range a {
					if math.IsNaN(x.Cosine) || math.IsNaN(x.NormRatio) || x.Cosine < -1-1e-9 || x.Cosine > 1+1e-9 {
						t.Errorf("epoch %d, layer%d: %+v", got.Epoch, i, x)
					}
				}
			}
			requireEqual(t, "state after training", state(compared.net), state(plain.net), 0)
		})
	}
}

// A synthesizer whose prediction is not finite is reported, as in
// training, rather than compared.
func TestSGAgreementOfDivergedSynthesizer(t *testing.T) {
	tr := newTrainer(t, smallConfig(CDNI), toySet("train", 64, 1))
	if _, err := tr.RunEpoch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	tr.net.models[0].(module).Params()[0].Value.Float32s()[0] = float32(math.Inf(1))
	if _, err := tr.SGAgreement(toySet("test", 40, 2)); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("error %v, want the divergence", err)
	}
}

// Input models that predict the real outputs of the layers below agree
// with them exactly.
func TestInputAgreementOfKnownInputs(t *testing.T) {
	test := toySet("test", 40, 2)
	cfg := smallConfig(CDNI)
	cfg.Layers, cfg.Unlock = 4, true
	tr := newTrainer(t, cfg, toySet("train", 64, 1))
	if _, err := tr.RunEpoch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	b := tr.headBatch(test, cfg.Batch)
	hs, err := tr.net.trainForward(b.x)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		tr.net.inputs[i] = knownInput{tr.net.inputs[i], h.Clone().(*tensor.Dense)}
	}
	got, err := tr.InputAgreement(test)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != cfg.Layers-1 {
		t.Fatalf("%d inputs compared, want %d", len(got), cfg.Layers-1)
	}
	for i, a := range got {
		if math.Abs(a.Cosine-1) > 1e-6 || math.Abs(a.NormRatio-1) > 1e-6 {
			t.Errorf("input of layer%d: %+v, want 1, 1", i+1, a)
		}
	}
}

// knownInput is an input model that predicts a fixed batch.
type knownInput struct {
	Synthesizer
	h *tensor.Dense
}

func (m knownInput) Predict(_, _ *tensor.Dense) (*tensor.Dense, error) { return m.h, nil }

// A layer output that is not finite is reported rather than compared with
// its synthetic input.
func TestInputAgreementOfDivergedLayer(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Layers, cfg.Unlock = 4, true
	tr := newTrainer(t, cfg, toySet("train", 64, 1))
	if _, err := tr.RunEpoch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	w := tr.net.hidden[1].Params()[0].Value.Float32s()
	for i := range w {
		w[i] = float32(math.Inf(1))
	}
	_, err := tr.InputAgreement(toySet("test", 40, 2))
	if err == nil || !strings.Contains(err.Error(), "diverged") || !strings.Contains(err.Error(), "compare synthetic inputs") {
		t.Errorf("error %v, want the divergence", err)
	}
}

func TestSGAgreementRefusals(t *testing.T) {
	tr := newTrainer(t, smallConfig(Backprop), toySet("train", 64, 1))
	if _, err := tr.SGAgreement(toySet("test", 40, 2)); err == nil || !strings.Contains(err.Error(), "bprop") {
		t.Errorf("bprop: %v", err)
	}
	if _, err := tr.InputAgreement(toySet("test", 40, 2)); err == nil || !strings.Contains(err.Error(), "unlocked") {
		t.Errorf("without unlocked inputs: %v", err)
	}
	tr = newTrainer(t, smallConfig(CDNI), toySet("train", 64, 1))
	if _, err := tr.SGAgreement(toySet("test", 1, 2)); err == nil || !strings.Contains(err.Error(), "one sample") {
		t.Errorf("one sample with batch norm: %v", err)
	}
}

// Async workers leave the network ready for a comparison after an epoch.
func TestSGAgreementAfterAsyncEpoch(t *testing.T) {
	cfg := asyncConfig(CDNI, 4, 2)
	tr := newTrainer(t, cfg, toySet("train", 400, 1))
	if _, err := tr.RunEpoch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	a, err := tr.SGAgreement(toySet("test", 40, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != cfg.Layers-1 {
		t.Fatalf("%d layers compared, want %d", len(a), cfg.Layers-1)
	}
	for i, x := range a {
		if math.IsNaN(x.Cosine) || math.Abs(x.Cosine) > 1+1e-9 {
			t.Errorf("layer%d: %+v", i, x)
		}
	}
}

func TestAgreementOf(t *testing.T) {
	for _, c := range []struct {
		name       string
		gHat, g    []float32
		cos, ratio float64
	}{
		{"same", []float32{1, 2, 3}, []float32{1, 2, 3}, 1, 1},
		{"opposite, half as long", []float32{-1, 0}, []float32{2, 0}, -1, 0.5},
		{"orthogonal", []float32{1, 0}, []float32{0, 3}, 0, 1.0 / 3},
		{"zero prediction", []float32{0, 0}, []float32{1, 1}, 0, 0},
		{"zero gradient", []float32{1, 1}, []float32{0, 0}, 0, 0},
	} {
		a := agreementOf(c.gHat, c.g)
		if math.Abs(a.Cosine-c.cos) > 1e-12 || math.Abs(a.NormRatio-c.ratio) > 1e-12 {
			t.Errorf("%s: %+v, want cosine %v, norm ratio %v", c.name, a, c.cos, c.ratio)
		}
	}
}
