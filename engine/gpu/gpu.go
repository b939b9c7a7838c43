//go:build gpu

package gpu

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
)

// Options are the settings shared by the modules of a network.
type Options struct {
	// Device is the device the modules run on.
	Device *cuda.Device
	// Timeline, when not nil, records the device time of every update and
	// every synthesizer call.
	Timeline *Timeline
	// Handoff, when not nil, lets the modules take one another's outputs
	// on the device (see Handoff): a network's modules share one.
	Handoff *Handoff
}

// batchNorm are the constants shared with graph's batch norm.
var batchNorm = cuda.BatchNorm{Eps: graph.BatchNormEps, Momentum: graph.BatchNormMomentum}

// data returns the float32 elements of t.
func data(t *tensor.Dense) []float32 { return t.Float32s() }

// state is a module's device side: its stream, and the device copies of its
// parameters, their gradients, its statistics and its optimizer's slots.
type state struct {
	dev      *cuda.Device
	stream   *cuda.Stream
	timeline *Timeline
	spanKind SpanKind // what the timeline calls this module's updates
	name     string
	params   []*graph.Param // trainable, in the optimizer's order
	stats    []*graph.Param
	opt      *optim.Optimizer
	value    map[*graph.Param]cuda.Buffer
	grad     map[*graph.Param]cuda.Buffer
	slots    [][]cuda.Buffer // slots[k]: the optimizer state of params[k]
	// The parameters' values, gradients and optimizer slots each lie in
	// one buffer (see paramOffsets), so that one kernel updates them all.
	allValues, allGrads cuda.Buffer
	allSlots            []cuda.Buffer
	fetched             *cuda.Event              // see waitFetched
	wait                func() error             // s.waitFetched, made once
	events              []*cuda.Event            // every event of the module, for Close
	graphs              map[graphKey]*cuda.Graph // see replay
	handoff             *Handoff
	offered             map[*float32][]float32 // the host copies offered to handoff, to withdraw at Close
	owned               []cuda.Buffer          // every device buffer of the module, for Close
	pinned              []*cuda.Pinned         // every pinned host buffer of the module
}

