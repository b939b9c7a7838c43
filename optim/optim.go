// Package optim holds the first-order optimizers that update a layer's or a
// synthesizer's parameters, each instance with its own state, and the step
// decay schedule of the learning rate.
package optim

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/kernels"
)

// Kind names an optimizer.
type Kind string

// The optimizers.
const (
	Adam Kind = "adam" // Adam with bias correction
	SGD  Kind = "sgd"  // SGD with heavy-ball momentum
)

// Config describes an optimizer and its learning-rate schedule.
type Config struct {
	Kind     Kind    `json:"kind"`
	LR       float64 `json:"lr"`
	Momentum float64 `json:"momentum,omitempty"` // SGD only
	Beta1    float64 `json:"beta1,omitempty"`    // Adam only
	Beta2    float64 `json:"beta2,omitempty"`    // Adam only
	Eps      float64 `json:"eps,omitempty"`      // Adam only
	// DecaySteps lists the steps at which the learning rate is multiplied by
	// DecayFactor, as in the paper's ÷10 schedule.
	DecaySteps  []int   `json:"decay_steps,omitempty"`
	DecayFactor float64 `json:"decay_factor,omitempty"`
}

// DefaultAdam returns Adam with the usual β₁=0.9, β₂=0.999, ε=1e-8.
func DefaultAdam(lr float64) Config {
	return Config{Kind: Adam, LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, DecayFactor: 0.1}
}

// Validate reports the first problem with c, if any.
func (c Config) Validate() error {
	if !float32Positive(c.LR) {
		return fmt.Errorf("learning rate must be a positive number within float32's range (%.3g to %.3g), got %v", minNormal32, math.MaxFloat32, c.LR)
	}
	switch c.Kind {
	case Adam:
		if !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) {
			return fmt.Errorf("adam betas must be in [0,1), got %v and %v", c.Beta1, c.Beta2)
		}
		if !float32Positive(c.Eps) {
			return fmt.Errorf("adam epsilon must be a positive number within float32's range (%.3g to %.3g), got %v", minNormal32, math.MaxFloat32, c.Eps)
		}
	case SGD:
		if !(c.Momentum >= 0 && c.Momentum < 1) {
			return fmt.Errorf("momentum must be in [0,1), got %v", c.Momentum)
		}
	default:
		return fmt.Errorf("unknown optimizer %q (want adam or sgd)", c.Kind)
	}
	if len(c.DecaySteps) > 0 && !(c.DecayFactor > 0 && c.DecayFactor <= 1) {
		return fmt.Errorf("decay factor must be in (0,1], got %v", c.DecayFactor)
	}
	for i, s := range c.DecaySteps {
		if s <= 0 || (i > 0 && s <= c.DecaySteps[i-1]) {
			return fmt.Errorf("decay steps must be positive and increasing, got %v", c.DecaySteps)
		}
	}
	return nil
}

// minNormal32 is the least normal float32.
const minNormal32 = 0x1p-126

// float32Positive reports whether x is positive and float32, in which the
// kernels compute, holds it as a normal number: neither rounded to zero
// nor to infinity.
func float32Positive(x float64) bool { return x >= minNormal32 && x <= math.MaxFloat32 }

// RateAt returns the learning rate in force at the given 0-based step.
func (c Config) RateAt(step int) float64 {
	passed := sort.SearchInts(c.DecaySteps, step+1)
	return c.LR * math.Pow(c.DecayFactor, float64(passed))
}

// Optimizer updates one set of parameters. It owns its state (moments,
// velocities, step count), so every layer and every synthesizer can be
// updated on its own, without any state shared with the others.
type Optimizer struct {
	cfg   Config
	steps int
	// slots[k] holds the per-parameter state tensors of parameter k.
	slots [][]*tensor.Dense
	// split, when set, shares out the updates of float32 parameters
	// (SetSplit); updates[k] is parameter k's, made once.
	split   *kernels.Gemm
	updates []update32
}

// splitGrain is the least number of elements of a parameter that Step
// gives a goroutine.
const splitGrain = 1 << 14

// SplitUnit is what the parts of a split update start at multiples of
// (kernels.ShardRange): a multiple of every vector width of the kernels,
// so that each element is updated by the same instructions however the
// update is split. Package fused sums a parameter's gradient in the same
// parts, so that each core updates what it summed.
const SplitUnit = 16

// update32 is the update of one float32 parameter, in parts of its
// elements (a kernels.Sharder).
type update32 struct {
	o          *Optimizer
	w, g, m, v []float32 // m is the velocity for SGD; v is nil then
	lr         float64
	parts      int
}

func (u *update32) Shard(p int) {
	lo, hi := kernels.ShardRange(len(u.w), SplitUnit, p, u.parts)
	cfg := u.o.cfg
	if cfg.Kind == SGD {
		kernels.MomentumStep(u.w[lo:hi], u.g[lo:hi], u.m[lo:hi], u.lr, cfg.Momentum)
		return
	}
	kernels.AdamStep32(u.w[lo:hi], u.g[lo:hi], u.m[lo:hi], u.v[lo:hi], u.lr, cfg.Beta1, cfg.Beta2, cfg.Eps, u.o.steps)
}

