package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// GradientModel is what a decoupled layer asks for its synthetic gradient:
// Predict gives ĝ_i for the layer's output h_i, Learn regresses onto the
// target δ_i once the layer above has pushed it back, Update applies what
// Learn computed. synth.Synthesizer is the model the engine builds; tests
// plug in exact oracles.
type GradientModel interface {
	Predict(h, labels *tensor.Dense) (*tensor.Dense, error)
	Learn(h, labels, target *tensor.Dense) (loss float64, err error)
	Update() error
}

// module is a part of the network with named parameters and its own
// optimizer: a layer or a synthesizer. Checkpoints save modules.
type module interface {
	Name() string
	Params() []*graph.Param
	Stats() []*graph.Param
	Optimizer() *optim.Optimizer
}

// Network is the layers of a model and, in decoupled modes, one gradient
// model per hidden layer. Nothing mutable is shared between layers.
type Network struct {
	cfg    Config
	hidden []Layer
	top    OutputLayer
	models []GradientModel // models[i] predicts ∂L/∂h for hidden[i]
}

// Random-number streams: layers and synthesizers draw their initial weights
// from separate streams, so that a backprop network and a decoupled one built
// from the same seed start from the same layer weights.
const (
	layerStream = 1
	synthStream = 2
)

// NewNetwork builds a network from a validated config.
func NewNetwork(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	act, _ := graph.ParseActivation(cfg.Activation)
	backend, err := NewBackend(cfg.Backend, cfg.Threads)
	if err != nil {
		return nil, err
	}
	n := &Network{cfg: cfg}
	rng := rand.New(rand.NewPCG(cfg.Seed, layerStream))
	in := cfg.Inputs
	for i := 0; i < cfg.Layers-1; i++ {
		spec := graph.Spec{In: in, Out: cfg.Hidden, Act: act, BatchNorm: cfg.BatchNorm}
		d, err := backend.Layer(fmt.Sprintf("layer%d", i), spec, i > 0, rng, cfg.Optimizer)
		if err != nil {
			return nil, err
		}
		n.hidden = append(n.hidden, d)
		in = cfg.Hidden
	}
	top, err := backend.Output(fmt.Sprintf("layer%d", cfg.Layers-1), in, cfg.Classes, cfg.Layers > 1, rng, cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	n.top = top
	if !cfg.Mode.Decoupled() {
		return n, nil
	}
	rng = rand.New(rand.NewPCG(cfg.Seed, synthStream))
	for i := range n.hidden {
		sc := synth.Config{In: cfg.Hidden, Hidden: cfg.SGHidden, Width: cfg.SGWidth, BatchNorm: cfg.SGBatchNorm, Scale: cfg.SGScale}
		if cfg.Mode == CDNI {
			sc.Classes = cfg.Classes
		}
		s, err := backend.Synthesizer(fmt.Sprintf("synth%d", i), sc, rng, cfg.SGOptim)
		if err != nil {
			return nil, err
		}
		n.models = append(n.models, s)
	}
	return n, nil
}

// Config returns the network's configuration.
func (n *Network) Config() Config { return n.cfg }

// modules lists the layers bottom to top, then the synthesizers.
func (n *Network) modules() []module {
	var ms []module
	for _, d := range n.hidden {
		ms = append(ms, d)
	}
	ms = append(ms, n.top)
	for _, m := range n.models {
		if s, ok := m.(module); ok {
			ms = append(ms, s)
		}
	}
	return ms
}

// ParamCount returns the number of trainable parameters of the layers and of
// the synthesizers.
func (n *Network) ParamCount() (layers, synths int) {
	for _, m := range n.Describe() {
		if strings.HasPrefix(m.What, "synthesizer") {
			synths += m.Params
		} else {
			layers += m.Params
		}
	}
	return layers, synths
}

// stepResult is what one training step reports.
type stepResult struct {
	loss   float64       // mean cross-entropy of the batch
	logits *tensor.Dense // of the batch, before the update
	sgLoss float64       // mean L2 loss of the synthesizers (0 in bprop)
}

// trainStep runs one training step of the configured mode on batch x with
// one-hot labels.
func (n *Network) trainStep(x, labels *tensor.Dense) (stepResult, error) {
	if n.cfg.Mode.Decoupled() {
		return n.decoupledStep(x, labels)
	}
	return n.backpropStep(x, labels)
}

// backpropStep is the locked baseline: forward through every layer, then the
// true gradient flows down and each layer updates when it arrives.
func (n *Network) backpropStep(x, labels *tensor.Dense) (stepResult, error) {
	h := x
	var err error
	for _, layer := range n.hidden {
		if h, err = layer.Forward(h, true); err != nil {
			return stepResult{}, err
		}
	}
	loss, logits, g, err := n.top.Train(h, labels)
	if err != nil {
		return stepResult{}, err
	}
	if err := n.top.Update(); err != nil {
		return stepResult{}, err
	}
	for i := len(n.hidden) - 1; i >= 0; i-- {
		if g, err = n.hidden[i].Backward(g); err != nil {
			return stepResult{}, err
		}
		if err := n.hidden[i].Update(); err != nil {
			return stepResult{}, err
		}
	}
	return stepResult{loss: loss, logits: logits}, nil
}

// decoupledStep is one DNI/cDNI step, layer by layer from the bottom. Layer i
// computes h_i, asks M_i for ĝ_i, updates at once from ĝ_i·∂h_i/∂θ_i and
// pushes δ_{i-1} = ĝ_i·∂h_i/∂h_{i-1} down as the regression target of
// M_{i-1} (bootstrapping). The top layer sends the true gradient of the loss
// as the target of the last synthesizer.
func (n *Network) decoupledStep(x, labels *tensor.Dense) (stepResult, error) {
	var sgLoss float64
	// learn trains M_i on the target pushed back from layer i+1.
	learn := func(i int, h, target *tensor.Dense) error {
		l, err := n.models[i].Learn(h, labels, target)
		if err != nil {
			return err
		}
		sgLoss += l
		return n.models[i].Update()
	}
	in := x
	for i, layer := range n.hidden {
		h, err := layer.Forward(in, true)
		if err != nil {
			return stepResult{}, err
		}
		gHat, err := n.models[i].Predict(h, labels)
		if err != nil {
			return stepResult{}, err
		}
		delta, err := layer.Backward(gHat)
		if err != nil {
			return stepResult{}, err
		}
		if err := layer.Update(); err != nil {
			return stepResult{}, err
		}
		if i > 0 {
			if err := learn(i-1, in, delta); err != nil {
				return stepResult{}, err
			}
		}
		in = h
	}
	loss, logits, trueGrad, err := n.top.Train(in, labels)
	if err != nil {
		return stepResult{}, err
	}
	if err := n.top.Update(); err != nil {
		return stepResult{}, err
	}
	if err := learn(len(n.hidden)-1, in, trueGrad); err != nil {
		return stepResult{}, err
	}
	return stepResult{loss: loss, logits: logits, sgLoss: sgLoss / float64(len(n.models))}, nil
}

// evaluate returns the summed loss and the logits of a batch, without
// training (batch norm uses its running statistics).
func (n *Network) evaluate(x, labels *tensor.Dense) (float64, *tensor.Dense, error) {
	h := x
	var err error
	for _, layer := range n.hidden {
		if h, err = layer.Forward(h, false); err != nil {
			return 0, nil, err
		}
	}
	return n.top.Evaluate(h, labels)
}

// ModuleInfo describes one layer or synthesizer for people.
type ModuleInfo struct {
	Name   string // e.g. "layer0", "synth1"
	What   string // e.g. "dense 784→256 relu"
	Params int    // trainable parameters
}

// Describe lists the network's layers, bottom to top, then its
// synthesizers.
func (n *Network) Describe() []ModuleInfo {
	var out []ModuleInfo
	count := func(m module) int {
		c := 0
		for _, p := range m.Params() {
			c += p.Size()
		}
		return c
	}
	for _, d := range n.hidden {
		s := d.LayerSpec()
		what := fmt.Sprintf("dense %d→%d %v", s.In, s.Out, s.Act)
		if s.BatchNorm {
			what += " batchnorm"
		}
		out = append(out, ModuleInfo{d.Name(), what, count(d)})
	}
	top := n.top.LayerSpec()
	out = append(out, ModuleInfo{n.top.Name(), fmt.Sprintf("output %d→%d softmax cross-entropy", top.In, top.Out), count(n.top)})
	for _, m := range n.models {
		s, ok := m.(Synthesizer)
		if !ok {
			continue
		}
		c := s.Config()
		in := "h"
		if c.Classes > 0 {
			in = "[h, label]"
		}
		what := fmt.Sprintf("synthesizer %s (%d) → ĝ (%d), linear", in, c.In+c.Classes, c.In)
		if c.Hidden > 0 {
			what = fmt.Sprintf("synthesizer %s (%d) → %d×%d relu → ĝ (%d)", in, c.In+c.Classes, c.Hidden, c.Width, c.In)
		}
		out = append(out, ModuleInfo{s.Name(), what, count(s)})
	}
	return out
}
