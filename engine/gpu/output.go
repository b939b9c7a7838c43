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

// Output is the top layer on the device: logits = h·W + b and the mean
// softmax cross-entropy against one-hot labels.
type Output struct {
	*graph.Affine
	*state
	inputGrad bool
	buffers   map[cacheKey]*outputBuffers
}

type outputBuffers struct {
	*affineBuffers // h holds the logits
	x, labels      cuda.Buffer
	grad           cuda.Buffer // ∂L/∂logits
	rowLoss        cuda.Buffer // per-sample cross-entropy
	rowLossHost    []float32
	dx             cuda.Buffer
	dxOut          *tensor.Dense // nil without an input gradient
}

// NewOutput returns the output layer for in inputs and the given number of
// classes. inputGrad says whether Train must return ∂L/∂h.
func NewOutput(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config, o Options) (*Output, error) {
	a, err := graph.NewAffine(name, graph.Spec{In: in, Out: classes, Act: graph.Identity}, tensor.Float32, rng)
	if err != nil {
		return nil, err
	}
	st, err := newState(name, UpdateSpan, a.Params(), a.Stats(), opt, o)
	if err != nil {
		return nil, err
	}
	return &Output{Affine: a, state: st, inputGrad: inputGrad, buffers: map[cacheKey]*outputBuffers{}}, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (o *Output) Name() string { return o.name }

func (o *Output) buffersFor(rows int, train bool) (*outputBuffers, error) {
	key := cacheKey{rows, train}
	if b, ok := o.buffers[key]; ok {
		return b, nil
	}
	al := o.allocator()
	b := &outputBuffers{affineBuffers: o.state.buffers(al, o.Affine, rows, train),
		x: al.get(rows * o.In), labels: al.get(rows * o.Out), rowLoss: al.get(rows), rowLossHost: al.pinned(rows)}
	if train {
		b.grad = al.get(rows * o.Out)
		if o.inputGrad {
			b.dx, b.dxOut = al.get(rows*o.In), al.matrix(rows, o.In)
		}
	}
	if al.err != nil {
		return nil, al.err
	}
	o.buffers[key] = b
	return b, nil
}

// Train runs forward and backward on a training batch with one-hot labels.
// It queues the parameter gradients on the device and returns the mean
// loss, the logits and ∂L/∂h (nil without an input gradient), owned by the
// layer until its next call with the same batch size.
func (o *Output) Train(x, labels *tensor.Dense) (loss float64, logits, dx *tensor.Dense, err error) {
	rows, b, err := o.run(x, labels, true)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := o.replay(graphKey{"backward", rows, graph.TrainPass}, func() error { return o.backward(o.Affine, b.affineBuffers, b.grad, b.dx, rows) }); err != nil {
		return 0, nil, nil, o.failed(fmt.Errorf("%s: backward: %w", o.name, err))
	}
	if loss, err = o.results(b); err != nil {
		return 0, nil, nil, err
	}
	// The downloads waited for the results the caller reads, not for ∂L/∂W,
	// which only the update reads.
	if err := o.replay(graphKey{"weight gradient", rows, graph.TrainPass}, func() error { return o.weightGradient(o.Affine, b.affineBuffers, b.x, rows) }); err != nil {
		return 0, nil, nil, o.failed(fmt.Errorf("%s: backward: %w", o.name, err))
	}
	return loss, b.out, b.dxOut, nil
}

// Evaluate returns the mean loss and the logits of a batch without training.
func (o *Output) Evaluate(x, labels *tensor.Dense) (loss float64, logits *tensor.Dense, err error) {
	_, b, err := o.run(x, labels, false)
	if err != nil {
		return 0, nil, err
	}
	loss, err = o.results(b)
	return loss, b.out, err
}

// run uploads a batch and queues the forward pass and the loss (with its
// gradient when training).
func (o *Output) run(x, labels *tensor.Dense, train bool) (int, *outputBuffers, error) {
	rows, err := graph.CheckBatch(o.name, "input", x, o.In)
	if err != nil {
		return 0, nil, err
	}
	if err := graph.CheckBatchOf(o.name, "labels", labels, rows, o.Out); err != nil {
		return 0, nil, err
	}
	b, err := o.buffersFor(rows, train)
	if err != nil {
		return 0, nil, err
	}
	err = o.upload(b.x, data(x))
	if err == nil {
		err = o.upload(b.labels, data(labels))
	}
	pass := graph.PassOf(train)
	o.handoff.withdraw(data(b.out)) // until results renews them
	if b.dxOut != nil {
		o.handoff.withdraw(data(b.dxOut))
	}
	if err == nil {
		err = o.replay(graphKey{"forward", rows, pass}, func() error {
			if err := o.forward(o.Affine, b.affineBuffers, b.x, rows, pass); err != nil {
				return err
			}
			return o.stream.SoftmaxCrossEntropy(b.grad, b.rowLoss, b.h, b.labels, rows, o.Out)
		})
	}
	if err != nil {
		return 0, nil, o.failed(fmt.Errorf("%s: forward: %w", o.name, err))
	}
	return rows, b, nil
}

// results downloads the logits, the per-sample losses and, after a
// training pass with an input gradient, ∂L/∂x, waiting once for all three,
// and returns the mean loss, summed in float64.
func (o *Output) results(b *outputBuffers) (float64, error) {
	err := o.stream.Fetch(data(b.out), b.h)
	if err == nil {
		err = o.stream.Fetch(b.rowLossHost, b.rowLoss)
	}
	if err == nil && b.dxOut != nil {
		err = o.stream.Fetch(data(b.dxOut), b.dx)
	}
	if err == nil {
		err = o.stream.Sync()
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", o.name, err)
	}
	o.offer(data(b.out), b.h, nil)
	if b.dxOut != nil {
		o.offer(data(b.dxOut), b.dx, nil)
	}
	return sum64(b.rowLossHost) / float64(len(b.rowLossHost)), nil
}
