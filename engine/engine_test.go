package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/safetensors"
)

// toySet returns n random 3×4 "images" labelled by the largest of three
// fixed linear projections: learnable, but not by a single layer at once.
func toySet(name string, n int, seed uint64) *data.Set {
	rng := rand.New(rand.NewPCG(seed, 99))
	proj := rand.New(rand.NewPCG(0, 0))
	const f, classes = 12, 3
	w := make([]float64, f*classes)
	for i := range w {
		w[i] = proj.NormFloat64()
	}
	s := &data.Set{Name: name, N: n, Rows: 3, Cols: 4, Classes: classes, Pixels: make([]uint8, n*f), Labels: make([]uint8, n)}
	for i := 0; i < n; i++ {
		best, bestScore := 0, math.Inf(-1)
		for c := 0; c < classes; c++ {
			score := 0.0
			for j := 0; j < f; j++ {
				if c == 0 {
					s.Pixels[i*f+j] = uint8(rng.IntN(256))
				}
				score += w[j*classes+c] * (float64(data.PixelValue(s.Pixels[i*f+j])) - 0.5)
			}
			if score > bestScore {
				best, bestScore = c, score
			}
		}
		s.Labels[i] = uint8(best)
	}
	return s
}

func smallConfig(mode Mode) Config {
	c := DefaultConfig(12, 3)
	c.Mode = mode
	c.Hidden, c.SGHidden, c.SGWidth = 8, 1, 6
	c.InputHidden, c.InputWidth = 1, 6
	c.Batch, c.EvalBatch, c.Epochs, c.Seed = 16, 32, 2, 7
	c.Optimizer, c.SGOptim = optim.DefaultAdam(1e-2), optim.DefaultAdam(1e-3)
	return c
}

func newTrainer(t *testing.T, cfg Config, set *data.Set) *Trainer {
	t.Helper()
	net, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	tr, err := NewTrainer(net, set)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// testDevices are the devices the device-independent tests run on: the
// CPU, and CUDA device 0 in a build with the gpu tag.
var testDevices = []string{"cpu"}

// state returns a copy of every tensor a checkpoint would hold.
func state(n *Network) map[string][]float32 {
	if err := n.syncHost(); err != nil {
		panic(err)
	}
	out := map[string][]float32{}
	for _, m := range n.modules() {
		for _, st := range stateOf(m) {
			out[st.name] = append([]float32(nil), st.value.Data().([]float32)...)
		}
	}
	return out
}

func layerWeights(n *Network) map[string][]float32 {
	if err := n.syncHost(); err != nil {
		panic(err)
	}
	out := map[string][]float32{}
	for _, d := range n.hidden {
		for _, p := range d.Params() {
			out[p.Name] = append([]float32(nil), p.Value.Data().([]float32)...)
		}
	}
	for _, p := range n.top.Params() {
		out[p.Name] = append([]float32(nil), p.Value.Data().([]float32)...)
	}
	return out
}

func requireEqual(t *testing.T, what string, got, want map[string][]float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || len(g) != len(w) {
			t.Fatalf("%s: tensor %s missing or resized", what, name)
		}
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > tol*math.Max(1, math.Abs(float64(w[i]))) {
				t.Fatalf("%s: %s[%d] = %v, want %v", what, name, i, g[i], w[i])
			}
		}
	}
}

// exactModel is a synthesizer that knows the answer: it returns the true
// gradient ∂L/∂h recorded from a backprop pass on the same batch, times a
// factor (1 unless set).
type exactModel struct {
	grad   *tensor.Dense
	factor float32
}

func (m exactModel) Predict(_, _ *tensor.Dense) (*tensor.Dense, error) {
	if m.factor == 0 || m.factor == 1 {
		return m.grad, nil
	}
	out := m.grad.Clone().(*tensor.Dense)
	for i := range out.Float32s() {
		out.Float32s()[i] *= m.factor
	}
	return out, nil
}
func (m exactModel) Learn(_, _, _ *tensor.Dense) (float64, error) { return 0, nil }
func (m exactModel) Update() error                                { return nil }

// trueGradients returns ∂L/∂h_i for every hidden layer of n on one batch,
// without updating anything.
func trueGradients(t *testing.T, n *Network, x, labels *tensor.Dense) []*tensor.Dense {
	t.Helper()
	_, grads, err := n.backpropGradients(x, labels)
	if err != nil {
		t.Fatal(err)
	}
	return grads
}

// With an exact synthesizer a decoupled step is a backprop step: the
// bootstrapped targets and the updates must coincide.
var backends = []string{CPU, Reference}

