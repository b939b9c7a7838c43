package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
)

// The ways to execute training steps.
const (
	// ExecSync runs each step layer by layer on one goroutine:
	// deterministic.
	ExecSync = "sync"
	// ExecAsync runs groups of consecutive layers on their own workers,
	// joined by bounded queues: activations flow up, δ targets flow down,
	// and no layer waits for the layers above it to update. Each worker
	// leaves its modules' weight gradients and updates to a spare finisher
	// goroutine when another worker leaves a place idle, and computes them
	// itself otherwise; workers, finishers and kernels share the run's
	// places (Config.places: workers × threads).
	ExecAsync = "async"
)

// message carries one step's batch between workers: the activations (or
// the input) with the labels going up, or a δ target going down. Its
// buffers are allocated once per batch size and travel back on a free list.
type message struct {
	step int
	b    *batch
	raw  *tensor.Dense // the network's input x, sent along with h when inputs are unlocked
	// apart says that a δ target going down comes as the operands of its
	// product, in product, for the receiver to compute (worker.apart).
	apart   bool
	product fused.InputGradient
	// sizes holds a batch per batch size (the last of an epoch is smaller),
	// its tensors from alloc (hostArena.matrix).
	alloc                  func(rows, cols int) *tensor.Dense
	sizes                  map[int]*batch
	raws                   map[int]*tensor.Dense
	cols, classes, rawCols int
}

func newMessage(alloc func(rows, cols int) *tensor.Dense, cols, classes, rawCols int) *message {
	return &message{alloc: alloc, sizes: map[int]*batch{}, raws: map[int]*tensor.Dense{}, cols: cols, classes: classes, rawCols: rawCols}
}

// resize points m.b at the buffers for rows samples.
func (m *message) resize(rows int) *batch {
	b, ok := m.sizes[rows]
	if !ok {
		b = &batch{x: m.alloc(rows, m.cols), classes: make([]uint8, rows)}
		if m.classes > 0 {
			b.labels = m.alloc(rows, m.classes)
		}
		m.sizes[rows] = b
		if m.rawCols > 0 {
			m.raws[rows] = m.alloc(rows, m.rawCols)
		}
	}
	m.b, m.raw = b, m.raws[rows]
	return b
}

// epochBatches returns a function that fills the remaining batches of epoch
// e, in order, into a message of its own from alloc, and reports false once
// they are out. The functions of an epoch may be called on goroutines of
// their own: each reads the epoch's order, made here.
func (t *Trainer) epochBatches(alloc func(rows, cols int) *tensor.Dense, e int) func() (*message, bool) {
	t.batchSamples(e, 0)
	per := t.StepsPerEpoch()
	m, step := newMessage(alloc, t.net.cfg.Inputs, t.net.cfg.Classes, 0), t.step
	return func() (*message, bool) {
		if step == (e+1)*per {
			return nil, false
		}
		idx := t.batchSamples(e, step%per)
		m.step = step
		fillBatch(m.resize(len(idx)), t.train, idx, t.net.cfg)
		step++
		return m, true
	}
}

// fill copies a step's tensors into m (raw only when m carries it).
func (m *message) fill(step int, x, labels *tensor.Dense, classes []uint8, raw *tensor.Dense) {
	b := m.resize(x.Shape()[0])
	m.step, m.apart = step, false
	copy(b.x.Float32s(), x.Float32s())
	if labels != nil {
		copy(b.labels.Float32s(), labels.Float32s())
	}
	copy(b.classes, classes)
	if m.raw != nil {
		copy(m.raw.Float32s(), raw.Float32s())
	}
}

// link joins a worker to the one above it. Each direction has a fixed set of
// buffers: a sender takes one from the free list, so the number of steps in
// flight is bounded.
type link struct {
	data, dataFree       chan *message // activations and labels going up
	targets, targetsFree chan *message // δ targets going down
}

// newLink returns a link whose messages carry cols activations (and rawCols
// of the network's input) with classes labels up, and cols-wide targets
// down.
func newLink(alloc func(rows, cols int) *tensor.Dense, buffers, cols, classes, rawCols int) *link {
	l := &link{data: make(chan *message, buffers), dataFree: make(chan *message, buffers),
		targets: make(chan *message, buffers), targetsFree: make(chan *message, buffers)}
	for range buffers {
		l.dataFree <- newMessage(alloc, cols, classes, rawCols)
		l.targetsFree <- newMessage(alloc, cols, 0, 0)
	}
	return l
}

