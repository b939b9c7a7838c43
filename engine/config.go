// Package engine trains decoupled networks: it owns the training loop, the
// modes (backprop, DNI, cDNI), synchronous and asynchronous execution,
// batching, evaluation and checkpoints, and leaves the numerics to a
// Backend: the fused CPU kernels (package fused, the default), Gorgonia
// graphs (packages graph and synth, the reference), or a CUDA device
// (package engine/gpu, build tag gpu).
package engine

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
)

// Mode is how layers get the gradient they update from.
type Mode string

// The training modes.
const (
	// Backprop is the locked baseline: every layer waits for the true
	// gradient from the layers above.
	Backprop Mode = "bprop"
	// DNI updates each hidden layer from ĝ_i = M_i(h_i) as soon as its
	// forward pass is done.
	DNI Mode = "dni"
	// CDNI is DNI with synthesizers that also see the one-hot label.
	CDNI Mode = "cdni"
)

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Backprop, DNI, CDNI:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want bprop, dni or cdni)", s)
}

// Decoupled reports whether the mode uses synthetic gradients.
func (m Mode) Decoupled() bool { return m == DNI || m == CDNI }

// Config is everything that defines a training run. It is stored in every
// checkpoint, so a run can be resumed or evaluated from the file alone.
type Config struct {
	Mode       Mode   `json:"mode"`
	Backend    string `json:"backend"`    // CPU or Reference
	Device     string `json:"device"`     // "cpu" (or empty) or "cuda:N"; CUDA devices run the GPU backend
	Threads    int    `json:"threads"`    // goroutines that compute at once, per worker when async (0: all CPUs)
	Exec       string `json:"exec"`       // ExecSync or ExecAsync
	Workers    int    `json:"workers"`    // async: workers, each running consecutive layers (0: one per CPU, at most one per layer)
	Queue      int    `json:"queue"`      // async: batches in flight between two workers; bounds how stale a target may be
	Inputs     int    `json:"inputs"`     // features per sample
	Classes    int    `json:"classes"`    // output classes
	Layers     int    `json:"layers"`     // weight layers, the output layer included
	Hidden     int    `json:"hidden"`     // units per hidden layer
	Activation string `json:"activation"` // of the hidden layers
	BatchNorm  bool   `json:"batch_norm"` // in the hidden layers

	SGHidden    int     `json:"sg_hidden"`     // hidden layers of each synthesizer
	SGWidth     int     `json:"sg_width"`      // their width
	SGBatchNorm bool    `json:"sg_batch_norm"` // batch norm inside synthesizers
	SGScale     float64 `json:"sg_scale"`      // ĝ is the synthesizer's output times this
	// The input models Î_i of Unlock: their hidden layers (with batch norm
	// as SGBatchNorm says) and those layers' width.
	InputHidden int `json:"input_hidden"`
	InputWidth  int `json:"input_width"`

	// Inputs are fed as (x − InputMean)/InputStd; see InputStats.
	InputMean float64 `json:"input_mean"`
	InputStd  float64 `json:"input_std"`

	// Decoupling options (decoupled modes only but UpdateProb).
	Lambda     float64   `json:"lambda"`      // BP(λ): weight of the true gradient in each update
	Unlock     bool      `json:"unlock"`      // synthetic inputs: layer i > 0 trains on Î_i(x) ≈ h_{i-1}
	SGWarmup   int       `json:"sg_warmup"`   // steps during which hidden layers do not update
	UpdateProb []float64 `json:"update_prob"` // per-step update probability: one for all layers, or one per layer

	Batch     int          `json:"batch"`
	EvalBatch int          `json:"eval_batch"`
	Epochs    int          `json:"epochs"`
	Seed      uint64       `json:"seed"`
	Optimizer optim.Config `json:"optimizer"`    // of the layers
	SGOptim   optim.Config `json:"sg_optimizer"` // of the synthesizers
}