func TestExactSynthesizerStepEqualsBackpropStep(t *testing.T) {
	for _, tc := range []struct {
		backend string
		layers  int
	}{{CPU, 2}, {CPU, 3}, {CPU, 4}, {Reference, 3}} {
		t.Run(fmt.Sprint(tc.backend, tc.layers, "layers"), func(t *testing.T) {
			set := toySet("train", 64, 1)
			cfg := smallConfig(Backprop)
			cfg.Layers, cfg.Backend = tc.layers, tc.backend
			bp := newTrainer(t, cfg, set)
			oracle := newTrainer(t, cfg, set)
			cfg.Mode = DNI
			dni := newTrainer(t, cfg, set)
			requireEqual(t, "initial weights", layerWeights(dni.net), layerWeights(bp.net), 0)

			b := bp.loadBatch(0, 0)
			grads := trueGradients(t, oracle.net, b.x, b.labels)
			for i, g := range grads {
				dni.net.models[i] = exactModel{grad: g}
			}
			if _, err := bp.net.trainStep(nil, b.x, b.labels, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := dni.net.trainStep(nil, b.x, b.labels, 0); err != nil {
				t.Fatal(err)
			}
			requireEqual(t, "weights after one step", layerWeights(dni.net), layerWeights(bp.net), 1e-6)
		})
	}
}

// The synthesizers' last layer starts at zero, so on the first decoupled
// step every layer below the top gets exactly zero gradient.
func TestFirstDecoupledStepGivesLowerLayersZeroGradient(t *testing.T) {
	for _, mode := range []Mode{DNI, CDNI} {
		for _, backend := range backends {
			t.Run(string(mode)+"_"+backend, func(t *testing.T) {
				cfg := smallConfig(mode)
				cfg.Layers, cfg.Backend = 4, backend
				tr := newTrainer(t, cfg, toySet("train", 64, 1))
				before := layerWeights(tr.net)
				b := tr.loadBatch(0, 0)
				if _, err := tr.net.trainStep(nil, b.x, b.labels, 0); err != nil {
					t.Fatal(err)
				}
				after := layerWeights(tr.net)
				for _, d := range tr.net.hidden {
					for _, p := range d.Params() {
						for i, g := range p.Grad.Data().([]float32) {
							if g != 0 {
								t.Fatalf("%s: gradient[%d] = %v, want exactly 0", p.Name, i, g)
							}
						}
						if !equalSlices(before[p.Name], after[p.Name]) {
							t.Fatalf("%s changed on the first step", p.Name)
						}
					}
				}
				if top := tr.net.top.Name() + ".W"; equalSlices(before[top], after[top]) {
					t.Fatal("the top layer did not learn from the true gradient")
				}
			})
		}
	}
}

// The fast CPU backend follows the reference backend's training curve: same
// seed, same batches, losses equal within float32 tolerance with Adam, and
// layer weights too with SGD. Adam divides by √v: where gradients are near
// zero (batch norm's β, a young synthesizer) it turns rounding differences
// of the gradient into steps of ±lr, so its weights drift apart by more than
// rounding (0.006 on one β after 3 epochs with the pure-Go kernels), while
// SGD keeps rounding differences the size of rounding.
func TestBackendsFollowTheSameCurve(t *testing.T) {
	for _, mode := range []Mode{Backprop, DNI, CDNI} {
		t.Run(string(mode), func(t *testing.T) {
			set := toySet("train", 200, 1)
			run := func(backend string, sgd bool) ([]float64, map[string][]float32) {
				cfg := curveConfig(mode)
				cfg.Backend = backend
				if sgd {
					cfg.Optimizer = optim.Config{Kind: optim.SGD, LR: 0.05, Momentum: 0.9}
					cfg.SGOptim = cfg.Optimizer
				}
				tr := newTrainer(t, cfg, set)
				return trainCurve(t, tr), layerWeights(tr.net)
			}
			fastLoss, _ := run(CPU, false)
			refLoss, _ := run(Reference, false)
			requireSameCurve(t, fastLoss, refLoss, 1e-3)
			fastLoss, fastState := run(CPU, true)
			refLoss, refState := run(Reference, true)
			requireSameCurve(t, fastLoss, refLoss, 1e-3)
			requireEqual(t, "layer weights after 3 epochs of SGD", fastState, refState, 1e-5)
		})
	}
}

// curveConfig is the small run whose training curves the tests compare:
// 3 epochs, Adam at 1e-3 for layers and synthesizers.
func curveConfig(mode Mode) Config {
	cfg := smallConfig(mode)
	cfg.Epochs = 3
	cfg.Optimizer, cfg.SGOptim = optim.DefaultAdam(1e-3), optim.DefaultAdam(1e-3)
	return cfg
}

// trainCurve trains tr to the end and returns the loss of every step.
func trainCurve(t *testing.T, tr *Trainer) []float64 {
	t.Helper()
	var losses []float64
	for !tr.Done() {
		if _, err := tr.RunEpoch(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }); err != nil {
			t.Fatal(err)
		}
	}
	return losses
}

// requireSameCurve fails t unless every step's loss is within tol of the
// reference's (relative, or absolute below 1).
func requireSameCurve(t *testing.T, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d steps, reference %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, want[i]) {
			t.Fatalf("step %d: loss %v, reference %v", i, got[i], want[i])
		}
	}
}

func equalSlices(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSameSeedSameWeights(t *testing.T) {
	for _, mode := range []Mode{Backprop, DNI, CDNI} {
		t.Run(string(mode), func(t *testing.T) {
			set := toySet("train", 100, 1)
			run := func(seed uint64) map[string][]float32 {
				cfg := smallConfig(mode)
				cfg.Seed = seed
				tr := newTrainer(t, cfg, set)
				if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
				return state(tr.net)
			}
			a := run(3)
			requireEqual(t, "same seed", run(3), a, 0)
			if b := run(4); equalSlices(b["layer0.W"], a["layer0.W"]) {
				t.Fatal("a different seed gave the same weights")
			}
		})
	}
}

// A run interrupted mid-epoch, checkpointed and resumed ends bit-identical
// to an uninterrupted one.
func TestCheckpointResumeIsExact(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		bn   bool
		opt  optim.Kind
	}{{Backprop, false, optim.Adam}, {DNI, true, optim.Adam}, {CDNI, false, optim.SGD}} {
		for _, dev := range testDevices {
			t.Run(fmt.Sprintf("%s_bn=%v_%s_%s", tc.mode, tc.bn, tc.opt, dev), func(t *testing.T) {
				testResume(t, tc.mode, tc.bn, tc.opt, dev)
			})
		}
	}
}