// newState allocates the device side of a module and uploads the initial
// parameters; kind is the timeline's name for its updates.
func newState(name string, kind SpanKind, params, stats []*graph.Param, cfg optim.Config, o Options) (*state, error) {
	s := &state{dev: o.Device, timeline: o.Timeline, handoff: o.Handoff, spanKind: kind, name: name, params: params, stats: stats,
		value: map[*graph.Param]cuda.Buffer{}, grad: map[*graph.Param]cuda.Buffer{}, graphs: map[graphKey]*cuda.Graph{}}
	var values []*tensor.Dense
	for _, p := range params {
		values = append(values, p.Value)
	}
	var err error
	if s.opt, err = optim.New(cfg, values); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A synthesizer's work is on the step's critical path (a layer waits
	// for its ĝ), an update is not: synthesizers get the urgent streams, so
	// that their kernels start ahead of an update's pending blocks.
	newStream := s.dev.NewStream
	if kind == SynthSpan {
		newStream = s.dev.NewUrgentStream
	}
	if s.stream, err = newStream(); err == nil {
		s.fetched, err = s.newEvent()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.wait = s.waitFetched
	al := s.allocator()
	sizes := make([]int, len(params))
	for k, p := range params {
		sizes[k] = p.Size()
	}
	offsets, total := paramOffsets(sizes)
	if total > 0 {
		s.allValues, s.allGrads = al.get(total), al.get(total)
		for range s.opt.Slots(0) {
			s.allSlots = append(s.allSlots, al.get(total))
		}
	}
	for k, p := range params {
		if al.err != nil {
			break
		}
		s.value[p], s.grad[p] = s.allValues.Slice(offsets[k], p.Size()), s.allGrads.Slice(offsets[k], p.Size())
		s.slots = append(s.slots, nil)
		for _, all := range s.allSlots {
			s.slots[k] = append(s.slots[k], all.Slice(offsets[k], p.Size()))
		}
	}
	for _, p := range stats {
		s.value[p] = al.get(p.Size())
	}
	if al.err == nil {
		al.err = s.SyncDevice()
	}
	if al.err != nil {
		s.Close() // what was allocated; the first error is the one to report
		return nil, al.err
	}
	return s, nil
}

// Optimizer returns the optimizer whose configuration, step count and
// (mirrored) slots the module uses.
func (s *state) Optimizer() *optim.Optimizer { return s.opt }

// Update queues one optimizer step of every parameter on the module's
// stream, one kernel for them all, without waiting for it: the next call
// on the module runs after it, and other modules' work overlaps it.
func (s *state) Update() error {
	done := s.timeline.begin(s.stream, s.spanKind, s.name)
	cfg := s.opt.Config()
	lr := cfg.RateAt(s.opt.Steps())
	s.opt.SetSteps(s.opt.Steps() + 1)
	stepSize, invSqrtC2 := kernels.AdamScalars(lr, cfg.Beta1, cfg.Beta2, s.opt.Steps())
	if s.allValues.Nil() {
		return done()
	}
	var err error
	if cfg.Kind == optim.SGD {
		err = s.stream.MomentumStep(s.allValues, s.allGrads, s.allSlots[0], lr, cfg.Momentum)
	} else {
		err = s.stream.AdamStep(s.allValues, s.allGrads, s.allSlots[0], s.allSlots[1], cfg.Beta1, cfg.Beta2, cfg.Eps, stepSize, invSqrtC2)
	}
	if err != nil {
		return fmt.Errorf("%s: update: %w", s.name, err)
	}
	return done()
}

// SyncHost copies the device state (parameters, statistics, optimizer
// slots) and the last gradients into the host tensors, after the work
// queued so far.
func (s *state) SyncHost() error {
	for _, p := range s.params {
		if err := s.stream.Download(data(p.Grad), s.grad[p]); err != nil {
			return fmt.Errorf("%s: gradient of %s: %w", s.name, p.Name, err)
		}
	}
	return s.each(func(host *tensor.Dense, dev cuda.Buffer) error { return s.stream.Download(data(host), dev) })
}

// SyncDevice copies the host tensors (parameters, statistics, optimizer
// slots) to the device, as after loading a checkpoint.
func (s *state) SyncDevice() error {
	if err := s.each(func(host *tensor.Dense, dev cuda.Buffer) error { return s.stream.Upload(dev, data(host)) }); err != nil {
		return err
	}
	return s.stream.Sync()
}

// each calls f on every pair of host tensor and device buffer of s.
func (s *state) each(f func(*tensor.Dense, cuda.Buffer) error) error {
	for k, p := range s.params {
		if err := f(p.Value, s.value[p]); err != nil {
			return fmt.Errorf("%s: %s: %w", s.name, p.Name, err)
		}
		for j, slot := range s.opt.Slots(k) {
			if err := f(slot, s.slots[k][j]); err != nil {
				return fmt.Errorf("%s: %s slot %d: %w", s.name, p.Name, j, err)
			}
		}
	}
	for _, p := range s.stats {
		if err := f(p.Value, s.value[p]); err != nil {
			return fmt.Errorf("%s: %s: %w", s.name, p.Name, err)
		}
	}
	return nil
}

// graphKey names a sequence of a module's kernels for one batch size and
// pass.
type graphKey struct {
	step string // what the kernels compute
	rows int
	pass graph.Pass
}

// replay queues the kernels that queue puts on the module's stream: the
// first time for key as queue puts them, one launch each (which also sizes
// the stream's work buffer), then recorded into a graph that this call and
// every later one with key launch instead, in one launch. For one key,
// queue must put the same kernels on the same buffers with the same
// constants every time, and nothing but kernels. A module call is bound by
// the host's launches: a default DNI synthesizer's backward pass is 11 to
// 16 kernels (five GEMMs, each with its split-K sum when split).
func (s *state) replay(key graphKey, queue func() error) error {
	g, seen := s.graphs[key]
	switch {
	case g != nil:
		return s.stream.Launch(g)
	case !seen:
		s.graphs[key] = nil
		return queue()
	}
	g, err := s.stream.Capture(queue)
	if err != nil {
		return err
	}
	s.graphs[key] = g
	return s.stream.Launch(g)
}

// newEvent returns a new event of the module, which Close destroys.
func (s *state) newEvent() (*cuda.Event, error) {
	e, err := s.dev.NewEvent()
	if err == nil {
		s.events = append(s.events, e)
	}
	return e, err
}

// markFetched records the fetched event on the module's stream: after the
// downloads of a call that the host reads, or, in a call that downloads
// nothing, after its uploads (not the kernels queued after them).
// waitFetched waits for that point: the host may then read what the call
// returned, and change the tensors it passed, while the kernels queued
// after run on. (Uploads from pinned memory, the outputs of other GPU
// modules, are asynchronous DMA transfers.)
func (s *state) markFetched() error { return s.stream.Record(s.fetched) }

// waitFetched waits for the point markFetched recorded last.
func (s *state) waitFetched() error { return s.fetched.Sync() }

// sum64 returns the sum of v in float64: how the losses computed per
// sample or per column on the device are added up on the host.
func sum64(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	return sum
}

// cacheKey identifies a set of buffers: one per batch size and mode.
type cacheKey struct {
	batch int
	train bool
}

// affineBuffers are the device buffers of one dense transform for one
// batch size.
type affineBuffers struct {
	h            cuda.Buffer   // output act(BN(x·W + b)), batch×out
	dz           cuda.Buffer   // gradient before the activation
	xhat         cuda.Buffer   // batch norm's normalised input
	mean, invStd cuda.Buffer   // batch norm's batch statistics
	runScratch   cuda.Buffer   // takes the running statistics of a graph.RefitPass (2·out)
	out          *tensor.Dense // host copy of h, when the module returns it
}

// buffers allocates the device buffers of a for a batch.
func (s *state) buffers(al *allocator, a *graph.Affine, batch int, train bool) *affineBuffers {
	b := &affineBuffers{h: al.get(batch * a.Out), out: al.matrix(batch, a.Out)}
	if train {
		b.dz = al.get(batch * a.Out)
		if a.BatchNorm {
			b.xhat = al.get(batch * a.Out)
			b.mean, b.invStd = al.get(a.Out), al.get(a.Out)
			b.runScratch = al.get(2 * a.Out)
		}
	}
	return b
}

// allocator allocates device buffers until the first error, which it
// keeps: a module allocates a set of buffers, then checks once.
type allocator struct {
	s   *state
	err error
}

func (s *state) allocator() *allocator { return &allocator{s: s} }

// matrix returns a rows×cols tensor in pinned host memory, so that
// downloads into it are DMA transfers and uploads from it (into the next
// module) too; after an error, an ordinary tensor.
func (al *allocator) matrix(rows, cols int) *tensor.Dense {
	return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(al.pinned(rows*cols)))
}

// pinned returns n floats of pinned host memory, or of ordinary memory
// after an error.
func (al *allocator) pinned(n int) []float32 {
	if al.err == nil {
		p, err := al.s.dev.AllocPinned(n)
		if err == nil {
			al.s.pinned = append(al.s.pinned, p)
			return p.Floats()
		}
		al.err = fmt.Errorf("%s: %w", al.s.name, err)
	}
	return make([]float32, n)
}

// get returns a zeroed buffer of n floats, or the null buffer after an
// error.
func (al *allocator) get(n int) cuda.Buffer {
	if al.err != nil {
		return cuda.Buffer{}
	}
	b, err := al.s.dev.Alloc(n)
	if err != nil {
		al.err = fmt.Errorf("%s: %w", al.s.name, err)
		return b
	}
	al.s.owned = append(al.s.owned, b)
	return b
}

// Close waits for the module's work and releases its device memory, its
// pinned host memory, its stream and its events. The tensors it returned
// that live in pinned memory (its outputs) must not be used afterwards.
func (s *state) Close() error {
	err := s.stream.Sync()
	keep := func(e error) {
		if err == nil && e != nil {
			err = fmt.Errorf("%s: close: %w", s.name, e)
		}
	}
	for _, host := range s.offered {
		s.handoff.withdraw(host)
	}
	s.offered = nil
	for _, g := range s.graphs {
		if g != nil {
			keep(g.Close())
		}
	}
	s.graphs = nil
	for _, b := range s.owned {
		keep(s.dev.Free(b))
	}
	for _, p := range s.pinned {
		keep(p.Free())
	}
	s.owned, s.pinned = nil, nil
	for _, e := range s.events {
		keep(e.Close())
	}
	s.events = nil
	keep(s.stream.Close())
	return err
}

// forward queues buf.h = act(BN(x·W + b)) for a batch of rows: one GEMM
// with the bias and activation in its epilogue, or, with batch norm, the
// GEMM, the normalisation and the activation.
func (s *state) forward(a *graph.Affine, buf *affineBuffers, x cuda.Buffer, rows int, p graph.Pass) error {
	w, act := s.value[a.W], int(a.Act)
	if !a.BatchNorm {
		return s.stream.Gemm(buf.h, x, w, s.value[a.B], rows, a.Out, a.In, a.In, a.Out, a.Out, false, false, 0, act)
	}
	if err := s.stream.Gemm(buf.h, x, w, cuda.Buffer{}, rows, a.Out, a.In, a.In, a.Out, a.Out, false, false, 0, 0); err != nil {
		return err
	}
	gamma, beta, rm, rv := s.value[a.Gamma], s.value[a.Beta], s.value[a.RunMean], s.value[a.RunVar]
	if p == graph.RefitPass {
		rm, rv = buf.runScratch.Slice(0, a.Out), buf.runScratch.Slice(a.Out, a.Out)
	}
	var err error
	if p != graph.EvalPass {
		err = s.stream.BatchNormForwardTrain(batchNorm, buf.h, buf.xhat, buf.mean, buf.invStd, gamma, beta, rm, rv, rows, a.Out)
	} else {
		err = s.stream.BatchNormForwardEval(batchNorm, buf.h, gamma, beta, rm, rv, rows, a.Out)
	}
	if err != nil {
		return err
	}
	return s.stream.BiasActivate(buf.h, cuda.Buffer{}, rows, a.Out, act)
}

// backward queues, from the upstream gradient g of buf.h, the gradient dz
// before the activation, the bias (or batch-norm) gradients and, unless dx
// is the null buffer, dx = ∂L/∂x; weightGradient queues ∂L/∂W after it.
// They are apart so that a caller that downloads dx waits for dx alone:
// only the update reads ∂L/∂W, so it is queued after the download and
// computed while the host goes on.
func (s *state) backward(a *graph.Affine, buf *affineBuffers, g, dx cuda.Buffer, rows int) error {
	act := int(a.Act)
	if err := s.stream.ActivationBackward(buf.dz, g, buf.h, rows, a.Out, act); err != nil {
		return err
	}
	var err error
	if a.BatchNorm {
		err = s.stream.BatchNormBackward(buf.dz, buf.xhat, buf.invStd, s.value[a.Gamma], s.grad[a.Gamma], s.grad[a.Beta], rows, a.Out)
	} else {
		err = s.stream.ColumnSums(s.grad[a.B], buf.dz, rows, a.Out)
	}
	if err != nil || dx.Nil() {
		return err
	}
	// ∂L/∂x = dz·Wᵀ (W is In×Out).
	return s.stream.Gemm(dx, buf.dz, s.value[a.W], cuda.Buffer{}, rows, a.In, a.Out, a.Out, a.Out, a.In, false, true, 0, 0)
}

// weightGradient queues ∂L/∂W = xᵀ·dz for the input x (rows×In) of the
// batch whose dz backward computed.
func (s *state) weightGradient(a *graph.Affine, buf *affineBuffers, x cuda.Buffer, rows int) error {
	return s.stream.Gemm(s.grad[a.W], x, buf.dz, cuda.Buffer{}, a.In, a.Out, rows, a.In, a.Out, a.Out, true, false, 0, 0)
}