// DefaultConfig returns the defaults of the dnitrain CLI for a data set with
// the given number of input features and classes: a 3-layer network of 256
// ReLU units with batch norm (as in the paper's fully connected networks,
// whose synthesizers' hidden layers have batch norm too), trained with cDNI
// and a linear synthesizer, Adam at 3e-4. Two of the CLI's defaults depend
// on more than the sizes, and are left to the caller: it standardises the
// inputs (InputMean and InputStd from InputStats of the training set; here
// 0 and 1), and gives --mode dni synthesizers of 2 hidden layers (SGHidden).
func DefaultConfig(inputs, classes int) Config {
	return Config{
		Mode: CDNI, Backend: CPU, Exec: ExecSync, Queue: 2, Inputs: inputs, Classes: classes,
		Layers: 3, Hidden: 256, Activation: graph.ReLU.String(), BatchNorm: true,
		SGHidden: 0, SGWidth: 1024, SGBatchNorm: true, SGScale: 1, InputStd: 1,
		InputHidden: 2, InputWidth: 256,
		Batch: 256, EvalBatch: 1000, Epochs: 10, Seed: 1,
		Optimizer: optim.DefaultAdam(3e-4), SGOptim: optim.DefaultAdam(3e-4),
	}
}

// batchNormed reports whether any module of c normalises its batches: the
// hidden layers, or the hidden layers of the synthesizers or input models.
func (c Config) batchNormed() bool { return c.batchNormOff() != "" }

// batchNormOff returns the flags that turn off every batch norm of c.
func (c Config) batchNormOff() string {
	var flags []string
	if c.BatchNorm && c.Layers > 1 {
		flags = append(flags, "--batchnorm=false")
	}
	if c.Mode.Decoupled() && c.SGBatchNorm && (c.SGHidden > 0 || c.Unlock && c.InputHidden > 0) {
		flags = append(flags, "--sg-batchnorm=false")
	}
	return strings.Join(flags, " ")
}

// Validate reports the first problem with c, phrased for a command-line user.
func (c Config) Validate() error {
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	if _, err := graph.ParseActivation(c.Activation); err != nil {
		return err
	}
	if _, err := NewBackend(c.Backend, c.Threads); err != nil {
		return err
	}
	if _, err := ParseDevice(c.Device); err != nil {
		return err
	}
	const maxWidth = 1 << 16
	switch {
	case c.Threads < 0 || c.Threads > 1024:
		return fmt.Errorf("--threads must be in 0..1024, got %d", c.Threads)
	case c.Inputs <= 0 || c.Inputs > 1<<20:
		return fmt.Errorf("inputs must be in 1..%d, got %d", 1<<20, c.Inputs)
	case c.Classes < 2 || c.Classes > maxWidth:
		return fmt.Errorf("classes must be in 2..%d, got %d", maxWidth, c.Classes)
	case c.Layers < 1 || c.Layers > 64:
		return fmt.Errorf("--layers must be in 1..64, got %d", c.Layers)
	case c.Mode.Decoupled() && c.Layers < 2:
		return fmt.Errorf("--mode %s needs at least 2 layers (a hidden layer to decouple), got %d", c.Mode, c.Layers)
	case c.Layers > 1 && (c.Hidden < 1 || c.Hidden > maxWidth):
		return fmt.Errorf("--hidden must be in 1..%d, got %d", maxWidth, c.Hidden)
	case c.SGHidden < 0 || c.SGHidden > 16:
		return fmt.Errorf("--sg-hidden must be in 0..16, got %d", c.SGHidden)
	case c.SGHidden > 0 && (c.SGWidth < 1 || c.SGWidth > maxWidth):
		return fmt.Errorf("--sg-width must be in 1..%d, got %d", maxWidth, c.SGWidth)
	case c.InputHidden < 0 || c.InputHidden > 16:
		return fmt.Errorf("--input-hidden must be in 0..16, got %d", c.InputHidden)
	case c.InputHidden > 0 && (c.InputWidth < 1 || c.InputWidth > maxWidth):
		return fmt.Errorf("--input-width must be in 1..%d, got %d", maxWidth, c.InputWidth)
	case !(c.SGScale > 0) || c.SGScale > 1e6:
		return fmt.Errorf("--sg-scale must be in (0, 1e6], got %v", c.SGScale)
	case !(c.InputStd > 0) || !(float32(1/c.InputStd) > 0) || !finite32(1/c.InputStd) || !finite32(c.InputMean):
		// The inputs are standardised in float32, by 1/InputStd.
		return fmt.Errorf("input standardisation needs a finite mean and a positive std, both within float32's range, got %v and %v", c.InputMean, c.InputStd)
	case c.Batch < 1 || c.Batch > 1<<16:
		return fmt.Errorf("--batch must be in 1..%d, got %d", 1<<16, c.Batch)
	case c.Batch == 1 && c.batchNormed():
		return fmt.Errorf("--batch 1 with batch norm: a batch of one sample normalises to zero (use a larger --batch, or %s)", c.batchNormOff())
	case c.EvalBatch < 1 || c.EvalBatch > 1<<16:
		return fmt.Errorf("--eval-batch must be in 1..%d, got %d", 1<<16, c.EvalBatch)
	case c.Epochs < 1 || c.Epochs > 100000:
		return fmt.Errorf("--epochs must be in 1..100000, got %d", c.Epochs)
	}
	if err := c.validateDecoupling(); err != nil {
		return err
	}
	if err := c.Optimizer.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	if c.Mode.Decoupled() {
		if err := c.SGOptim.Validate(); err != nil {
			return fmt.Errorf("synthesizer optimizer: %w", err)
		}
	}
	return nil
}