// worker runs stages first..last of the network: hidden layers, and the top
// layer when last == len(hidden).
type worker struct {
	net         *Network
	first, last int
	in, up      *link // up is nil for the top worker, in nil for the first
	// batch, for a worker that takes the network's input (the first, and
	// with unlocked inputs every one), fills its next batch, false once the
	// epoch's are out. A feeder goroutine left the first worker waiting for
	// each: the feeder wants a core while the workers hold them all, and
	// got one only once the worker had stopped to wait. That took 2–5% of
	// its time in an epoch of 4-layer cDNI on 2 workers.
	batch func() (*message, bool)
	// apart says that the worker's first layer leaves δ_{first-1}, the
	// target it sends down, for the worker below to compute (see
	// stageGroup).
	apart bool
	// belowDone says that the worker below has sent its last activations,
	// which with unlocked inputs only train the input model of the
	// worker's first layer.
	belowDone bool
	// saved keeps the output of the worker's last hidden layer, and the
	// labels, of each step whose δ target has not come back from above:
	// the input on which that layer's synthesizer will learn.
	saved   []*message
	pending int
	// With unlocked inputs the worker above may run ahead: targets for
	// steps this worker has not reached yet wait in early, in order.
	early    []*message
	lastStep int // the last step this worker ran, -1 before the first
	// finisher takes the weight gradients and updates of the worker's
	// layers and synthesizers while a place is free for them (a spare
	// finisher: see finisher.takes).
	finisher *finisher
	sgLoss   float64
	sgCount  int
	waited   time.Duration // in wait, holding no place
	exited   time.Time     // when run returned
	// Results of the top worker.
	onResult func(loss float64, logits *tensor.Dense, classes []uint8)
}

func (w *worker) hasTop() bool { return w.last == len(w.net.hidden) }

// lastHidden returns the index of the worker's last hidden layer, or -1.
func (w *worker) lastHidden() int {
	if w.hasTop() {
		return w.last - 1
	}
	return w.last
}

// run runs the worker's steps of the epoch until they are done or ctx is
// cancelled, and reports its first failure to fail: at once, so that the
// other workers stop and the run's error is the earliest, then waits for
// its finisher.
func (w *worker) run(ctx context.Context, fail func(error)) {
	w.net.cores.Acquire() // the worker holds a place while it computes
	defer w.net.cores.Release(1)
	w.finisher = startFinisher(w.net, true)
	fail(w.steps(ctx))
	// Every learning step ends before the epoch does, even a failed one.
	fail(w.finisher.stop())
	w.exited = time.Now()
}

// steps runs the worker's steps until they are done, ctx is cancelled or
// one fails.
func (w *worker) steps(ctx context.Context) error {
	for {
		m, ok, err := w.receive(ctx)
		if err != nil || !ok {
			if err == nil {
				err = w.drain(ctx)
			}
			return err
		}
		if err := w.step(ctx, m); err != nil {
			return atStep(m.step, err)
		}
		if w.batch == nil {
			w.in.dataFree <- m // never blocks: the buffer came from this list
		}
	}
}

// learn trains M_i on the target δ_i for its input h, finishing on the
// worker's finisher.
func (w *worker) learn(i, step int, h, labels, target *tensor.Dense) error {
	l, err := w.net.learn(w.finisher, i, step, h, labels, target)
	if err != nil {
		return err
	}
	w.sgLoss += l
	w.sgCount++
	return nil
}

// unlocked reports whether the worker's first layer takes a synthetic
// input, so that activations from below are targets rather than inputs.
func (w *worker) unlocked() bool { return w.first > 0 && w.net.cfg.Unlock }

