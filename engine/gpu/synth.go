//go:build gpu

package gpu

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// Synthesizer is a synthetic-gradient model M_i (or a synthetic-input model
// I_i) on the device, on its own stream. It computes what
// fused.Synthesizer computes: ĝ = M([h, label])·Scale/B, trained on
// B·Σ‖ĝ − δ‖².
type Synthesizer struct {
	*state
	graph.Stack // the dense transforms, input first
	cfg         synth.Config
	buffers     map[int]*synthBuffers
	// The last Predict's forward pass, which Learn reuses when it is given
	// the same tensors and no Update came in between.
	fwdH, fwdLabels *tensor.Dense
	// The last Learn's squared errors, summed by column on the host once
	// the fetched event has passed, and the weight of their sum.
	lossSums   []float32
	lossWeight float64
	loss       func() (float64, error) // s.waitLoss, made once
}

type synthBuffers struct {
	h, labels, target cuda.Buffer
	input             cuda.Buffer // [h, labels] when conditioned, else h
	layers            []*affineBuffers
	dIn               []cuda.Buffer // dIn[l]: ∂loss/∂(input of layer l), l > 0
	grad, sqerr       cuda.Buffer   // ∂loss/∂out and the squared errors
	sqerrSums         cuda.Buffer   // the squared errors' column sums
	sqerrSumsHost     []float32
}

// NewSynthesizer returns a synthesizer whose last layer starts at zero.
// Its parameters are named and initialised as synth.New's.
func NewSynthesizer(name string, cfg synth.Config, rng *rand.Rand, opt optim.Config, o Options) (*Synthesizer, error) {
	specs, err := synth.Layers(name, cfg)
	if err != nil {
		return nil, err
	}
	var stack graph.Stack
	for _, l := range specs {
		a, err := graph.NewAffine(l.Name, l.Spec, tensor.Float32, rng)
		if err != nil {
			return nil, err
		}
		stack = append(stack, a)
	}
	st, err := newState(name, SynthSpan, stack.Params(), stack.Stats(), opt, o)
	if err != nil {
		return nil, err
	}
	s := &Synthesizer{state: st, Stack: stack, cfg: cfg, buffers: map[int]*synthBuffers{}}
	s.loss = s.waitLoss
	return s, nil
}

// Name returns the synthesizer's name, the prefix of its parameters' names.
func (s *Synthesizer) Name() string { return s.name }

// Config returns the synthesizer's configuration.
func (s *Synthesizer) Config() synth.Config { return s.cfg }

func (s *Synthesizer) buffersFor(rows int) (*synthBuffers, error) {
	if b, ok := s.buffers[rows]; ok {
		return b, nil
	}
	al := s.allocator()
	out := rows * s.cfg.OutWidth()
	b := &synthBuffers{h: al.get(rows * s.cfg.In), target: al.get(out), grad: al.get(out), sqerr: al.get(out)}
	b.sqerrSums, b.sqerrSumsHost = al.get(s.cfg.OutWidth()), al.pinned(s.cfg.OutWidth())
	b.input = b.h
	if s.cfg.Classes > 0 {
		b.labels = al.get(rows * s.cfg.Classes)
		b.input = al.get(rows * (s.cfg.In + s.cfg.Classes))
	}
	for l, a := range s.Stack {
		b.layers = append(b.layers, s.state.buffers(al, a, rows, true))
		var d cuda.Buffer
		if l > 0 {
			d = al.get(rows * a.In)
		}
		b.dIn = append(b.dIn, d)
	}
	if al.err != nil {
		return nil, al.err
	}
	s.buffers[rows] = b
	return b, nil
}

// forward uploads h (and labels) and queues the model's forward pass; the
// prediction is left in the last layer's h. p is graph.TrainPass for a
// prediction, graph.RefitPass when Learn recomputes a forward pass.
func (s *Synthesizer) forward(h, labels *tensor.Dense, p graph.Pass) (*synthBuffers, error) {
	rows, err := graph.CheckBatch(s.name, "input", h, s.cfg.In)
	if err != nil {
		return nil, err
	}
	b, err := s.buffersFor(rows)
	if err != nil {
		return nil, err
	}
	if s.cfg.Classes > 0 {
		if labels == nil {
			return nil, fmt.Errorf("%s: a label-conditioned synthesizer needs labels", s.name)
		}
		if err := graph.CheckBatchOf(s.name, "labels", labels, rows, s.cfg.Classes); err != nil {
			return nil, err
		}
	}
	err = s.upload(b.h, data(h))
	if err == nil && s.cfg.Classes > 0 {
		err = s.upload(b.labels, data(labels))
	}
	if err != nil {
		return nil, s.failed(fmt.Errorf("%s: %w", s.name, err))
	}
	// The pass writes the prediction's buffer, which a refit does not
	// download: its last host copy no longer matches it.
	s.handoff.withdraw(data(b.layers[len(s.Stack)-1].out))
	err = s.replay(graphKey{"forward", rows, p}, func() error {
		if s.cfg.Classes > 0 {
			if err := s.stream.ConcatColumns(b.input, b.h, b.labels, rows, s.cfg.In, s.cfg.Classes); err != nil {
				return err
			}
		}
		in := b.input
		for l, a := range s.Stack {
			if err := s.state.forward(a, b.layers[l], in, rows, p); err != nil {
				return err
			}
			in = b.layers[l].h
		}
		return s.stream.Scale(in, s.cfg.PredictionScale(rows))
	})
	if err != nil {
		return nil, s.failed(fmt.Errorf("%s: forward: %w", s.name, err))
	}
	s.fwdH, s.fwdLabels = h, labels
	return b, nil
}