func (c Config) validateDecoupling() error {
	switch c.Exec {
	case ExecSync:
	case ExecAsync:
		if !c.Mode.Decoupled() {
			return fmt.Errorf("--exec async needs --mode dni or cdni: backprop locks every layer")
		}
		if c.Lambda > 0 {
			return fmt.Errorf("--lambda waits for the true gradient: it needs --exec sync")
		}
	default:
		return fmt.Errorf("unknown --exec %q (want %s or %s)", c.Exec, ExecSync, ExecAsync)
	}
	if c.Workers < 0 || c.Workers > 1024 {
		return fmt.Errorf("--workers must be in 0..1024, got %d", c.Workers)
	}
	if c.Queue < 1 || c.Queue > 1024 {
		return fmt.Errorf("--queue must be in 1..1024, got %d", c.Queue)
	}
	if !(c.Lambda >= 0 && c.Lambda <= 1) {
		return fmt.Errorf("--lambda must be in [0, 1], got %v", c.Lambda)
	}
	if c.Lambda > 0 && !c.Mode.Decoupled() {
		return fmt.Errorf("--lambda mixes synthetic and true gradients: it needs --mode dni or cdni")
	}
	if c.Unlock && (!c.Mode.Decoupled() || c.Lambda > 0) {
		return fmt.Errorf("--unlock needs --mode dni or cdni without --lambda")
	}
	if c.SGWarmup < 0 {
		return fmt.Errorf("--sg-warmup must not be negative, got %d", c.SGWarmup)
	}
	if len(c.UpdateProb) != 0 && len(c.UpdateProb) != 1 && len(c.UpdateProb) != c.Layers {
		return fmt.Errorf("--update-prob takes one probability or one per layer (%d), got %d", c.Layers, len(c.UpdateProb))
	}
	for _, p := range c.UpdateProb {
		if !(p > 0 && p <= 1) {
			return fmt.Errorf("--update-prob values must be in (0, 1], got %v", p)
		}
	}
	return nil
}

// threads returns the goroutines each kernel call may use.
func (c Config) threads() int {
	if c.Threads > 0 {
		return c.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// clone returns c with slices of its own.
func (c Config) clone() Config {
	c.UpdateProb = slices.Clone(c.UpdateProb)
	c.Optimizer.DecaySteps = slices.Clone(c.Optimizer.DecaySteps)
	c.SGOptim.DecaySteps = slices.Clone(c.SGOptim.DecaySteps)
	return c
}

// places returns how many goroutines of a training run may compute at
// once: the threads of each worker.
func (c Config) places() int {
	if c.Exec == ExecAsync {
		return c.workers() * c.threads()
	}
	return c.threads()
}

// workers returns the number of async workers: Workers, or one per CPU,
// at most one per layer.
func (c Config) workers() int {
	if c.Workers > 0 {
		return min(c.Workers, c.Layers)
	}
	return min(runtime.GOMAXPROCS(0), c.Layers)
}

// updateProb returns the probability that layer i updates at a step.
func (c Config) updateProb(i int) float64 {
	switch len(c.UpdateProb) {
	case 0:
		return 1
	case 1:
		return c.UpdateProb[0]
	}
	return c.UpdateProb[i]
}

// finite32 reports whether v is finite in float32.
func finite32(v float64) bool {
	f := float64(float32(v))
	return !math.IsInf(f, 0) && !math.IsNaN(f)
}
