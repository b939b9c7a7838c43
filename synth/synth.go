// Package synth holds the synthetic-gradient models of decoupled neural
// interfaces: M_i maps a layer's output h_i (and, for cDNI, the one-hot
// label) to ĝ_i ≈ ∂L/∂h_i, and learns by L2 regression onto the target δ_i
// that the layer above pushes back. The same models, configured with Input,
// predict a layer's input Î_i ≈ h_{i-1} from the network's input x: the
// synthetic inputs that unlock the forward pass too.
package synth

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
)

// Config describes a synthesizer.
type Config struct {
	In        int     `json:"in"`         // width of h_i, and of ĝ_i
	Classes   int     `json:"classes"`    // > 0: condition on the one-hot label (cDNI)
	Hidden    int     `json:"hidden"`     // hidden ReLU layers; 0 gives a linear model
	Width     int     `json:"width"`      // units per hidden layer
	BatchNorm bool    `json:"batch_norm"` // batch norm in the hidden layers
	Scale     float64 `json:"scale"`      // ĝ_i is the model's output times Scale/batch size
	// Out is the width of the prediction; 0 means In, as for a gradient.
	Out int `json:"out,omitempty"`
	// Input makes the model predict an activation (a synthetic input)
	// rather than a batch-mean gradient: its prediction is its output times
	// Scale, and its loss the mean over the batch of ‖pred − target‖².
	Input bool `json:"input,omitempty"`
}

// OutWidth returns the width of the prediction.
func (c Config) OutWidth() int {
	if c.Out > 0 {
		return c.Out
	}
	return c.In
}

// PredictionScale returns the factor between the model's output and its
// prediction for a batch of the given size: Scale/batch for a gradient
// (the model works in per-sample units, B·∂L/∂h, whatever the batch size;
// L is the batch mean), Scale for an input.
func (c Config) PredictionScale(batch int) float64 {
	if c.Input {
		return c.Scale
	}
	return c.Scale / float64(batch)
}

// LossWeight returns w in the regression loss w·Σ‖pred − target‖² for a
// batch of the given size: batch for a gradient, which makes the loss the
// mean squared error of the per-sample gradients B·pred_n and B·target_n;
// 1/batch for an input, the mean squared error of the samples.
func (c Config) LossWeight(batch int) float64 {
	if c.Input {
		return 1 / float64(batch)
	}
	return float64(batch)
}

// Validate reports the first problem with c, if any.
func (c Config) Validate() error {
	switch {
	case c.In <= 0:
		return fmt.Errorf("synthesizer input width must be positive, got %d", c.In)
	case c.Classes < 0:
		return fmt.Errorf("synthesizer classes must not be negative, got %d", c.Classes)
	case c.Hidden < 0:
		return fmt.Errorf("synthesizer hidden layers must not be negative, got %d", c.Hidden)
	case c.Hidden > 0 && c.Width <= 0:
		return fmt.Errorf("synthesizer width must be positive, got %d", c.Width)
	case c.Out < 0:
		return fmt.Errorf("synthesizer output width must not be negative, got %d", c.Out)
	case !(c.Scale > 0):
		return fmt.Errorf("synthesizer output scale must be positive, got %v", c.Scale)
	}
	return nil
}

// Layer names one dense transform of a synthesizer.
type Layer struct {
	Name string
	Spec graph.Spec
}

// Layers returns the dense transforms of a synthesizer named name, input
// first: cfg.Hidden ReLU layers of cfg.Width units (batch norm optional),
// then a linear layer to the width of h that starts at zero. Every
// implementation of synthesizers builds this architecture.
func Layers(name string, cfg Config) ([]Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var ls []Layer
	in := cfg.In + cfg.Classes
	for i := 0; i < cfg.Hidden; i++ {
		ls = append(ls, Layer{fmt.Sprintf("%s.hidden%d", name, i), graph.Spec{In: in, Out: cfg.Width, Act: graph.ReLU, BatchNorm: cfg.BatchNorm}})
		in = cfg.Width
	}
	return append(ls, Layer{name + ".out", graph.Spec{In: in, Out: cfg.OutWidth(), Act: graph.Identity, ZeroInit: true}}), nil
}

// Synthesizer is one model M_i with its own graphs, machines and optimizer.
type Synthesizer struct {
	*graph.Learner
	cfg         Config
	name        string
	dt          tensor.Dtype
	graph.Stack // the dense transforms, input first
	programs    map[int]*program
}

type program struct {
	*graph.Program
	h, labels, target, pred, loss *G.Node
	predBuf                       *tensor.Dense
}

