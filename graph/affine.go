package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Activation is an elementwise nonlinearity applied after a dense transform.
type Activation int

// The activations.
const (
	Identity Activation = iota
	ReLU
	Tanh
	Sigmoid
)

var activationNames = []string{"identity", "relu", "tanh", "sigmoid"}

// String returns the activation's flag name.
func (a Activation) String() string {
	if a >= 0 && int(a) < len(activationNames) {
		return activationNames[a]
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ParseActivation returns the activation named s.
func ParseActivation(s string) (Activation, error) {
	for i, n := range activationNames {
		if s == n {
			return Activation(i), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want one of %s)", s, strings.Join(activationNames, ", "))
}

func (a Activation) apply(x *G.Node) (*G.Node, error) {
	switch a {
	case Identity:
		return x, nil
	case ReLU:
		return G.Rectify(x)
	case Tanh:
		return G.Tanh(x)
	case Sigmoid:
		return G.Sigmoid(x)
	}
	return nil, fmt.Errorf("unknown activation %d", int(a))
}

// Spec describes one dense transform h = act(BN(x·W + b)).
type Spec struct {
	In, Out   int
	Act       Activation
	BatchNorm bool // when set, BN's β replaces the bias b
	ZeroInit  bool // all parameters start at zero (a synthesizer's last layer)
}

// Batch norm constants, as in PyTorch's defaults: ε under the square root,
// and the weight of a batch's statistics in the running ones.
const (
	BatchNormEps      = 1e-5
	BatchNormMomentum = 0.1
)

// Pass says what a forward pass through a transform is for, which decides
// how batch norm treats its statistics.
type Pass int

// The passes.
const (
	// EvalPass normalises with the running statistics.
	EvalPass Pass = iota
	// TrainPass normalises with the batch's statistics and folds them into
	// the running ones.
	TrainPass
	// RefitPass is TrainPass again on a batch already seen, to recompute
	// what a backward pass needs: the running statistics stay as they are.
	RefitPass
)

// PassOf returns the pass of a layer's forward pass: TrainPass when
// training, else EvalPass.
func PassOf(train bool) Pass {
	if train {
		return TrainPass
	}
	return EvalPass
}

// Affine holds the parameters of one Spec: W and b, or W, γ and β with the
// running statistics batch norm uses at evaluation time.
type Affine struct {
	Spec
	W, B, Gamma, Beta *Param
	RunMean, RunVar   *Param
}

// NewAffine returns the parameters for s, named with the given prefix and
// initialised as PyTorch's nn.Linear does (U(±1/√in) for W and b), or to zero
// when s.ZeroInit is set.
func NewAffine(prefix string, s Spec, dt tensor.Dtype, rng *rand.Rand) (*Affine, error) {
	if s.In <= 0 || s.Out <= 0 {
		return nil, fmt.Errorf("%s: dense %d→%d: sizes must be positive", prefix, s.In, s.Out)
	}
	if rng == nil {
		return nil, fmt.Errorf("%s: no random source for the initial weights", prefix)
	}
	if s.Act < 0 || int(s.Act) >= len(activationNames) {
		return nil, fmt.Errorf("%s: unknown activation %d", prefix, int(s.Act))
	}
	a := &Affine{Spec: s, W: newParam(prefix+".W", dt, true, s.In, s.Out)}
	limit := 1 / math.Sqrt(float64(s.In))
	if !s.ZeroInit {
		initUniform(a.W.Value, rng, limit)
	}
	if s.BatchNorm {
		a.Gamma = newParam(prefix+".bn_gamma", dt, true, s.Out)
		a.Beta = newParam(prefix+".bn_beta", dt, true, s.Out)
		a.RunMean = newParam(prefix+".bn_mean", dt, false, s.Out)
		a.RunVar = newParam(prefix+".bn_var", dt, false, s.Out)
		fill(a.Gamma.Value, func() float64 { return 1 })
		fill(a.RunVar.Value, func() float64 { return 1 })
		return a, nil
	}
	a.B = newParam(prefix+".b", dt, true, s.Out)
	if !s.ZeroInit {
		initUniform(a.B.Value, rng, limit)
	}
	return a, nil
}

// LayerSpec returns what the transform computes.
func (a *Affine) LayerSpec() Spec { return a.Spec }

// Params returns the trainable parameters.
func (a *Affine) Params() []*Param {
	if a.BatchNorm {
		return []*Param{a.W, a.Gamma, a.Beta}
	}
	return []*Param{a.W, a.B}
}

// Stats returns the running statistics (none without batch norm).
func (a *Affine) Stats() []*Param {
	if a.BatchNorm {
		return []*Param{a.RunMean, a.RunVar}
	}
	return nil
}

// batchStats are the nodes holding one forward pass's batch mean and
// (biased) variance, folded into the running statistics afterwards.
type batchStats struct {
	a         *Affine
	mean, vr  *G.Node
	batchSize int
}

// fold updates the running statistics from the batch statistics of the last
// forward pass, with PyTorch's momentum and unbiased variance.
func (s batchStats) fold() {
	n := float64(s.batchSize)
	unbias := n / math.Max(n-1, 1)
	blend := func(run *tensor.Dense, batch G.Value, scale float64) {
		switch r := run.Data().(type) {
		case []float32:
			b := batch.Data().([]float32)
			for i := range r {
				r[i] = float32((1-BatchNormMomentum)*float64(r[i]) + BatchNormMomentum*scale*float64(b[i]))
			}
		case []float64:
			b := batch.Data().([]float64)
			for i := range r {
				r[i] = (1-BatchNormMomentum)*r[i] + BatchNormMomentum*scale*b[i]
			}
		}
	}
	blend(s.a.RunMean.Value, s.mean.Value(), 1)
	blend(s.a.RunVar.Value, s.vr.Value(), unbias)
}

// Stack is a sequence of dense transforms, input first, such as the layers
// of a synthesizer.
type Stack []*Affine

// Params returns the trainable parameters, transform by transform.
func (s Stack) Params() []*Param {
	var ps []*Param
	for _, a := range s {
		ps = append(ps, a.Params()...)
	}
	return ps
}

// Stats returns the batch-norm running statistics, if any.
func (s Stack) Stats() []*Param {
	var ps []*Param
	for _, a := range s {
		ps = append(ps, a.Stats()...)
	}
	return ps
}
