package fused

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// Synthesizer is a synthetic-gradient model M_i (or a synthetic-input model
// I_i) on the fused kernels. It computes what synth.Synthesizer computes:
// ĝ = M([h, label])·Scale/B, trained on B·Σ‖ĝ − δ‖² (for inputs,
// Î = I(x)·Scale trained on Σ‖Î − h‖²/B).
type Synthesizer struct {
	*graph.Learner
	cfg         synth.Config
	name        string
	graph.Stack // the dense transforms, input first
	gemm        *kernels.Gemm
	buffers     map[int]*synthBuffers
	// The last Predict's forward pass, which Learn reuses when it is given
	// the same tensors and no Update came in between.
	fwdH, fwdLabels *tensor.Dense
	// What LearnDeferred leaves to finish: the buffers and the first
	// layer's input of its batch.
	later      *synthBuffers
	laterInput []float32
	laterRows  int
	finish     func() error // s.finishLearn, made once
}

type synthBuffers struct {
	input  []float32 // [h, labels] when conditioned; a copy of h for LearnDeferred otherwise
	layers []*affineBuffers
	dIn    [][]float32 // dIn[l]: ∂loss/∂(input of layer l), for l > 0
	grad   []float32   // ∂loss/∂ĝ
	concat concatJob   // writes input
}

// NewSynthesizer returns a synthesizer whose last layer starts at zero.
// Its parameters are named and initialised as synth.New's.
func NewSynthesizer(name string, cfg synth.Config, rng *rand.Rand, opt optim.Config, o Options) (*Synthesizer, error) {
	specs, err := synth.Layers(name, cfg)
	if err != nil {
		return nil, err
	}
	s := &Synthesizer{cfg: cfg, name: name, gemm: o.gemm(), buffers: map[int]*synthBuffers{}}
	s.finish = s.finishLearn
	for _, l := range specs {
		a, err := graph.NewAffine(l.Name, l.Spec, tensor.Float32, rng)
		if err != nil {
			return nil, err
		}
		s.Stack = append(s.Stack, a)
	}
	if s.Learner, err = newLearner(name, s.Params(), opt, s.gemm); err != nil {
		return nil, err
	}
	return s, nil
}

// Name returns the synthesizer's name, the prefix of its parameters' names.
func (s *Synthesizer) Name() string { return s.name }

// Config returns the synthesizer's configuration.
func (s *Synthesizer) Config() synth.Config { return s.cfg }

func (s *Synthesizer) buffersFor(batch int) *synthBuffers {
	if b, ok := s.buffers[batch]; ok {
		return b
	}
	b := &synthBuffers{grad: make([]float32, batch*s.cfg.OutWidth()), input: make([]float32, batch*(s.cfg.In+s.cfg.Classes))}
	for l, a := range s.Stack {
		b.layers = append(b.layers, newAffineBuffers(a, batch, true, s.gemm.Threads))
		var d []float32
		if l > 0 {
			d = make([]float32, batch*a.In)
		}
		b.dIn = append(b.dIn, d)
	}
	b.layers[len(b.layers)-1].job.scale = float32(s.cfg.PredictionScale(batch))
	b.concat = concatJob{dst: b.input, rows: batch, ca: s.cfg.In, cb: s.cfg.Classes, parts: len(b.layers[0].sums)}
	s.buffers[batch] = b
	return b
}

// forward runs the model on h (and labels) and returns its buffers, ĝ in
// the last layer's output, and the input of the first layer. p is
// graph.TrainPass for a prediction, graph.RefitPass when Learn recomputes a
// forward pass (the reference's Learn does not fold batch statistics
// either).
func (s *Synthesizer) forward(h, labels *tensor.Dense, p graph.Pass) (*synthBuffers, []float32, error) {
	rows, err := graph.CheckBatch(s.name, "input", h, s.cfg.In)
	if err != nil {
		return nil, nil, err
	}
	b := s.buffersFor(rows)
	x := data(h)
	if s.cfg.Classes > 0 {
		if labels == nil {
			return nil, nil, fmt.Errorf("%s: a label-conditioned synthesizer needs labels", s.name)
		}
		if err := graph.CheckBatchOf(s.name, "labels", labels, rows, s.cfg.Classes); err != nil {
			return nil, nil, err
		}
		b.concat.a, b.concat.b = x, data(labels)
		s.gemm.Shards(b.concat.parts, &b.concat)
		x = b.input
	}
	in := x
	for l, a := range s.Stack {
		forward(s.gemm, a, b.layers[l], in, p) // the last scales ĝ
		in = b.layers[l].h
	}
	s.fwdH, s.fwdLabels = h, labels
	return b, x, nil
}

// concatJob writes [a | b] row by row into dst, rows×(ca+cb), in the parts
// of the rows of the first layer's batch (a kernels.Sharder).
type concatJob struct {
	dst, a, b    []float32
	rows, ca, cb int
	parts        int
}