// New returns a synthesizer whose last layer starts at zero, so that its
// first predictions are exactly zero.
func New(name string, cfg Config, dt tensor.Dtype, rng *rand.Rand, opt optim.Config) (*Synthesizer, error) {
	s := &Synthesizer{cfg: cfg, name: name, dt: dt, programs: map[int]*program{}}
	specs, err := Layers(name, cfg)
	if err != nil {
		return nil, err
	}
	for _, l := range specs {
		a, err := graph.NewAffine(l.Name, l.Spec, dt, rng)
		if err != nil {
			return nil, err
		}
		s.Stack = append(s.Stack, a)
	}
	if s.Learner, err = graph.NewLearner(s.Params(), opt); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Name returns the synthesizer's name, the prefix of its parameters' names.
func (s *Synthesizer) Name() string { return s.name }

// Config returns the synthesizer's configuration.
func (s *Synthesizer) Config() Config { return s.cfg }

func (s *Synthesizer) program(batch int) (*program, error) {
	if p, ok := s.programs[batch]; ok {
		return p, nil
	}
	b := graph.NewBuilder(s.dt, batch, true)
	p := &program{h: b.Input("h", s.cfg.In), target: b.Input("target", s.cfg.OutWidth())}
	x, inputs := p.h, G.Nodes{p.h}
	var err error
	if s.cfg.Classes > 0 {
		p.labels = b.Input("labels", s.cfg.Classes)
		inputs = append(inputs, p.labels)
		if x, err = G.Concat(1, p.h, p.labels); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for _, a := range s.Stack {
		if x, err = b.Dense(a, x); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if p.pred, err = G.Mul(x, graph.Constant(s.dt, s.cfg.PredictionScale(batch))); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if p.loss, err = squaredError(p.pred, p.target, s.cfg.LossWeight(batch), s.dt); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if p.Program, _, err = b.Compile(inputs, G.Nodes{p.pred}, p.loss, nil, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	p.predBuf = tensor.New(tensor.WithShape(batch, s.cfg.OutWidth()), tensor.Of(s.dt))
	s.programs[batch] = p
	return p, nil
}

// squaredError returns weight·Σ‖pred−target‖², the L2 regression loss of a
// synthesizer (see Config.LossWeight).
func squaredError(pred, target *G.Node, weight float64, dt tensor.Dtype) (*G.Node, error) {
	diff, err := G.Sub(pred, target)
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(diff)
	if err != nil {
		return nil, err
	}
	total, err := G.Sum(sq)
	if err != nil {
		return nil, err
	}
	return G.Mul(total, graph.Constant(dt, weight))
}

func (s *Synthesizer) bind(p *program, h, labels *tensor.Dense) error {
	if err := graph.Bind(p.h, h); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if p.labels != nil {
		if labels == nil {
			return fmt.Errorf("%s: a label-conditioned synthesizer needs labels", s.name)
		}
		if err := graph.Bind(p.labels, labels); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// Predict returns ĝ_i for the batch h_i (labels: one-hot, used only when
// the synthesizer is conditioned). The result is owned by the synthesizer
// until its next Predict with the same batch size.
func (s *Synthesizer) Predict(h, labels *tensor.Dense) (*tensor.Dense, error) {
	rows, err := graph.BatchRows(h, s.name+": input")
	if err != nil {
		return nil, err
	}
	p, err := s.program(rows)
	if err != nil {
		return nil, err
	}
	if err := s.bind(p, h, labels); err != nil {
		return nil, err
	}
	if err := p.Forward(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if err := graph.CopyValue(p.predBuf, p.pred.Value()); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return p.predBuf, nil
}

// Learn computes the gradients of the L2 loss between M(h, labels) and the
// target δ_i into the parameters' Grad tensors and returns the loss. Update
// applies them.
func (s *Synthesizer) Learn(h, labels, target *tensor.Dense) (float64, error) {
	rows, err := graph.BatchRows(h, s.name+": input")
	if err != nil {
		return 0, err
	}
	p, err := s.program(rows)
	if err != nil {
		return 0, err
	}
	if err := s.bind(p, h, labels); err != nil {
		return 0, err
	}
	if err := graph.Bind(p.target, target); err != nil {
		return 0, fmt.Errorf("%s: %w", s.name, err)
	}
	if err := p.Backward(); err != nil {
		return 0, fmt.Errorf("%s: %w", s.name, err)
	}
	return graph.Scalar(p.loss.Value()), nil
}
