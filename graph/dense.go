package graph

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

// Dense is a hidden layer h_i = act(BN(h_{i-1}·W + b)) with its own graphs,
// machines and optimizer.
type Dense struct {
	*Affine
	*Learner
	name      string
	dt        tensor.Dtype
	inputGrad bool
	programs  map[programKey]*denseProgram
	last      *denseProgram // the training program of the last Forward
}

type denseProgram struct {
	*Program
	x, upstream, out, dx *G.Node
	outBuf, dxBuf        *tensor.Dense
}

// NewDense returns a hidden layer. inputGrad says whether Backward must
// produce δ_{i-1} (not needed for the first layer, whose input is data).
func NewDense(name string, s Spec, inputGrad bool, dt tensor.Dtype, rng *rand.Rand, opt optim.Config) (*Dense, error) {
	a, err := NewAffine(name, s, dt, rng)
	if err != nil {
		return nil, err
	}
	l, err := NewLearner(a.Params(), opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Dense{Affine: a, Learner: l, name: name, dt: dt,
		inputGrad: inputGrad, programs: map[programKey]*denseProgram{}}, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (d *Dense) Name() string { return d.name }

func (d *Dense) program(batch int, train bool) (*denseProgram, error) {
	key := programKey{batch, train}
	if p, ok := d.programs[key]; ok {
		return p, nil
	}
	b := NewBuilder(d.dt, batch, train)
	p := &denseProgram{x: b.Input("x", d.In)}
	var err error
	if p.out, err = b.Dense(d.Affine, p.x); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	var wrt G.Nodes
	if train {
		p.upstream = b.Input("upstream", d.Out)
		if d.inputGrad {
			wrt = G.Nodes{p.x}
		}
		var extra G.Nodes
		if p.Program, extra, err = b.Compile(G.Nodes{p.x}, G.Nodes{p.out}, p.out, p.upstream, wrt); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		if d.inputGrad {
			p.dx = extra[0]
			p.dxBuf = tensor.New(tensor.WithShape(batch, d.In), tensor.Of(d.dt))
		}
	} else if p.Program, _, err = b.Compile(G.Nodes{p.x}, G.Nodes{p.out}, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	p.outBuf = tensor.New(tensor.WithShape(batch, d.Out), tensor.Of(d.dt))
	d.programs[key] = p
	return p, nil
}

// Forward computes h_i from the batch x (rows are samples). The result is
// owned by the layer and valid until the next Forward with the same batch
// size and mode. In training it also folds batch-norm statistics and
// prepares Backward.
func (d *Dense) Forward(x *tensor.Dense, train bool) (*tensor.Dense, error) {
	rows, err := BatchRows(x, d.name+": input")
	if err != nil {
		return nil, err
	}
	p, err := d.program(rows, train)
	if err != nil {
		return nil, err
	}
	if err := Bind(p.x, x); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := p.Forward(); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := CopyValue(p.outBuf, p.out.Value()); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if train {
		d.last = p
	}
	return p.outBuf, nil
}

// Backward takes the upstream gradient g_i = ∂L/∂h_i (true or synthetic) for
// the batch of the last training Forward, stores the parameter gradients in
// each Param.Grad and returns δ_{i-1} = g_i·∂h_i/∂h_{i-1} (nil when the layer
// was built without an input gradient).
func (d *Dense) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	p := d.last
	if p == nil {
		return nil, fmt.Errorf("%s: backward before a training forward pass", d.name)
	}
	if err := Bind(p.upstream, g); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := p.Backward(); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if p.dx == nil {
		return nil, nil
	}
	if err := CopyValue(p.dxBuf, p.dx.Value()); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return p.dxBuf, nil
}