// wait returns the next message on want (ok is false once it is closed),
// handling meanwhile what must never wait: δ targets from above and, when
// inputs are unlocked, activations from below. With want nil it returns
// after handling one such event. Handling events in every wait is what
// keeps two workers waiting on each other's buffers from deadlocking.
func (w *worker) wait(ctx context.Context, want chan *message) (*message, bool, error) {
	var targets, below chan *message
	if w.up != nil {
		targets = w.up.targets
	}
	if w.unlocked() && !w.belowDone {
		below = w.in.data
	}
	for {
		w.net.cores.Release(1) // while it waits, another goroutine may compute
		since := time.Now()
		select {
		case m, ok := <-want:
			w.resume(since)
			return m, ok, nil
		case t := <-targets:
			w.resume(since)
			if err := w.learnFromAbove(t); err != nil || want == nil {
				return nil, true, err
			}
		case m, ok := <-below:
			w.resume(since)
			if !ok {
				w.belowDone, below = true, nil
			} else if err := w.learnInputFromBelow(m); err != nil {
				return nil, false, err
			}
			if want == nil {
				return nil, true, nil
			}
		case <-ctx.Done():
			w.resume(since)
			return nil, false, context.Cause(ctx)
		}
	}
}

// resume ends a wait that began at since: the worker takes a place again
// and counts the time, that of waiting for the place included.
func (w *worker) resume(since time.Time) {
	w.net.cores.Acquire()
	w.waited += time.Since(since)
}

// receive waits for the next batch, first waiting for targets while every
// saved slot is in use: that bounds how far this worker runs ahead of the
// one above. A worker that takes the network's input fills its own batch,
// after handling what has come meanwhile.
func (w *worker) receive(ctx context.Context) (*message, bool, error) {
	for w.up != nil && w.pending == len(w.saved) {
		if _, _, err := w.wait(ctx, nil); err != nil {
			return nil, false, err
		}
	}
	if w.batch == nil {
		return w.wait(ctx, w.in.data)
	}
	for w.up != nil && len(w.up.targets) > 0 {
		if err := w.learnFromAbove(<-w.up.targets); err != nil {
			return nil, false, err
		}
	}
	for w.unlocked() && len(w.in.data) > 0 { // a closed channel's len is that of what it holds
		if err := w.learnInputFromBelow(<-w.in.data); err != nil {
			return nil, false, err
		}
	}
	if ctx.Err() != nil {
		return nil, false, context.Cause(ctx)
	}
	m, ok := w.batch()
	return m, ok, nil
}

// take waits for a free buffer.
func (w *worker) take(ctx context.Context, free chan *message) (*message, error) {
	m, _, err := w.wait(ctx, free)
	return m, err
}

// drain waits for the targets of every step still saved and, when inputs
// are unlocked, for the last activations from below; then it tells the
// worker above that no more batches come.
func (w *worker) drain(ctx context.Context) error {
	for (w.up != nil && w.pending > 0) || (w.unlocked() && !w.belowDone) {
		if _, _, err := w.wait(ctx, nil); err != nil {
			return err
		}
	}
	if w.up != nil {
		close(w.up.data)
	}
	return nil
}

// learnFromAbove trains the synthesizer of the worker's last hidden layer
// on the δ target t sent down for an earlier step.
func (w *worker) learnFromAbove(t *message) error {
	if t.step > w.lastStep {
		w.early = append(w.early, t)
		return nil
	}
	s := w.saved[t.step%len(w.saved)]
	if s.step != t.step || w.pending == 0 {
		return fmt.Errorf("target for step %d arrived, step %d was saved", t.step, s.step)
	}
	var target *tensor.Dense
	if t.apart {
		var err error
		if target, err = t.product.Compute(); err != nil {
			return atStep(t.step, err)
		}
	} else {
		target = t.b.x
	}
	if err := w.learn(w.last, t.step, s.b.x, s.b.labels, target); err != nil {
		return atStep(t.step, err)
	}
	w.pending--
	w.up.targetsFree <- t
	return nil
}

// learnInputFromBelow trains the input model of the worker's first layer on
// the real activation that has now come from below.
func (w *worker) learnInputFromBelow(m *message) error {
	if err := w.net.learnInput(w.first-1, m.raw, m.b.x); err != nil {
		return atStep(m.step, err)
	}
	w.in.dataFree <- m
	return nil
}

