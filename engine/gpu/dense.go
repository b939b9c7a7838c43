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
	// Reached on the layer's stream once h_i, and δ_{i-1}, are computed:
	// the modules handed them wait for these (see Handoff).
	hReady, dxReady *cuda.Event
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
	d := &Dense{Affine: a, state: st, inputGrad: inputGrad, buffers: map[cacheKey]*denseBuffers{}}
	if d.hReady, err = st.newEvent(); err == nil {
		d.dxReady, err = st.newEvent()
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
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
	h, wait, err := d.ForwardLate(x, train)
	if err == nil {
		err = wait()
	}
	return h, err
}

// ForwardLate is Forward without the wait for the device: it returns h_i
// at once, to be handed to other modules of the device (which take it when
// the device has computed it, see Handoff), and the function that waits
// until the host may read h_i and change x. The caller must call it before
// the layer's next forward pass, and keep x unchanged until then (a
// backward pass in between is fine: it writes neither).
func (d *Dense) ForwardLate(x *tensor.Dense, train bool) (h *tensor.Dense, wait func() error, err error) {
	rows, err := graph.CheckBatch(d.name, "input", x, d.In)
	if err != nil {
		return nil, nil, err
	}
	b, err := d.buffersFor(rows, train)
	if err != nil {
		return nil, nil, err
	}
	if err := d.upload(b.x, data(x)); err != nil {
		return nil, nil, d.failed(fmt.Errorf("%s: %w", d.name, err))
	}
	pass := graph.PassOf(train)
	d.handoff.withdraw(data(b.out)) // until the offer below renews it
	err = d.replay(graphKey{"forward", rows, pass}, func() error { return d.forward(d.Affine, b.affineBuffers, b.x, rows, pass) })
	if err == nil {
		err = d.stream.Record(d.hReady)
	}
	if err == nil {
		err = d.stream.Fetch(data(b.out), b.h)
	}
	if err == nil {
		err = d.markFetched()
	}
	if err != nil {
		return nil, nil, d.failed(fmt.Errorf("%s: forward: %w", d.name, err))
	}
	d.offer(data(b.out), b.h, d.hReady)
	if train {
		d.last = b
	}
	return b.out, d.wait, d.unlessHandedOff()
}

// Backward takes the upstream gradient g_i for the batch of the last
// training Forward, queues the parameter gradients on the device and
// returns δ_{i-1} (nil when the layer was built without an input
// gradient).
func (d *Dense) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	dx, wait, err := d.BackwardLate(g)
	if err == nil {
		err = wait()
	}
	return dx, err
}

// BackwardLate is Backward without the wait for the device, as
// ForwardLate is Forward's: the function it returns waits until the host
// may read δ_{i-1} and change g, and must be called before the layer's
// next backward pass.
func (d *Dense) BackwardLate(g *tensor.Dense) (dx *tensor.Dense, wait func() error, err error) {
	b := d.last
	if b == nil {
		return nil, nil, fmt.Errorf("%s: backward before a training forward pass", d.name)
	}
	if err := graph.CheckBatchOf(d.name, "upstream gradient", g, b.rows, d.Out); err != nil {
		return nil, nil, err
	}
	if err := d.upload(b.g, data(g)); err != nil {
		return nil, nil, d.failed(fmt.Errorf("%s: %w", d.name, err))
	}
	if b.dxOut != nil {
		d.handoff.withdraw(data(b.dxOut)) // until the offer below renews it
	} else if err := d.markFetched(); err != nil { // nothing to download: the wait is for the upload
		return nil, nil, d.failed(fmt.Errorf("%s: %w", d.name, err))
	}
	err = d.replay(graphKey{"backward", b.rows, graph.TrainPass}, func() error { return d.backward(d.Affine, b.affineBuffers, b.g, b.dx, b.rows) })
	if err == nil && b.dxOut != nil {
		// δ_{i-1} is downloaded and offered before ∂L/∂W is computed, which
		// only the update reads.
		if err = d.stream.Record(d.dxReady); err == nil {
			err = d.stream.Fetch(data(b.dxOut), b.dx)
		}
		if err == nil {
			err = d.markFetched()
		}
		if err == nil {
			d.offer(data(b.dxOut), b.dx, d.dxReady)
		}
	}
	if err == nil {
		err = d.replay(graphKey{"weight gradient", b.rows, graph.TrainPass}, func() error { return d.weightGradient(d.Affine, b.affineBuffers, b.x, b.rows) })
	}
	if err != nil {
		return nil, nil, d.failed(fmt.Errorf("%s: backward: %w", d.name, err))
	}
	return b.dxOut, d.wait, d.unlessHandedOff()
}
