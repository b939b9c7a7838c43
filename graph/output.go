package graph

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

// Output is the top layer: logits = h·W + b and the mean softmax
// cross-entropy against one-hot labels. It is the only layer that sees the
// true loss, and it sends the true gradient ∂L/∂h down.
type Output struct {
	*Affine
	*Learner
	name      string
	dt        tensor.Dtype
	inputGrad bool
	programs  map[programKey]*outputProgram
}

type outputProgram struct {
	*Program
	x, labels, logits, loss, dx *G.Node
	logitsBuf, dxBuf            *tensor.Dense
}

// NewOutput returns the output layer for in inputs and the given number of
// classes. inputGrad says whether Train must return ∂L/∂h.
func NewOutput(name string, in, classes int, inputGrad bool, dt tensor.Dtype, rng *rand.Rand, opt optim.Config) (*Output, error) {
	a, err := NewAffine(name, Spec{In: in, Out: classes, Act: Identity}, dt, rng)
	if err != nil {
		return nil, err
	}
	l, err := NewLearner(a.Params(), opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Output{Affine: a, Learner: l, name: name, dt: dt,
		inputGrad: inputGrad, programs: map[programKey]*outputProgram{}}, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (o *Output) Name() string { return o.name }

func (o *Output) program(batch int, train bool) (*outputProgram, error) {
	key := programKey{batch, train}
	if p, ok := o.programs[key]; ok {
		return p, nil
	}
	b := NewBuilder(o.dt, batch, train)
	p := &outputProgram{x: b.Input("x", o.In), labels: b.Input("labels", o.Out)}
	var err error
	if p.logits, err = b.Dense(o.Affine, p.x); err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if p.loss, err = crossEntropy(p.logits, p.labels, batch, o.dt); err != nil {
		return nil, fmt.Errorf("%s: cross-entropy: %w", o.name, err)
	}
	var wrt, extra G.Nodes
	var loss *G.Node
	if train {
		loss = p.loss
		if o.inputGrad {
			wrt = G.Nodes{p.x}
		}
	}
	if p.Program, extra, err = b.Compile(G.Nodes{p.x, p.labels}, G.Nodes{p.logits, p.loss}, loss, nil, wrt); err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if len(extra) > 0 {
		p.dx = extra[0]
		p.dxBuf = tensor.New(tensor.WithShape(batch, o.In), tensor.Of(o.dt))
	}
	p.logitsBuf = tensor.New(tensor.WithShape(batch, o.Out), tensor.Of(o.dt))
	o.programs[key] = p
	return p, nil
}

// crossEntropy returns −(1/B)·Σ labels ⊙ log softmax(logits).
func crossEntropy(logits, labels *G.Node, batch int, dt tensor.Dtype) (*G.Node, error) {
	logp, err := G.LogSoftMax(logits, 1)
	if err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(labels, logp)
	if err != nil {
		return nil, err
	}
	total, err := G.Sum(picked)
	if err != nil {
		return nil, err
	}
	return G.Div(total, Constant(dt, -float64(batch)))
}

// Train runs forward and backward on a training batch with one-hot labels.
// It stores the parameter gradients, and returns the mean loss, the logits
// and ∂L/∂h (nil without an input gradient). The returned tensors are owned
// by the layer until its next call with the same batch size.
func (o *Output) Train(x, labels *tensor.Dense) (loss float64, logits, dx *tensor.Dense, err error) {
	p, err := o.bind(x, labels, true)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := p.Backward(); err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if p.dx != nil {
		if err := CopyValue(p.dxBuf, p.dx.Value()); err != nil {
			return 0, nil, nil, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	if err := CopyValue(p.logitsBuf, p.logits.Value()); err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", o.name, err)
	}
	return Scalar(p.loss.Value()), p.logitsBuf, p.dxBuf, nil
}

// Evaluate returns the mean loss and the logits of a batch without training.
func (o *Output) Evaluate(x, labels *tensor.Dense) (loss float64, logits *tensor.Dense, err error) {
	p, err := o.bind(x, labels, false)
	if err != nil {
		return 0, nil, err
	}
	if err := p.Forward(); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if err := CopyValue(p.logitsBuf, p.logits.Value()); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", o.name, err)
	}
	return Scalar(p.loss.Value()), p.logitsBuf, nil
}

func (o *Output) bind(x, labels *tensor.Dense, train bool) (*outputProgram, error) {
	rows, err := BatchRows(x, o.name+": input")
	if err != nil {
		return nil, err
	}
	p, err := o.program(rows, train)
	if err != nil {
		return nil, err
	}
	if err := Bind(p.x, x); err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if err := Bind(p.labels, labels); err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	return p, nil
}
