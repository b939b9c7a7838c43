package fused

import (
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
)

// Output is the top layer: logits = h·W + b and the mean softmax
// cross-entropy against one-hot labels, on the fused kernels.
type Output struct {
	*graph.Affine
	*graph.Learner
	name      string
	inputGrad bool
	gemm      *kernels.Gemm
	buffers   map[cacheKey]*outputBuffers
}

type outputBuffers struct {
	*affineBuffers               // h holds the logits
	grad           []float32     // ∂L/∂logits
	dx             *tensor.Dense // nil without an input gradient
}

// NewOutput returns the output layer for in inputs and the given number of
// classes. inputGrad says whether Train must return ∂L/∂h.
func NewOutput(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config, o Options) (*Output, error) {
	a, err := graph.NewAffine(name, graph.Spec{In: in, Out: classes, Act: graph.Identity}, tensor.Float32, rng)
	if err != nil {
		return nil, err
	}
	g := o.gemm()
	l, err := newLearner(name, a.Params(), opt, g)
	if err != nil {
		return nil, err
	}
	return &Output{Affine: a, Learner: l, name: name, inputGrad: inputGrad,
		gemm: g, buffers: map[cacheKey]*outputBuffers{}}, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (o *Output) Name() string { return o.name }

func (o *Output) buffersFor(batch int, train bool) *outputBuffers {
	key := cacheKey{batch, train}
	if b, ok := o.buffers[key]; ok {
		return b
	}
	b := &outputBuffers{affineBuffers: newAffineBuffers(o.Affine, batch, train, o.gemm.Threads)}
	if train {
		b.grad = make([]float32, batch*o.Out)
		if o.inputGrad {
			b.dx = matrix(batch, o.In)
		}
	}
	o.buffers[key] = b
	return b
}

// Train runs forward and backward on a training batch with one-hot labels.
// It stores the parameter gradients, and returns the mean loss, the logits
// and ∂L/∂h (nil without an input gradient). The returned tensors are owned
// by the layer until its next call with the same batch size.
func (o *Output) Train(x, labels *tensor.Dense) (loss float64, logits, dx *tensor.Dense, err error) {
	_, b, err := o.forward(x, labels, true)
	if err != nil {
		return 0, nil, nil, err
	}
	loss = softmaxLoss(o.gemm, b.affineBuffers, b.grad, data(labels))
	var dxs []float32
	if b.dx != nil {
		dxs = data(b.dx)
	}
	backward(o.gemm, o.Affine, b.affineBuffers, b.grad, dxs, data(x))
	return loss, b.out, b.dx, nil
}

// Evaluate returns the mean loss and the logits of a batch without training.
func (o *Output) Evaluate(x, labels *tensor.Dense) (loss float64, logits *tensor.Dense, err error) {
	rows, b, err := o.forward(x, labels, false)
	if err != nil {
		return 0, nil, err
	}
	return kernels.SoftmaxCrossEntropy(nil, b.h, data(labels), rows, o.Out), b.out, nil
}

func (o *Output) forward(x, labels *tensor.Dense, train bool) (int, *outputBuffers, error) {
	rows, err := graph.CheckBatch(o.name, "input", x, o.In)
	if err != nil {
		return 0, nil, err
	}
	if err := graph.CheckBatchOf(o.name, "labels", labels, rows, o.Out); err != nil {
		return 0, nil, err
	}
	b := o.buffersFor(rows, train)
	forward(o.gemm, o.Affine, b.affineBuffers, data(x), graph.PassOf(train))
	return rows, b, nil
}
