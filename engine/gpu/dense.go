//go:build gpu

package gpu

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
)

// Dense is a hidden layer h_i = act(BN(h_{i-1}·W + b)) on the device.
type Dense struct {
	*graph.Affine
	*state
	inputGrad bool
	buffers   map[cacheKey]*denseBuffers
	last      *denseBuffers // of the last training Forward
}

type denseBuffers struct {
	*affineBuffers
	rows  int
	x, g  cuda.Buffer   // the input and the upstream gradient
	dx    cuda.Buffer   // δ_{i-1}; null without an input gradient
	dxOut *tensor.Dense // its host copy
}

// NewDense returns a hidden layer. inputGrad says whether Backward must
// produce δ_{i-1}. Its parameters are named and initialised as
// graph.NewAffine's.
func NewDense(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config, o Options) (*Dense, error) {
	a, err := graph.NewAffine(name, s, tensor.Float32, rng)
	if err != nil {
		return nil, err
	}
	st, err := newState(name, UpdateSpan, a.Params(), a.Stats(), opt, o)
	if err != nil {
		return nil, err
	}
	return &Dense{Affine: a, state: st, inputGrad: inputGrad, buffers: map[cacheKey]*denseBuffers{}}, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (d *Dense) Name() string { return d.name }

func (d *Dense) buffersFor(rows int, train bool) (*denseBuffers, error) {
	key := cacheKey{rows, train}
	if b, ok := d.buffers[key]; ok {
		return b, nil
	}
	al := d.allocator()
	b := &denseBuffers{affineBuffers: d.state.buffers(al, d.Affine, rows, train), rows: rows, x: al.get(rows * d.In)}
	if train {
		b.g = al.get(rows * d.Out)
		if d.inputGrad {
			b.dx, b.dxOut = al.get(rows*d.In), al.matrix(rows, d.In)
		}
	}
	if al.err != nil {
		return nil, al.err
	}
	d.buffers[key] = b
	return b, nil
}

// Forward computes h_i from the batch x (rows are samples). The result is
// owned by the layer until the next Forward with the same batch size and
// mode.
func (d *Dense) Forward(x *tensor.Dense, train bool) (*tensor.Dense, error) {
	rows, err := checkInput(d.name, "input", x, d.In)
	if err != nil {
		return nil, err
	}
	b, err := d.buffersFor(rows, train)
	if err != nil {
		return nil, err
	}
	if err := d.upload(b.x, data(x)); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	pass := graph.PassOf(train)
	d.handoff.withdraw(data(b.out)) // until the download below renews it
	if err := d.replay(graphKey{"forward", rows, pass}, func() error { return d.forward(d.Affine, b.affineBuffers, b.x, rows, pass) }); err != nil {
		return nil, fmt.Errorf("%s: forward: %w", d.name, err)
	}
	if err := d.download(data(b.out), b.h); err != nil {
		return nil, fmt.Errorf("%s: forward: %w", d.name, err)
	}
	if train {
		d.last = b
	}
	return b.out, nil
}

// Backward takes the upstream gradient g_i for the batch of the last
// training Forward, queues the parameter gradients on the device and
// returns δ_{i-1} (nil when the layer was built without an input
// gradient).
func (d *Dense) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	b := d.last
	if b == nil {
		return nil, fmt.Errorf("%s: backward before a training forward pass", d.name)
	}
	if _, err := checkInput(d.name, "upstream gradient", g, d.Out); err != nil || g.Shape()[0] != b.rows {
		return nil, fmt.Errorf("%s: upstream gradient of shape %v for a batch of %d×%d", d.name, g.Shape(), b.rows, d.Out)
	}
	if err := d.upload(b.g, data(g)); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := d.markUploads(); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	if b.dxOut != nil {
		d.handoff.withdraw(data(b.dxOut)) // until the download below renews it
	}
	err := d.replay(graphKey{"backward", b.rows, graph.TrainPass}, func() error { return d.backward(d.Affine, b.affineBuffers, b.g, b.dx, b.rows) })
	if err == nil && !b.dx.Nil() {
		err = d.download(data(b.dxOut), b.dx) // waits for δ_{i-1}, not for ∂L/∂W
	}
	if err == nil {
		err = d.replay(graphKey{"weight gradient", b.rows, graph.TrainPass}, func() error { return d.weightGradient(d.Affine, b.affineBuffers, b.x, b.rows) })
	}
	if err == nil && b.dx.Nil() {
		// Nothing to download: the gradients stay on the device, and the
		// kernels run on while the caller goes on.
		err = d.waitUploads()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: backward: %w", d.name, err)
	}
	return b.dxOut, nil
}