// step runs the worker's layers on one batch: the decoupled step of
// Network.decoupledStep, cut at the worker's boundaries.
func (w *worker) step(ctx context.Context, m *message) error {
	n := w.net
	x, labels := m.b.x, m.b.labels // with unlocked inputs x is the network's input
	in, prev := x, (*tensor.Dense)(nil)
	var err error
	// With w.apart the first layer's backward pass fills the target going
	// down: its buffer is taken first, while no layer is mid-step.
	var down *message
	if w.apart {
		if down, err = w.take(ctx, w.in.targetsFree); err != nil {
			return err
		}
	}
	if w.unlocked() {
		if in, err = n.inputs[w.first-1].Predict(x, nil); err != nil {
			return err
		}
	}
	for i := w.first; i <= w.lastHidden(); i++ {
		if i > w.first && n.cfg.Unlock {
			if in, err = n.inputs[i-1].Predict(x, nil); err != nil {
				return err
			}
		}
		var apart *fused.InputGradient
		if i == w.first && down != nil {
			apart = &down.product
		}
		h, delta, err := n.layerStep(w.finisher, i, m.step, in, labels, apart, nil)
		if err != nil {
			return err
		}
		if apart != nil {
			down.step, down.apart = m.step, true
			w.in.targets <- down // never blocks: the buffer came from its free list
		} else if err := w.target(ctx, i-1, m.step, prev, x, labels, delta); err != nil {
			return err
		}
		prev, in = h, h
	}
	if w.hasTop() {
		if w.last > w.first && n.cfg.Unlock {
			if in, err = n.inputs[w.last-1].Predict(x, nil); err != nil {
				return err
			}
		}
		loss, logits, grad, err := n.topStep(in, labels, m.step)
		if err != nil {
			return err
		}
		// The top layer has updated: the step counts before sending its
		// target, which may wait for a buffer and be cancelled.
		w.onResult(loss, logits, m.b.classes)
		return w.target(ctx, w.last-1, m.step, prev, x, labels, grad)
	}
	// Keep h and the labels until the target comes back, and send them up.
	s := w.saved[m.step%len(w.saved)]
	s.fill(m.step, prev, labels, m.b.classes, nil)
	w.pending++
	w.lastStep = m.step
	for len(w.early) > 0 && w.early[0].step <= w.lastStep {
		t := w.early[0]
		w.early = w.early[:copy(w.early, w.early[1:])]
		if err := w.learnFromAbove(t); err != nil {
			return err
		}
	}
	u, err := w.take(ctx, w.up.dataFree)
	if err != nil {
		return err
	}
	u.fill(m.step, prev, labels, m.b.classes, x)
	w.up.data <- u
	return nil
}

// target delivers δ_i, the target of M_i computed by layer i+1: to M_i at
// once when layer i is on this worker (h is then its output h_i, and with
// unlocked inputs I_{i+1} learns from it too), down to the worker below
// otherwise.
func (w *worker) target(ctx context.Context, i, step int, h, x, labels, delta *tensor.Dense) error {
	switch {
	case i < 0:
		return nil // the first layer's input is data
	case i >= w.first:
		if err := w.learn(i, step, h, labels, delta); err != nil {
			return err
		}
		if w.net.cfg.Unlock {
			return w.net.learnInput(i, x, h)
		}
		return nil
	}
	t, err := w.take(ctx, w.in.targetsFree)
	if err != nil {
		return err
	}
	t.fill(step, delta, nil, nil, nil)
	w.in.targets <- t
	return nil
}

// stageGroup is the stages first..last that an async worker runs. apart
// says that stage first leaves δ_{first-1} for the group below to compute
// (see Network.leavesApart).
type stageGroup struct {
	first, last int
	apart       bool
}