func (c *concatJob) Shard(p int) {
	lo, hi := kernels.ShardRange(c.rows, 1, p, c.parts)
	w := c.ca + c.cb
	for r := lo; r < hi; r++ {
		copy(c.dst[r*w:r*w+c.ca], c.a[r*c.ca:(r+1)*c.ca])
		copy(c.dst[r*w+c.ca:(r+1)*w], c.b[r*c.cb:(r+1)*c.cb])
	}
}

// Predict returns ĝ_i for the batch h_i (labels: one-hot, used only when
// the synthesizer is conditioned). The result is owned by the synthesizer
// until its next call with the same batch size. h and labels must stay
// unchanged until a Learn that is to reuse this forward pass.
func (s *Synthesizer) Predict(h, labels *tensor.Dense) (*tensor.Dense, error) {
	b, _, err := s.forward(h, labels, graph.TrainPass)
	if err != nil {
		return nil, err
	}
	return b.layers[len(s.Stack)-1].out, nil
}

// Learn computes the gradients of the L2 loss between ĝ = M(h, labels) and
// the target δ_i and returns the loss; Update applies them. The forward
// pass of the last Predict is reused when it saw the same h and labels.
func (s *Synthesizer) Learn(h, labels, target *tensor.Dense) (float64, error) {
	b, x, rows, loss, err := s.learnOutput(h, labels, target)
	if err != nil {
		return 0, err
	}
	s.backward(b, x, rows)
	return loss, nil
}

// LearnDeferred is Learn in two parts. It does at once what reads h, labels
// and target: the loss, and the gradient of the model's output. It returns
// finish, which does the rest (the backward pass through the model, most of
// the work) from the synthesizer's own buffers alone, so that it may run on
// another goroutine: the caller's tensors are free when LearnDeferred
// returns. finish must return before the synthesizer's next call (Update
// included).
func (s *Synthesizer) LearnDeferred(h, labels, target *tensor.Dense) (loss float64, finish func() error, err error) {
	b, x, rows, loss, err := s.learnOutput(h, labels, target)
	if err != nil {
		return 0, nil, err
	}
	if s.cfg.Classes == 0 { // x is h itself: keep a copy
		x = b.input[:len(x)]
		copy(x, data(h))
	}
	s.later, s.laterInput, s.laterRows = b, x, rows
	return loss, s.finish, nil
}

// finishLearn is the part of Learn that LearnDeferred leaves to finish.
func (s *Synthesizer) finishLearn() error {
	b, x, rows := s.later, s.laterInput, s.laterRows
	s.later, s.laterInput = nil, nil
	if b == nil {
		return fmt.Errorf("%s: no deferred learning to finish", s.name)
	}
	s.backward(b, x, rows)
	return nil
}

// learnOutput computes the loss between ĝ = M(h, labels) and target, and
// ∂loss/∂out into b.grad. It returns the buffers of the batch and x, the
// input of the model's first layer.
func (s *Synthesizer) learnOutput(h, labels, target *tensor.Dense) (b *synthBuffers, x []float32, rows int, loss float64, err error) {
	if rows, err = graph.CheckBatch(s.name, "target", target, s.cfg.OutWidth()); err != nil {
		return nil, nil, 0, 0, err
	}
	b, ok := s.buffers[rows]
	switch {
	case ok && h != nil && h == s.fwdH && labels == s.fwdLabels:
		x = data(h)
		if s.cfg.Classes > 0 {
			x = b.input
		}
	default:
		if b, x, err = s.forward(h, labels, graph.RefitPass); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	if h.Shape()[0] != rows {
		return nil, nil, 0, 0, fmt.Errorf("%s: target of %d rows for a batch of %d", s.name, rows, h.Shape()[0])
	}
	// pred = out·PredictionScale, so ∂loss/∂out = ∂loss/∂pred·PredictionScale.
	loss = l2Loss(s.gemm, b.layers[len(s.Stack)-1], b.grad, data(target), s.cfg.LossWeight(rows))
	return b, x, rows, loss, nil
}

// backward takes ∂loss/∂out from b.grad down through the model, setting the
// parameters' gradients; x is the first layer's input.
func (s *Synthesizer) backward(b *synthBuffers, x []float32, rows int) {
	g := b.grad
	for l := len(s.Stack) - 1; l >= 0; l-- {
		in := x
		if l > 0 {
			in = b.layers[l-1].h
		}
		backward(s.gemm, s.Stack[l], b.layers[l], g, b.dIn[l], in)
		g = b.dIn[l]
	}
}

// Update applies the gradients of the last Learn.
func (s *Synthesizer) Update() error {
	s.fwdH, s.fwdLabels = nil, nil // the parameters change: no forward pass to reuse
	return s.Learner.Update()
}
