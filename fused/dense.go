package fused

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
)

// Dense is a hidden layer h_i = act(BN(h_{i-1}·W + b)) on the fused kernels.
type Dense struct {
	*graph.Affine
	*graph.Learner
	name      string
	inputGrad bool
	gemm      *kernels.Gemm
	buffers   map[cacheKey]*denseBuffers
	last      *denseBuffers // of the last training Forward
	lastX     []float32     // its input
	later     bool          // BackwardDeferred left the weight gradient to finish
	finish    func() error  // d.finishBackward, made once
}

type denseBuffers struct {
	*affineBuffers
	dx *tensor.Dense // nil without an input gradient
	x  []float32     // BackwardDeferred's copy of the input, made on first use
}

// NewDense returns a hidden layer. inputGrad says whether Backward must
// produce δ_{i-1} (not needed for the first layer, whose input is data).
func NewDense(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config, o Options) (*Dense, error) {
	a, err := graph.NewAffine(name, s, tensor.Float32, rng)
	if err != nil {
		return nil, err
	}
	g := o.gemm()
	l, err := newLearner(name, a.Params(), opt, g)
	if err != nil {
		return nil, err
	}
	d := &Dense{Affine: a, Learner: l, name: name, inputGrad: inputGrad,
		gemm: g, buffers: map[cacheKey]*denseBuffers{}}
	d.finish = d.finishBackward
	return d, nil
}

// Name returns the layer's name, the prefix of its parameters' names.
func (d *Dense) Name() string { return d.name }

func (d *Dense) buffersFor(batch int, train bool) *denseBuffers {
	key := cacheKey{batch, train}
	if b, ok := d.buffers[key]; ok {
		return b
	}
	b := &denseBuffers{affineBuffers: newAffineBuffers(d.Affine, batch, train, d.gemm.Threads)}
	if train && d.inputGrad {
		b.dx = matrix(batch, d.In)
	}
	d.buffers[key] = b
	return b
}

// Forward computes h_i from the batch x (rows are samples). The result is
// owned by the layer and valid until the next Forward with the same batch
// size and mode; x must stay unchanged until Backward.
func (d *Dense) Forward(x *tensor.Dense, train bool) (*tensor.Dense, error) {
	rows, err := graph.CheckBatch(d.name, "input", x, d.In)
	if err != nil {
		return nil, err
	}
	b := d.buffersFor(rows, train)
	forward(d.gemm, d.Affine, b.affineBuffers, data(x), graph.PassOf(train))
	if train {
		d.last, d.lastX = b, data(x)
	}
	return b.out, nil
}

// Backward takes the upstream gradient g_i = ∂L/∂h_i for the batch of the
// last training Forward, stores the parameter gradients and returns δ_{i-1}
// (nil when the layer was built without an input gradient).
func (d *Dense) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	if err := d.backward(g, d.lastX, true); err != nil {
		return nil, err
	}
	return d.last.dx, nil
}

// BackwardDeferred is Backward in two parts. It returns δ_{i-1} at once,
// with every gradient but the weights'; finish computes that one (the
// larger part) from the layer's own buffers alone, so that it may run on
// another goroutine: g and the input of Forward are free when
// BackwardDeferred returns. finish must return before the layer's next
// call (Update included).
func (d *Dense) BackwardDeferred(g *tensor.Dense) (dx *tensor.Dense, finish func() error, err error) {
	if err := d.backward(g, nil, true); err != nil {
		return nil, nil, err
	}
	d.keepInput()
	return d.last.dx, d.finish, nil
}

// BackwardApart is Backward without δ_{i-1}: it copies into dst what
// δ_{i-1} = dz_i·W_iᵀ needs, for dst.Compute to multiply on another
// goroutine, while the layer goes on and updates W_i. The layer must have
// been built with an input gradient.
func (d *Dense) BackwardApart(g *tensor.Dense, dst *InputGradient) error {
	return d.backwardApart(g, d.lastX, dst)
}