// testResume interrupts a run, saves it, resumes from the file and checks
// that the result equals an uninterrupted run's bit for bit.
func testResume(t *testing.T, mode Mode, bn bool, opt optim.Kind, device string) {
	set := toySet("train", 100, 1) // 7 steps per epoch, the last of 4 samples
	cfg := smallConfig(mode)
	cfg.Device = device
	cfg.BatchNorm, cfg.SGBatchNorm = bn, bn
	if opt == optim.SGD {
		cfg.Optimizer = optim.Config{Kind: optim.SGD, LR: 0.05, Momentum: 0.9, DecaySteps: []int{5}, DecayFactor: 0.1}
	}
	whole := newTrainer(t, cfg, set)
	for !whole.Done() {
		if _, err := whole.RunEpoch(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}

	first := newTrainer(t, cfg, set)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := first.RunEpoch(ctx, func(p Progress) {
		if p.Step == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || first.Step() != 3 {
		t.Fatalf("interrupted run: err %v after %d steps", err, first.Step())
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	net, err := ck.Network()
	if err != nil {
		t.Fatal(err)
	}
	requireEqual(t, "loaded state", state(net), state(first.net), 0)
	resumed, err := NewTrainer(net, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Resume(ck); err != nil {
		t.Fatal(err)
	}
	for !resumed.Done() {
		if _, err := resumed.RunEpoch(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if resumed.Step() != whole.Step() {
		t.Fatalf("resumed run took %d steps, uninterrupted %d", resumed.Step(), whole.Step())
	}
	requireEqual(t, "resumed vs uninterrupted", state(resumed.net), state(whole.net), 0)
}

// TestSyncEpochEndsItsLoader stops synchronous epochs by a cancellation
// and by a failing step, and checks that the goroutine filling the next
// batch is gone when RunEpoch returns.
func TestSyncEpochEndsItsLoader(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(tr *Trainer) (context.Context, func(Progress))
		want string
	}{
		{"cancelled", func(*Trainer) (context.Context, func(Progress)) {
			ctx, cancel := context.WithCancel(context.Background())
			return ctx, func(p Progress) {
				if p.Step == 3 {
					cancel()
				}
			}
		}, "context canceled"},
		{"failed step", func(tr *Trainer) (context.Context, func(Progress)) {
			tr.net.models[0] = &faultyModel{GradientModel: tr.net.models[0], failAt: 4}
			return context.Background(), nil
		}, "step 3: injected fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := settle()
			tr := newTrainer(t, smallConfig(CDNI), toySet("train", 200, 1))
			ctx, onStep := tc.stop(tr)
			stats, err := tr.RunEpoch(ctx, onStep)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			// The stats of the steps taken are complete.
			if stats.Steps != 3 || !(stats.Seconds > 0) || !(stats.TrainLoss > 0) {
				t.Errorf("stats %+v", stats)
			}
			if after := settle(); after > before {
				t.Errorf("%d goroutines before the run, %d after", before, after)
			}
		})
	}
}

func TestCheckpointForOtherConfigurationIsRefused(t *testing.T) {
	set := toySet("train", 32, 1)
	tr := newTrainer(t, smallConfig(CDNI), set)
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	ck.Config.Hidden = 9
	if _, err := ck.Network(); err == nil {
		t.Fatal("a checkpoint loaded into a network of another width")
	}
	ck.Config.Hidden, ck.Config.Mode = 8, Backprop
	if _, err := ck.Network(); err == nil {
		t.Fatal("synthesizer tensors ignored silently")
	}
}

// A run trains on after a resume on a training set of its size only.
func TestResumeOnOtherDataIsRefused(t *testing.T) {
	cfg := smallConfig(CDNI)
	tr := newTrainer(t, cfg, toySet("train", 48, 1))
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil || ck.TrainSamples != 48 {
		t.Fatalf("checkpoint of %d training samples, %v", ck.TrainSamples, err)
	}
	for _, n := range []int{48, 64} {
		net, err := ck.Network()
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		set := toySet("train", n, 2)
		other, err := NewTrainer(net, set)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Resume(ck); err != nil {
			t.Fatal(err)
		}
		err = ck.TrainsOn(set)
		if wantErr := n != 48; (err != nil) != wantErr || wantErr && !strings.Contains(err.Error(), "a set of 48 samples, this training set has 64") {
			t.Errorf("resumed on %d samples: %v", n, err)
		}
	}
}

// A run whose state is not finite is not saved, and a checkpoint holding
// such a value (made some other way) does not load.
func TestCheckpointWithNaNIsRefused(t *testing.T) {
	tr := newTrainer(t, smallConfig(CDNI), toySet("train", 32, 1))
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	p := tr.net.hidden[0].Params()[0]
	p.Value.Float32s()[3] = float32(math.NaN())
	want := fmt.Sprintf("%s holds NaN at element 3", p.Name)
	if err := tr.Save(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("save of a diverged run: %v, want it to say %s", err, want)
	}
	f, err := safetensors.ReadFile(path) // the first checkpoint, kept
	if err != nil {
		t.Fatal(err)
	}
	nan := f.Tensors[p.Name]
	binary.LittleEndian.PutUint32(nan.Data[12:], math.Float32bits(float32(math.NaN())))
	ck, err := newCheckpoint(path, f)
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("tensor %q holds NaN at element 3", p.Name)
	if _, err := ck.Network(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("load: %v, want it to say %s", err, want)
	}
}

// A checkpoint from before the input models had a shape of their own (no
// input_hidden or input_width in its config) built them as synthesizers,
// and loads so again.
func TestCheckpointWithoutInputModelShape(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Unlock = true
	cfg.InputHidden, cfg.InputWidth = cfg.SGHidden, cfg.SGWidth
	tr := newTrainer(t, cfg, toySet("train", 32, 1))
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(f.Metadata[metaConfig]), &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "input_hidden")
	delete(fields, "input_width")
	old, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata[metaConfig] = string(old)
	ck, err := newCheckpoint(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if c := ck.Config; c.InputHidden != c.SGHidden || c.InputWidth != c.SGWidth {
		t.Fatalf("input models %d×%d, want the synthesizers' %d×%d", c.InputHidden, c.InputWidth, c.SGHidden, c.SGWidth)
	}
	net, err := ck.Network()
	if err != nil {
		t.Fatal(err)
	}
	requireEqual(t, "loaded state", state(net), state(tr.net), 0)
}

// Every mode learns the toy problem well beyond chance (67% error). Batch
// norm keeps the decoupled layers' ReLUs alive: without it, the early,
// biased synthetic gradients of such small layers silence most units.
func TestModesLearn(t *testing.T) {
	train, test := toySet("train", 600, 1), toySet("test", 300, 2)
	for _, tc := range []struct {
		mode     Mode
		maxError float64
	}{{Backprop, 20}, {CDNI, 20}, {DNI, 50}} {
		mode := tc.mode
		t.Run(string(mode), func(t *testing.T) {
			cfg := smallConfig(mode)
			cfg.Epochs, cfg.Hidden, cfg.BatchNorm = 8, 32, true
			cfg.SGOptim = optim.DefaultAdam(1e-2)
			tr := newTrainer(t, cfg, train)
			var last EpochStats
			for !tr.Done() {
				var err error
				if last, err = tr.RunEpoch(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
			}
			ev, err := tr.Evaluate(test)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Error > tc.maxError || ev.N != 300 {
				t.Errorf("test error %.1f%% on %d samples after %d epochs, want ≤ %v%%", ev.Error, ev.N, cfg.Epochs, tc.maxError)
			}
			if mode.Decoupled() && !(last.SGLoss > 0) {
				t.Errorf("synthesizer loss %v, want > 0", last.SGLoss)
			}
		})
	}
}

func TestEvaluateCountsErrors(t *testing.T) {
	set := toySet("test", 50, 5)
	tr := newTrainer(t, smallConfig(Backprop), set)
	// Zero weights in the output layer and a bias favouring class 1: every
	// prediction is 1, so the error is the share of other labels.
	params := tr.net.top.Params() // W, then b
	clear(params[0].Value.Data().([]float32))
	copy(params[1].Value.Data().([]float32), []float32{0, 1, 0})
	ev, err := tr.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for _, l := range set.Labels {
		if l != 1 {
			wrong++
		}
	}
	if want := 100 * float64(wrong) / 50; math.Abs(ev.Error-want) > 1e-9 {
		t.Errorf("error %v%%, want %v%%", ev.Error, want)
	}
}

func TestConfigValidation(t *testing.T) {
	base := smallConfig(CDNI)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"mode", func(c *Config) { c.Mode = "sideways" }},
		{"layers", func(c *Config) { c.Layers = 0 }},
		{"dni one layer", func(c *Config) { c.Layers = 1 }},
		{"hidden", func(c *Config) { c.Hidden = 0 }},
		{"batch", func(c *Config) { c.Batch = 0 }},
		{"epochs", func(c *Config) { c.Epochs = 0 }},
		{"sg width", func(c *Config) { c.SGHidden, c.SGWidth = 2, 0 }},
		{"sg scale", func(c *Config) { c.SGScale = -1 }},
		{"lr", func(c *Config) { c.Optimizer.LR = 0 }},
		{"activation", func(c *Config) { c.Activation = "swish" }},
		{"input std", func(c *Config) { c.InputStd = 0 }},
		{"input std under float32's range", func(c *Config) { c.InputStd = 1e-300 }},
		{"input std over float32's range", func(c *Config) { c.InputStd = 1e300 }},
		{"input mean over float32's range", func(c *Config) { c.InputMean = 1e39 }},
		{"input mean NaN", func(c *Config) { c.InputMean = math.NaN() }},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	c := base
	c.Mode, c.Layers = Backprop, 1
	if err := c.Validate(); err != nil {
		t.Errorf("a 1-layer backprop model is valid: %v", err)
	}
}

func TestDataMustMatchModel(t *testing.T) {
	net, err := NewNetwork(DefaultConfig(784, 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTrainer(net, toySet("train", 10, 1)); err == nil {
		t.Fatal("12-feature data accepted by a 784-input model")
	}
}

// In steady state a training step of the CPU backend allocates nothing: all
// buffers are made on the first step of each batch size. Neither do the
// finisher's jobs (the products of this small network are too small for
// the GEMM's helpers), nor, with batches in parts, the loop's filling of a
// batch and the parts' runs on the helpers that the first step started.
func TestCPUTrainStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, tc := range []struct {
		mode     Mode
		finisher bool
		parts    bool // batches of 64 in two parts, filled by the loop
	}{{Backprop, false, false}, {DNI, false, false}, {CDNI, false, false}, {DNI, true, false}, {CDNI, true, false},
		{Backprop, false, true}, {DNI, true, true}, {CDNI, false, true}} {
		t.Run(fmt.Sprintf("%s finisher %v parts %v", tc.mode, tc.finisher, tc.parts), func(t *testing.T) {
			cfg := smallConfig(tc.mode)
			cfg.Threads = 2
			if tc.parts {
				cfg.Batch = 64
			}
			tr := newTrainer(t, cfg, toySet("train", 128, 1))
			if (tr.net.fillParts != nil) != tc.parts {
				t.Fatalf("batches filled in parts: %v", tr.net.fillParts != nil)
			}
			var f *finisher
			if tc.finisher {
				tr.net.cores.Acquire()
				f = startFinisher(tr.net, false)
				defer func() {
					if err := f.stop(); err != nil {
						t.Error(err)
					}
					tr.net.cores.Release(1)
				}()
			}
			load := func() *batch { return tr.loadBatch(0, 0) }
			if tc.parts {
				load = func() *batch { return tr.fillInParts(0, 0) }
			}
			b := load()
			if _, err := tr.net.trainStep(f, b.x, b.labels, 0); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(20, func() {
				if tc.parts {
					b = load()
				}
				if _, err := tr.net.trainStep(f, b.x, b.labels, 0); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per step, want 0", allocs)
			}
		})
	}
}

// BP(λ) at λ = 1 is backprop, and at λ = 0 makes the same updates as the
// decoupled step.
func TestLambdaEndpoints(t *testing.T) {
	set := toySet("train", 64, 1)
	for _, layers := range []int{2, 4} {
		cfg := smallConfig(Backprop)
		cfg.Layers = layers
		bp := newTrainer(t, cfg, set)
		cfg.Mode, cfg.Lambda = CDNI, 1
		one := newTrainer(t, cfg, set)
		b := bp.loadBatch(0, 0)
		for step := 0; step < 3; step++ {
			if _, err := bp.net.trainStep(nil, b.x, b.labels, step); err != nil {
				t.Fatal(err)
			}
			if _, err := one.net.trainStep(nil, b.x, b.labels, step); err != nil {
				t.Fatal(err)
			}
		}
		requireEqual(t, fmt.Sprint("λ=1 against bprop, ", layers, " layers"), layerWeights(one.net), layerWeights(bp.net), 1e-6)

		cfg.Lambda = 0
		dec, zero := newTrainer(t, cfg, set), newTrainer(t, cfg, set)
		for step := 0; step < 3; step++ {
			if _, err := dec.net.decoupledStep(nil, b.x, b.labels, step); err != nil {
				t.Fatal(err)
			}
			if _, err := zero.net.lambdaStep(b.x, b.labels, step); err != nil {
				t.Fatal(err)
			}
		}
		requireEqual(t, fmt.Sprint("λ=0 against cdni, ", layers, " layers"), state(zero.net), state(dec.net), 1e-6)
	}
}

func TestSynthesizerWarmupHoldsHiddenLayers(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.SGWarmup = 3
	tr := newTrainer(t, cfg, toySet("train", 64, 1))
	before := state(tr.net)
	b := tr.loadBatch(0, 0)
	for step := 0; step < 3; step++ {
		if _, err := tr.net.trainStep(nil, b.x, b.labels, step); err != nil {
			t.Fatal(err)
		}
	}
	after := state(tr.net)
	for name := range before {
		changed := !equalSlices(before[name], after[name])
		hidden := strings.HasPrefix(name, "layer0.") || strings.HasPrefix(name, "layer1.")
		if hidden && changed && !strings.Contains(name, ".bn_") && !strings.Contains(name, "adam") {
			t.Errorf("%s changed during the warm-up", name)
		}
	}
	for _, name := range []string{"layer2.W", "synth1.out.W"} {
		if equalSlices(before[name], after[name]) {
			t.Errorf("%s did not learn during the warm-up", name)
		}
	}
	if _, err := tr.net.trainStep(nil, b.x, b.labels, 3); err != nil {
		t.Fatal(err)
	}
	if equalSlices(after["layer1.W"], state(tr.net)["layer1.W"]) {
		t.Error("layer1 did not update after the warm-up")
	}
}

func TestUpdateProbability(t *testing.T) {
	cfg := smallConfig(DNI)
	cfg.UpdateProb = []float64{0.5, 1, 0.25}
	tr := newTrainer(t, cfg, toySet("train", 64, 1))
	b := tr.loadBatch(0, 0)
	updates := make([]int, 3)
	const steps = 200
	for step := 0; step < steps; step++ {
		before := layerWeights(tr.net)
		if _, err := tr.net.trainStep(nil, b.x, b.labels, step); err != nil {
			t.Fatal(err)
		}
		after := layerWeights(tr.net)
		for i := range updates {
			if !equalSlices(before[fmt.Sprintf("layer%d.W", i)], after[fmt.Sprintf("layer%d.W", i)]) {
				updates[i]++
			}
		}
	}
	for i, p := range cfg.UpdateProb {
		// Layer 0's first step has a zero gradient: Adam leaves it in place.
		if lo, hi := p*steps-30, p*steps+30; float64(updates[i]) < lo || float64(updates[i]) > hi {
			t.Errorf("layer %d updated on %d of %d steps, want about %v", i, updates[i], steps, p*steps)
		}
	}
}

// A diverging run stops with a message naming the step and the first
// tensor that went bad.
func TestDivergenceIsReported(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		exec string
		step string
	}{
		{Backprop, ExecSync, "step 1:"},
		{CDNI, ExecSync, "step 1:"},
		{CDNI, ExecAsync, "step "}, // which step the top worker is at depends on timing
	} {
		cfg := smallConfig(tc.mode)
		cfg.Exec, cfg.Workers = tc.exec, 2
		cfg.Optimizer, cfg.SGOptim = optim.DefaultAdam(1e9), optim.DefaultAdam(1e9)
		tr := newTrainer(t, cfg, toySet("train", 200, 1))
		_, err := tr.RunEpoch(context.Background(), nil)
		if err == nil {
			t.Fatalf("%s %s: --lr 1e9 trained without complaint", tc.mode, tc.exec)
		}
		msg := err.Error()
		if !strings.Contains(msg, "diverged") || !strings.Contains(msg, tc.step) || !strings.Contains(msg, "largest weight: ") {
			t.Errorf("%s %s: %v", tc.mode, tc.exec, err)
		}
	}
}

func TestNonFiniteTensorIsNamed(t *testing.T) {
	set := toySet("train", 64, 1)
	for _, tc := range []struct {
		mode   Mode
		tensor string
		want   string
	}{
		{Backprop, "layer1.W", "first non-finite tensor: layer1.W, NaN at element 5"},
		{CDNI, "synth0.out.W", "synthetic gradient of layer0 has NaN"},
	} {
		tr := newTrainer(t, smallConfig(tc.mode), set)
		for _, m := range tr.net.modules() {
			for _, p := range m.Params() {
				if p.Name == tc.tensor {
					p.Value.Float32s()[5] = float32(math.NaN())
				}
			}
		}
		_, err := tr.RunEpoch(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.tensor, err, tc.want)
		}
	}
}

func TestMemoryEstimate(t *testing.T) {
	cfg := DefaultConfig(784, 10)
	cfg.Mode, cfg.SGHidden, cfg.Threads = DNI, 2, 1
	// 3.42M parameters ×4 (value, gradient, two Adam moments) ×4 bytes is
	// 55 MB; buffers add a few MB.
	got := EstimateMemory(cfg)
	if got < 50<<20 || got > 100<<20 {
		t.Errorf("estimate %d bytes for the default dni model on one thread", got)
	}
	// Each further thread's part of a batch keeps its own weight gradients.
	cfg.Threads = 16
	if many := EstimateMemory(cfg); many <= got {
		t.Errorf("estimate %d bytes on 16 threads, %d on one", many, got)
	}
	if err := checkMemory(cfg, 1<<30, "memory available"); err != nil {
		t.Errorf("the default model does not fit 1 GiB: %v", err)
	}
	huge := cfg
	huge.Layers, huge.Hidden = 64, 1<<16
	err := checkMemory(huge, 24<<30, "memory available")
	if err == nil || !strings.Contains(err.Error(), "GiB") {
		t.Fatalf("a 64×65536² model fits 24 GiB: %v", err)
	}
	if !strings.Contains(err.Error(), "more than the 24.0 GiB") {
		t.Errorf("message: %v", err)
	}
	if checkMemory(huge, 0, "memory available") != nil {
		t.Error("unknown available memory must not refuse")
	}
	// The δ products that async workers move down count: between 2
	// workers, each of 64 target buffers may hold a copy of a 4096×4096 W,
	// dz and δ (256×4096 each).
	wide := DefaultConfig(784, 10)
	wide.Hidden, wide.Exec, wide.Workers, wide.Queue = 4096, ExecAsync, 1, 64
	alone := EstimateMemory(wide)
	wide.Workers = 2
	if got, want := EstimateMemory(wide)-alone, uint64(4*64*(4096*4096+2*256*4096)); got != want {
		t.Errorf("a second worker adds %d bytes, want %d", got, want)
	}
	// The input models of --unlock count with their own shape.
	unlocked := DefaultConfig(784, 10)
	unlocked.Unlock = true
	if err := checkMemory(unlocked, 1<<30, "memory available"); err != nil {
		t.Errorf("the default unlocked model does not fit 1 GiB: %v", err)
	}
	unlocked.InputHidden, unlocked.InputWidth = 16, 1<<16
	if err := checkMemory(unlocked, 24<<30, "memory available"); err == nil {
		t.Error("input models of 16×65536² fit 24 GiB")
	}
	// On two threads each weight matrix of the backprop network computes
	// a batch of 256 in two parts, the second with a weight gradient of
	// its own: 784×256 + 256×256 + 256×10 floats.
	bp := DefaultConfig(784, 10)
	bp.Mode, bp.Threads = Backprop, 1
	one := EstimateMemory(bp)
	bp.Threads = 2
	if got, want := EstimateMemory(bp)-one, uint64(4*(784*256+256*256+256*10)); got != want {
		t.Errorf("two threads add %d bytes, want %d", got, want)
	}
	bp.Device = "cuda:0"
	if EstimateMemory(bp) != one {
		t.Error("the GPU backend's layers are counted in parts")
	}
}

// Batch norm turns a batch of one sample into zeros: a batch size of one is
// refused with it, and so is a training set whose last batch holds one.
func TestBatchOfOneWithBatchNorm(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Batch = 1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--batch 1 with batch norm") || !strings.Contains(err.Error(), "--sg-batchnorm=false") {
		t.Errorf("Validate: %v", err)
	}
	cfg.BatchNorm, cfg.SGBatchNorm = false, false
	if err := cfg.Validate(); err != nil {
		t.Errorf("batch of one without batch norm: %v", err)
	}
	cfg = smallConfig(Backprop)
	tr := newTrainer(t, cfg, toySet("train", 2*cfg.Batch+1, 1))
	if _, err := tr.RunEpoch(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "last batch of one sample") {
		t.Errorf("RunEpoch: %v", err)
	}
	cfg.BatchNorm = false
	tr = newTrainer(t, cfg, toySet("train", 2*cfg.Batch+1, 1))
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Errorf("RunEpoch without batch norm: %v", err)
	}
}

// A trainer refuses to run past its epochs and sets that do not hold
// together; a checkpoint whose checksum is gone is refused.
func TestTrainerRefusals(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Epochs = 1
	set := toySet("train", 64, 1)
	tr := newTrainer(t, cfg, set)
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RunEpoch(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "all its 1 epochs") {
		t.Errorf("RunEpoch past the epochs: %v", err)
	}

	bad := *set.Head(10)
	bad.Labels = append([]uint8(nil), bad.Labels...)
	bad.Labels[9] = uint8(set.Classes)
	if _, err := tr.Evaluate(&bad); err == nil || !strings.Contains(err.Error(), "label 3 of sample 9") {
		t.Errorf("Evaluate with a label out of range: %v", err)
	}
	if _, err := NewTrainer(tr.Network(), &bad); err == nil {
		t.Error("NewTrainer took a label out of range")
	}

	path := filepath.Join(t.TempDir(), "run.safetensors")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := DecodeCheckpoint(path, b)
	if err != nil {
		t.Fatal(err)
	}
	other := newTrainer(t, smallConfig(DNI), set)
	if err := other.Resume(ck); err == nil || !strings.Contains(err.Error(), "not the checkpoint's") {
		t.Errorf("Resume on another network: %v", err)
	}
	// A network of the same config with fresh weights is another network.
	if err := newTrainer(t, ck.Config, set).Resume(ck); err == nil || !strings.Contains(err.Error(), "not the checkpoint's") {
		t.Errorf("Resume on a fresh network of the checkpoint's config: %v", err)
	}
	if err := other.Resume(nil); err == nil {
		t.Error("Resume without a checkpoint succeeded")
	}
	// How the run executes, and its epochs, may change.
	ck.Config.Threads, ck.Config.Exec, ck.Config.Workers, ck.Config.Queue, ck.Config.Epochs, ck.Config.Backend = 1, ExecAsync, 2, 1, 3, Reference
	net, err := ck.Network()
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	moved, err := NewTrainer(net, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := moved.Resume(ck); err != nil || moved.Step() != ck.Step {
		t.Errorf("Resume with another execution: step %d, %v", moved.Step(), err)
	}
	renamed := bytes.Replace(b, []byte(`"sha256"`), []byte(`"sha000"`), 1) // the header stays valid
	if _, err := DecodeCheckpoint(path, renamed); err == nil || !strings.Contains(err.Error(), "no checksum") {
		t.Errorf("checkpoint without its checksum: %v", err)
	}
}

// Predict's classes are those Evaluate counts right and wrong.
func TestPredictAgreesWithEvaluate(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Epochs = 1
	train, test := toySet("train", 96, 1), toySet("test", 50, 2)
	tr := newTrainer(t, cfg, train)
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ev, err := tr.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := tr.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i, c := range pred {
		if c != int(test.Labels[i]) {
			wrong++
		}
	}
	if len(pred) != test.N || 100*float64(wrong)/float64(test.N) != ev.Error {
		t.Errorf("%d predictions, %d wrong; Evaluate says %.2f%% of %d", len(pred), wrong, ev.Error, ev.N)
	}
	if _, err := tr.Predict(nil); err == nil {
		t.Error("Predict(nil) gave no error")
	}
}

// lateModel makes a synthesizer a lateLearner that logs its calls: it
// learns at once, and hands back a wait that returns the loss and logs
// that it was read.
type lateModel struct {
	GradientModel
	i   int
	log *[]string
}

func (m *lateModel) LearnLate(h, labels, target *tensor.Dense) (func() (float64, error), error) {
	l, err := m.GradientModel.Learn(h, labels, target)
	*m.log = append(*m.log, fmt.Sprint("learn ", m.i))
	return func() (float64, error) {
		*m.log = append(*m.log, fmt.Sprint("loss ", m.i))
		return l, nil
	}, err
}

// lateDense makes a hidden layer a lateLayer that logs its calls and the
// waits it hands back; it computes at once.
type lateDense struct {
	Layer
	i   int
	log *[]string
}

func (d *lateDense) ForwardLate(x *tensor.Dense, train bool) (*tensor.Dense, func() error, error) {
	h, err := d.Forward(x, train)
	return h, d.waiter("forward"), err
}

func (d *lateDense) BackwardLate(g *tensor.Dense) (*tensor.Dense, func() error, error) {
	dx, err := d.Backward(g)
	return dx, d.waiter("backward"), err
}

func (d *lateDense) waiter(pass string) func() error {
	*d.log = append(*d.log, fmt.Sprint(pass, " ", d.i))
	return func() error {
		*d.log = append(*d.log, fmt.Sprint("wait ", pass, " ", d.i))
		return nil
	}
}

// The synchronous decoupled step lets late layers and learners return
// before their work is done, and waits for all of it at the end of the
// step: every loss once, bottom to top, then every pass, after all of them
// have run; and, when the step fails, for what it had queued. The training
// and the synthesizer losses are those of modules that wait, bit for bit.
func TestLateStep(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Layers = 4
	plain := newTrainer(t, cfg, toySet("train", 64, 1))
	late := newTrainer(t, cfg, toySet("train", 64, 1))
	var log []string
	models, layers := slices.Clone(late.net.models), slices.Clone(late.net.hidden)
	wrap := func() {
		for i := range models {
			late.net.models[i] = &lateModel{GradientModel: models[i], i: i, log: &log}
			late.net.hidden[i] = &lateDense{Layer: layers[i], i: i, log: &log}
		}
	}
	wrap()
	want := []string{"forward 0", "backward 0", "forward 1", "backward 1", "learn 0", "forward 2", "backward 2", "learn 1", "learn 2",
		"loss 0", "loss 1", "loss 2",
		"wait forward 0", "wait backward 0", "wait forward 1", "wait backward 1", "wait forward 2", "wait backward 2"}
	b := plain.loadBatch(0, 0)
	for step := range 3 {
		p, err := plain.net.trainStep(nil, b.x, b.labels, step)
		if err != nil {
			t.Fatal(err)
		}
		log = log[:0]
		l, err := late.net.trainStep(nil, b.x, b.labels, step)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(log, want) {
			t.Fatalf("step %d: calls %q, want %q", step, log, want)
		}
		if l.loss != p.loss || l.sgLoss != p.sgLoss || p.sgLoss == 0 {
			t.Fatalf("step %d: loss %v and synthesizer loss %v, waiting modules %v and %v", step, l.loss, l.sgLoss, p.loss, p.sgLoss)
		}
	}
	copy(late.net.models, models) // for state, which reads modules
	copy(late.net.hidden, layers)
	requireEqual(t, "late modules", state(late.net), state(plain.net), 0)

	// A step that fails after some modules have queued waits for them.
	wrap()
	late.net.top = failingOutput{late.net.top}
	log = log[:0]
	if _, err := late.net.trainStep(nil, b.x, b.labels, 3); err == nil {
		t.Fatal("a step whose top layer fails: no error")
	}
	want = append(want[:7:7], "learn 1", "loss 0", "loss 1",
		"wait forward 0", "wait backward 0", "wait forward 1", "wait backward 1", "wait forward 2", "wait backward 2")
	if !slices.Equal(log, want) {
		t.Fatalf("failed step: calls %q, want %q", log, want)
	}
}

// failingOutput is an output layer whose training fails.
type failingOutput struct{ OutputLayer }

func (failingOutput) Train(x, labels *tensor.Dense) (float64, *tensor.Dense, *tensor.Dense, error) {
	return 0, nil, nil, errors.New("injected fault")
}

// A network keeps a copy of its config's slices: changing the caller's
// config, or the one Config returns, changes nothing in it.
func TestNetworkOwnsItsConfig(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.UpdateProb = []float64{0.5}
	cfg.Optimizer.DecaySteps, cfg.Optimizer.DecayFactor = []int{5}, 0.5
	cfg.SGOptim.DecaySteps, cfg.SGOptim.DecayFactor = []int{7}, 0.5
	net, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	cfg.UpdateProb[0], cfg.Optimizer.DecaySteps[0], cfg.SGOptim.DecaySteps[0] = 0, 1, 1
	got := net.Config()
	got.UpdateProb[0], got.Optimizer.DecaySteps[0], got.SGOptim.DecaySteps[0] = 0, 2, 2
	c := net.Config()
	if c.UpdateProb[0] != 0.5 || c.Optimizer.DecaySteps[0] != 5 || c.SGOptim.DecaySteps[0] != 7 {
		t.Errorf("the network's config changed: %v, %v, %v", c.UpdateProb, c.Optimizer.DecaySteps, c.SGOptim.DecaySteps)
	}
	if d := net.hidden[0].Optimizer().Config().DecaySteps; d[0] != 5 {
		t.Errorf("layer0's optimizer decays at %v", d)
	}
}

// While RunEpoch trains, the methods that read or change the network
// refuse to run: called from onStep they return an error, and the epoch
// trains as one without them.
func TestTrainerRefusesCallsWhileTraining(t *testing.T) {
	set := toySet("train", 96, 1)
	for _, exec := range []string{ExecSync, ExecAsync} {
		cfg := smallConfig(CDNI)
		cfg.Exec, cfg.Epochs = exec, 1
		tr := newTrainer(t, cfg, set)
		path := filepath.Join(t.TempDir(), "run.safetensors")
		var errs []error
		_, err := tr.RunEpoch(context.Background(), func(Progress) {
			if len(errs) > 0 {
				return
			}
			_, evalErr := tr.Evaluate(set)
			_, predErr := tr.Predict(set)
			_, sgErr := tr.SGAgreement(set)
			_, runErr := tr.RunEpoch(context.Background(), nil)
			errs = append(errs, tr.Save(path), evalErr, predErr, sgErr, runErr)
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "while RunEpoch trains") {
				t.Errorf("%s: call %d from onStep: %v", exec, k, err)
			}
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: Save from onStep wrote %s", exec, path)
		}
		if err := tr.Save(path); err != nil {
			t.Errorf("%s: Save after the epoch: %v", exec, err)
		}
	}
}

// Nil arguments are errors, not panics.
func TestNilArguments(t *testing.T) {
	tr := newTrainer(t, smallConfig(CDNI), toySet("train", 32, 1))
	if _, err := tr.SGAgreement(nil); err == nil {
		t.Error("SGAgreement(nil) succeeded")
	}
	if _, err := (&Checkpoint{Config: smallConfig(CDNI)}).Network(); err == nil {
		t.Error("the Network of a checkpoint never read succeeded")
	}
	if err := (&Checkpoint{}).TrainsOn(nil); err == nil {
		t.Error("TrainsOn(nil) succeeded")
	}
	if mean, std := InputStats(nil); mean != 0 || std != 1 {
		t.Errorf("InputStats(nil) = %v, %v", mean, std)
	}
}