// partition splits the stages (hidden layers, then the top) into at most
// workers groups of consecutive stages, balancing their estimated cost, and
// says which groups leave their first δ to the group below: those where
// moving that product down lowers the largest group's cost.
func (n *Network) partition(workers int) []stageGroup {
	costs := n.stageCosts()
	stages := len(costs)
	workers = max(1, min(workers, stages))
	// movable reports whether stage j can leave its product to the group
	// below when it starts a group.
	movable := func(j int) bool { return j > 0 && j < stages && costs[j].apart > 0 }
	// cost returns the cost of the group of stages [i, j), where mi = 1
	// says that stage i leaves its product to the group below, and m = 1
	// that stage j leaves its product to this group.
	cost := func(i, j, mi, m int) int64 {
		var c int64
		for _, s := range costs[i:j] {
			c += s.step
		}
		if i > 0 { // a group above another learns its first input model again
			c += costs[i].inputRefit - int64(mi)*costs[i].apart
		}
		if j < stages { // a group below another learns its last synthesizer again
			c += costs[j-1].refit + int64(m)*costs[j].apart
		}
		return c
	}
	// best[k][j][m]: the least maximum group cost splitting stages [0, j)
	// into k groups, where with m = 1 the last group also computes the
	// product that stage j moves down. cut holds the choice that gives it:
	// where the last group starts, and whether its first stage moves.
	type choice struct{ first, m int }
	inf := int64(1) << 62
	best := make([][][2]int64, workers+1)
	cut := make([][][2]choice, workers+1)
	for k := range best {
		best[k] = make([][2]int64, stages+1)
		cut[k] = make([][2]choice, stages+1)
		for j := range best[k] {
			best[k][j] = [2]int64{inf, inf}
		}
	}
	best[0][0][0] = 0
	for k := 1; k <= workers; k++ {
		for j := k; j <= stages; j++ {
			for m := range 2 {
				if m == 1 && !movable(j) {
					continue
				}
				for i := j - 1; i >= k-1; i-- {
					for mi := range 2 {
						if mi == 1 && !movable(i) {
							continue
						}
						if c := max(best[k-1][i][mi], cost(i, j, mi, m)); c < best[k][j][m] {
							best[k][j][m], cut[k][j][m] = c, choice{i, mi}
						}
					}
				}
			}
		}
	}
	groups := make([]stageGroup, workers)
	for k, j, m := workers, stages, 0; k > 0; k-- {
		c := cut[k][j][m]
		groups[k-1] = stageGroup{first: c.first, last: j - 1, apart: c.m == 1}
		j, m = c.first, c.m
	}
	// The optimum may move products that it does not need, below a heavier
	// group: keep only the moves without which the largest cost grows.
	largest := func() (c int64) {
		for k, g := range groups {
			mi, m := 0, 0
			if g.apart {
				mi = 1
			}
			if k+1 < len(groups) && groups[k+1].apart {
				m = 1
			}
			c = max(c, cost(g.first, g.last+1, mi, m))
		}
		return c
	}
	least := largest()
	for k := range groups {
		if groups[k].apart {
			groups[k].apart = false
			if largest() > least {
				groups[k].apart = true
			}
		}
	}
	return groups
}

// stageCost estimates the multiply-adds per sample of a stage's training
// step, and those that depend on where the stage falls on the workers.
type stageCost struct {
	// step: the layer's forward and backward products and its
	// synthesizer's (and input model's).
	step int64
	// refit: the forward pass of the stage's synthesizer M_i, which a
	// worker whose last stage this is computes again when M_i's target
	// comes back from above, M_i having learned since its prediction.
	refit int64
	// apart: the product behind δ_{i-1}, which the stage can leave to the
	// worker below when it is the first of its worker (see leavesApart).
	apart int64
	// inputRefit: with unlocked inputs, the forward pass of the input
	// model Î_i of a stage i > 0, which a worker whose first stage this is
	// computes again when the real h_{i-1} comes from below.
	inputRefit int64
}

// leavesApart reports whether stage i, first on an async worker, can leave
// δ_{i-1} for the worker below to compute from the operands of its product
// (fused.InputGradient): one GEMM of the layer's, in·out multiply-adds per
// sample, moves down, at the cost of a copy of W_i a step. Stage i must be
// a hidden layer, not the first, that can (apartBackward).
func (n *Network) leavesApart(i int) bool {
	if i == 0 || i >= len(n.hidden) {
		return false
	}
	_, ok := n.hidden[i].(apartBackward)
	return ok
}