// BackwardApartDeferred is BackwardDeferred without δ_{i-1}, which it
// leaves to dst as BackwardApart does.
func (d *Dense) BackwardApartDeferred(g *tensor.Dense, dst *InputGradient) (finish func() error, err error) {
	if err := d.backwardApart(g, nil, dst); err != nil {
		return nil, err
	}
	d.keepInput()
	return d.finish, nil
}

// keepInput copies the input of the last training Forward into the layer's
// buffers, for the weight gradient that finish computes after the caller
// has let the input go.
func (d *Dense) keepInput() {
	b := d.last
	if len(b.x) != len(d.lastX) {
		b.x = make([]float32, len(d.lastX))
	}
	copy(b.x, d.lastX)
	d.lastX, d.later = b.x, true
}

// finishBackward is the part of Backward that BackwardDeferred leaves to
// finish.
func (d *Dense) finishBackward() error {
	if !d.later {
		return fmt.Errorf("%s: no deferred backward pass to finish", d.name)
	}
	d.later = false
	weightGradient(d.gemm, d.last.affineBuffers, d.lastX)
	return nil
}

// rows returns the batch size of the last training Forward.
func (d *Dense) rows() int { return len(d.lastX) / d.In }

// backwardApart is backward without δ_{i-1}, copying dz_i and W_i into
// dst instead.
func (d *Dense) backwardApart(g *tensor.Dense, x []float32, dst *InputGradient) error {
	if !d.inputGrad {
		return fmt.Errorf("%s: no input gradient to leave apart: the layer was built without one", d.name)
	}
	if dst == nil {
		return fmt.Errorf("%s: no InputGradient to leave the input gradient to", d.name)
	}
	if err := d.backward(g, x, false); err != nil {
		return err
	}
	dst.set(d.gemm, d.rows(), d.In, d.Out, d.last.dz, data(d.W.Value))
	return nil
}

// backward is Backward's pass from g, with the weight gradient given the
// input x, and without it given nil; with δ_{i-1} when dx is set and the
// layer has an input gradient.
func (d *Dense) backward(g *tensor.Dense, x []float32, dx bool) error {
	b := d.last
	if b == nil {
		return fmt.Errorf("%s: backward before a training forward pass", d.name)
	}
	rows := d.rows()
	if err := graph.CheckBatchOf(d.name, "upstream gradient", g, rows, d.Out); err != nil {
		return err
	}
	var into []float32
	if dx && b.dx != nil {
		into = data(b.dx)
	}
	backward(d.gemm, d.Affine, b.affineBuffers, data(g), into, x)
	return nil
}

// InputGradient is δ_{i-1} = dz_i·W_iᵀ of a hidden layer, computed apart
// from it: Dense.BackwardApart copies the product's operands into it, and
// Compute multiplies them on any goroutine (that holds a place of the
// layer's cores), while the layer goes on. An async worker sends its first
// layer's to the worker below, which then computes its own target. The
// zero value is ready to use; buffers are allocated once per batch size.
type InputGradient struct {
	gemm          *kernels.Gemm // the layer's
	rows, in, out int
	dz, w         []float32
	dx            map[int]*tensor.Dense // by rows
}

// set copies the operands of a batch of rows.
func (p *InputGradient) set(g *kernels.Gemm, rows, in, out int, dz, w []float32) {
	p.gemm, p.rows, p.in, p.out = g, rows, in, out
	p.dz = append(p.dz[:0], dz[:rows*out]...)
	p.w = append(p.w[:0], w...)
}

// Compute returns δ_{i-1} for the operands of the last BackwardApart into
// p, rows × in. The result belongs to p and is valid until the next
// Compute for the same batch size.
func (p *InputGradient) Compute() (*tensor.Dense, error) {
	if p.gemm == nil {
		return nil, fmt.Errorf("input gradient computed before a backward pass left it apart")
	}
	dx, ok := p.dx[p.rows]
	if !ok {
		if p.dx == nil {
			p.dx = map[int]*tensor.Dense{}
		}
		dx = matrix(p.rows, p.in)
		p.dx[p.rows] = dx
	}
	p.gemm.Sgemm(false, true, p.rows, p.in, p.out, 1, p.dz, p.out, p.w, p.out, 0, data(dx), p.in)
	return dx, nil
}