// Predict returns ĝ_i for the batch h_i (labels: one-hot, used only when
// the synthesizer is conditioned). The result is owned by the synthesizer
// until its next call with the same batch size.
func (s *Synthesizer) Predict(h, labels *tensor.Dense) (*tensor.Dense, error) {
	done := s.timeline.begin(s.stream, SynthSpan, s.name)
	b, err := s.forward(h, labels, graph.TrainPass)
	if err != nil {
		return nil, err
	}
	last := b.layers[len(s.Stack)-1]
	if err := s.download(data(last.out), last.h); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return last.out, done()
}

// Learn queues, on the device, the gradients of the L2 loss between
// ĝ = M(h, labels) and the target δ_i, and returns the loss; Update
// applies them. The forward pass of the last Predict is reused when it saw
// the same h and labels.
func (s *Synthesizer) Learn(h, labels, target *tensor.Dense) (float64, error) {
	if _, err := s.LearnLate(h, labels, target); err != nil {
		return 0, err
	}
	return s.waitLoss()
}

// LearnLate is Learn without the wait for the loss: it returns once the
// work is queued, with the function that waits for the loss and returns
// it. The caller must call that function before its next call on s (the
// engine does at the end of the step), and keep h, labels and target
// unchanged until then: they may be read until the loss is known.
func (s *Synthesizer) LearnLate(h, labels, target *tensor.Dense) (loss func() (float64, error), err error) {
	done := s.timeline.begin(s.stream, SynthSpan, s.name)
	rows, err := graph.CheckBatch(s.name, "target", target, s.cfg.OutWidth())
	if err != nil {
		return nil, err
	}
	if hRows, err := graph.BatchRows(h, s.name+": input"); err != nil {
		return nil, err
	} else if hRows != rows {
		return nil, fmt.Errorf("%s: target of %d rows for a batch of %d", s.name, rows, hRows)
	}
	b, ok := s.buffers[rows]
	if !ok || h != s.fwdH || labels != s.fwdLabels {
		if b, err = s.forward(h, labels, graph.RefitPass); err != nil {
			return nil, err
		}
	}
	last := len(s.Stack) - 1
	out := s.cfg.OutWidth()
	weight, scale := s.cfg.LossWeight(rows), s.cfg.PredictionScale(rows)
	// pred = out·scale and loss = weight·Σ(pred − δ)², so
	// ∂loss/∂out = 2·weight·scale·(pred − δ). The loss's download is
	// marked by the fetched event, which waitLoss waits for: the backward
	// pass is queued after it and runs on while the caller goes on (the
	// target is on the device by then).
	err = s.upload(b.target, data(target))
	if err == nil {
		err = s.replay(graphKey{"loss", rows, graph.TrainPass}, func() error {
			if err := s.stream.SquaredError(b.grad, b.sqerr, b.layers[last].h, b.target, rows*out, 2*weight*scale); err != nil {
				return err
			}
			return s.stream.ColumnSums(b.sqerrSums, b.sqerr, rows, out)
		})
	}
	if err == nil {
		err = s.stream.Fetch(b.sqerrSumsHost, b.sqerrSums)
	}
	if err == nil {
		err = s.markFetched()
	}
	if err == nil {
		err = s.replay(graphKey{"backward", rows, graph.TrainPass}, func() error {
			g := b.grad
			for l := last; l >= 0; l-- {
				in := b.input
				if l > 0 {
					in = b.layers[l-1].h
				}
				if err := s.backward(s.Stack[l], b.layers[l], g, b.dIn[l], rows); err != nil {
					return err
				}
				if err := s.weightGradient(s.Stack[l], b.layers[l], in, rows); err != nil {
					return err
				}
				g = b.dIn[l]
			}
			return nil
		})
	}
	if err != nil {
		return nil, s.failed(fmt.Errorf("%s: learn: %w", s.name, err))
	}
	s.lossSums, s.lossWeight = b.sqerrSumsHost, weight
	// The span ends with the device work: waitLoss's sum is host time,
	// which would otherwise count as synthesizer time on the device's clock.
	return s.loss, done()
}

// waitLoss waits for the squared errors of the last Learn and returns its
// loss.
func (s *Synthesizer) waitLoss() (float64, error) {
	if err := s.waitFetched(); err != nil {
		return 0, fmt.Errorf("%s: learn: %w", s.name, err)
	}
	return s.lossWeight * sum64(s.lossSums), nil
}

// Update applies the gradients of the last Learn, without waiting.
func (s *Synthesizer) Update() error {
	s.fwdH, s.fwdLabels = nil, nil // the parameters change: no forward pass to reuse
	return s.state.Update()
}