// stageCosts estimates the cost of each stage.
func (n *Network) stageCosts() []stageCost {
	gemms := func(in, out int, inputGrad bool) int64 {
		c := int64(2 * in * out) // forward and weight gradient
		if inputGrad {
			c += int64(in * out)
		}
		return c
	}
	// model returns a synthesizer's training cost and its forward pass's.
	model := func(m Synthesizer) (train, forward int64) {
		cfg := m.Config()
		in := cfg.In + cfg.Classes
		for k := 0; k <= cfg.Hidden; k++ {
			out := cfg.Width
			if k == cfg.Hidden {
				out = cfg.OutWidth()
			}
			train += gemms(in, out, k > 0)
			forward += int64(in * out)
			in = out
		}
		return train, forward
	}
	var costs []stageCost
	for i, l := range n.hidden {
		s := l.LayerSpec()
		c := stageCost{step: gemms(s.In, s.Out, i > 0)}
		if m, ok := n.models[i].(Synthesizer); ok {
			train, forward := model(m)
			c.step += train
			c.refit = forward
		}
		if i > 0 && n.inputs != nil {
			train, forward := model(n.inputs[i-1])
			c.step += train
			c.inputRefit = forward
		}
		if n.leavesApart(i) {
			c.apart = int64(s.In * s.Out)
		}
		costs = append(costs, c)
	}
	s := n.top.LayerSpec()
	c := stageCost{step: gemms(s.In, s.Out, len(n.hidden) > 0)}
	if n.inputs != nil {
		train, forward := model(n.inputs[len(n.inputs)-1])
		c.step += train
		c.inputRefit = forward
	}
	return append(costs, c)
}

// runEpochAsync trains the remaining steps of the current epoch on workers.
func (t *Trainer) runEpochAsync(ctx context.Context, onStep func(Progress)) (EpochStats, error) {
	cfg := t.net.cfg
	per := t.StepsPerEpoch()
	epoch := t.Epoch()
	stats := EpochStats{Epoch: epoch + 1}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	groups := t.net.partition(cfg.workers())
	buffers := cfg.Queue
	rawCols := 0 // activations going up carry x when inputs are unlocked
	if cfg.Unlock {
		rawCols = cfg.Inputs
	}
	// The epoch's messages, taken back for the next epoch's: every module
	// call has finished its uploads from them when it returns, and every
	// worker has returned before the deferred reuse.
	alloc := t.net.epochHost.matrix
	defer t.net.epochHost.reuse()
	workers := make([]*worker, len(groups))
	var lossSum float64
	var wrong int
	start := time.Now()
	var in *link
	for k, g := range groups {
		w := &worker{net: t.net, first: g.first, last: g.last, in: in, apart: g.apart,
			lastStep: -1, early: make([]*message, 0, buffers)}
		if k == 0 || cfg.Unlock {
			w.batch = t.epochBatches(alloc, epoch)
		}
		if !w.hasTop() {
			w.up = newLink(alloc, buffers, cfg.Hidden, cfg.Classes, rawCols)
			for range buffers + 1 {
				w.saved = append(w.saved, newMessage(alloc, cfg.Hidden, cfg.Classes, 0))
			}
			in = w.up
		} else {
			w.onResult = func(loss float64, logits *tensor.Dense, classes []uint8) {
				rows := len(classes)
				t.step++
				stats.Steps++
				stats.Samples += rows
				lossSum += loss * float64(rows)
				wrong += countWrong(logits, classes)
				if onStep != nil {
					onStep(Progress{Step: t.step - epoch*per, Steps: per, Loss: lossSum / float64(stats.Samples), Samples: stats.Samples, Elapsed: time.Since(start)})
				}
			}
		}
		workers[k] = w
	}

	var wg sync.WaitGroup
	fail := func(err error) {
		if err != nil {
			cancel(err)
		}
	}
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, fail)
		}()
	}
	wg.Wait()

	var sgSum float64
	var sgCount int
	for _, w := range workers {
		sgSum += w.sgLoss
		sgCount += w.sgCount
	}
	stats = t.finish(stats, lossSum, 0, wrong, start)
	if sgCount > 0 {
		stats.SGLoss = sgSum / float64(sgCount)
	}
	end := start.Add(time.Duration(stats.Seconds * float64(time.Second)))
	for _, w := range workers {
		idle := w.waited + max(0, end.Sub(w.exited)) // done before the others
		stats.WorkerBusy = append(stats.WorkerBusy, max(0, 1-idle.Seconds()/stats.Seconds))
	}
	// The cause is the first failure, the parent's error after a
	// cancellation, or nil. A cancellation that came once the top layer
	// had taken the epoch's last step, while the workers below drained,
	// stopped no step: the epoch is complete, as the synchronous loop's
	// would be.
	err := context.Cause(ctx)
	if err != nil && t.step == (epoch+1)*per && err == context.Cause(parent) {
		err = nil
	}
	return stats, t.net.explain(err)
}