// SetSplit makes Step share the updates of large float32 parameters out
// with g.Shards, in g.Threads parts (nil: every update on the calling
// goroutine). For parameters large enough to split, the parts are those
// of a module's sums of the weight gradients of the parts of a batch (in
// package fused), so that the core that summed a part of a gradient
// updates that part. The results are the same bits either way.
func (o *Optimizer) SetSplit(g *kernels.Gemm) {
	o.split = g
	if o.updates == nil {
		o.updates = make([]update32, len(o.slots))
	}
}

// New returns an optimizer for parameters shaped and typed like params
// (float32 or float64), after checking cfg.
func New(cfg Config, params []*tensor.Dense) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A copy of the caller's slice, which may change.
	o := &Optimizer{cfg: cfg.clone(), slots: make([][]*tensor.Dense, len(params))}
	for k, p := range params {
		if p == nil {
			return nil, fmt.Errorf("optimizer: parameter %d is missing", k)
		}
		if dt := p.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
			return nil, fmt.Errorf("optimizer: unsupported parameter type %v", dt)
		}
		for range o.SlotNames() {
			o.slots[k] = append(o.slots[k], tensor.New(tensor.WithShape(p.Shape().Clone()...), tensor.Of(p.Dtype())))
		}
	}
	return o, nil
}

// SlotNames names the state tensors kept per parameter, in order.
func (o *Optimizer) SlotNames() []string {
	if o.cfg.Kind == SGD {
		return []string{"velocity"}
	}
	return []string{"adam_m", "adam_v"}
}

// Slots returns the state tensors of parameter k, in SlotNames order. They
// may be written to restore a checkpoint.
func (o *Optimizer) Slots(k int) []*tensor.Dense { return o.slots[k] }

// Steps returns how many updates have been applied.
func (o *Optimizer) Steps() int { return o.steps }

// SetSteps sets the update count, when restoring a checkpoint.
func (o *Optimizer) SetSteps(n int) { o.steps = n }

// Config returns the optimizer's configuration. Its DecaySteps is the
// optimizer's own, read on every step: the caller must not change it.
// (Copying it here would allocate on every step of the modules that read
// the configuration as they update.)
func (o *Optimizer) Config() Config { return o.cfg }

// clone returns c with a slice of its own.
func (c Config) clone() Config {
	c.DecaySteps = slices.Clone(c.DecaySteps)
	return c
}

// Step applies one update to params from grads (same order and shapes as
// the params given to New).
func (o *Optimizer) Step(params, grads []*tensor.Dense) error {
	if len(params) != len(o.slots) || len(grads) != len(o.slots) {
		return fmt.Errorf("optimizer holds state for %d parameters, got %d parameters and %d gradients", len(o.slots), len(params), len(grads))
	}
	for k, p := range params {
		s, g := o.slots[k][0], grads[k]
		if p == nil || g == nil {
			return fmt.Errorf("optimizer: parameter %d or its gradient is missing", k)
		}
		if p.Dtype() != s.Dtype() || g.Dtype() != s.Dtype() || p.Size() != s.Size() || g.Size() != s.Size() {
			return fmt.Errorf("optimizer: parameter %d is %v of %d elements and its gradient %v of %d, want %v of %d",
				k, p.Dtype(), p.Size(), g.Dtype(), g.Size(), s.Dtype(), s.Size())
		}
	}
	lr := o.cfg.RateAt(o.steps)
	o.steps++
	// Float32s and Float64s, unlike Data, do not allocate.
	for k, p := range params {
		s := o.slots[k]
		switch p.Dtype() {
		case tensor.Float32:
			u := update32{o: o, w: p.Float32s(), g: grads[k].Float32s(), m: s[0].Float32s(), lr: lr}
			if o.cfg.Kind != SGD {
				u.v = s[1].Float32s()
			}
			if o.split == nil || len(u.w) < 2*splitGrain {
				u.parts = 1
				u.Shard(0)
				continue
			}
			u.parts = max(1, o.split.Threads)
			o.updates[k] = u
			o.split.Shards(u.parts, &o.updates[k])
		case tensor.Float64:
			if o.cfg.Kind == SGD {
				kernels.MomentumStep(p.Float64s(), grads[k].Float64s(), s[0].Float64s(), lr, o.cfg.Momentum)
			} else {
				kernels.AdamStep(p.Float64s(), grads[k].Float64s(), s[0].Float64s(), s[1].Float64s(), lr, o.cfg.Beta1, o.cfg.Beta2, o.cfg.Eps, o.steps)
			}
		default:
			return fmt.Errorf("optimizer: unsupported parameter type %v", p.Dtype())
		}
	}
	return nil
}
