package engine

import (
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
)

// deferredBackward is a Layer that can split Backward in two: δ_{i-1} at
// once, and the rest (the weight gradient, the larger part) in finish,
// which reads only the layer's own buffers and so may run on another
// goroutine before the layer's next call. fused.Dense is one.
type deferredBackward interface {
	BackwardDeferred(g *tensor.Dense) (dx *tensor.Dense, finish func() error, err error)
}

// apartBackward is a deferredBackward layer that can also leave δ_{i-1} out
// of its backward pass: BackwardApart and BackwardApartDeferred are Backward
// and BackwardDeferred that copy what δ_{i-1} needs into dst, whose Compute
// then runs on another goroutine (an async worker's first layer leaves its
// δ to the worker below). fused.Dense is one.
type apartBackward interface {
	deferredBackward
	BackwardApart(g *tensor.Dense, dst *fused.InputGradient) error
	BackwardApartDeferred(g *tensor.Dense, dst *fused.InputGradient) (finish func() error, err error)
}

// deferredLearner is a GradientModel that can split Learn in two: what
// reads the caller's tensors at once, and the rest (the backward pass
// through the model) in finish, which reads only the model's own buffers
// and so may run on another goroutine before the model's next call.
// fused.Synthesizer is one.
type deferredLearner interface {
	LearnDeferred(h, labels, target *tensor.Dense) (loss float64, finish func() error, err error)
}

// finisher runs the deferred halves of the backward passes of an async
// worker, or of the synchronous loop, each followed by its module's update,
// in order on a goroutine of its own: on the CPU another core can take them
// while the loop goes on to its next layer (on a GPU, separate streams play
// this part). In the synchronous loop's overlapped step a job is a lower
// layer's whole step instead (Network.lowerStep). Each slot has at most one
// job in flight, and a module waits for its slot's job before its next
// call. A nil *finisher stands for none: everything is done at once.
type finisher struct {
	net     *Network
	jobs    chan finishJob
	results []chan error // by slot: see layerSlot and modelSlot
	running []bool       // by slot: started and not yet waited for
	pending atomic.Int32 // jobs started and not yet done
	stopped chan struct{}
	// spare says that the finisher takes a job only when it is idle and a
	// place is free for it (see takes): an async worker's.
	spare    bool
	reserved bool // takes took a place for the next job
}

// finishJob is a deferred half of a backward pass (or a lower layer's
// step), with its step (whose update schedule applies, and which its errors
// name).
type finishJob struct {
	slot, step int
	finish     func() error
	reserved   bool // start took a place for it
}

// startFinisher starts a finisher for the modules of n, each job computing
// in a place of n's cores. A spare finisher takes only the jobs that a free
// place can run at once (see takes).
func startFinisher(n *Network, spare bool) *finisher {
	slots := 2 * len(n.hidden)
	f := &finisher{net: n, jobs: make(chan finishJob, slots), running: make([]bool, slots), stopped: make(chan struct{}), spare: spare}
	for range slots {
		f.results = append(f.results, make(chan error, 1))
	}
	go f.run()
	return f
}

func (f *finisher) run() {
	defer close(f.stopped)
	for j := range f.jobs {
		if !j.reserved {
			f.net.cores.Acquire()
		}
		err := j.finish()
		if err == nil {
			err = f.update(j)
		}
		if err != nil {
			err = &stepError{j.step, err}
		}
		f.net.cores.Release(1)
		f.pending.Add(-1)
		f.results[j.slot] <- err // never blocks: one job a slot at most
	}
}

// update applies the update that follows job j: hidden layer i's, by the
// schedule of Network.update, or synthesizer M_i's.
func (f *finisher) update(j finishJob) error {
	i := j.slot / 2
	if j.slot == modelSlot(i) {
		return f.net.models[i].Update()
	}
	return f.net.update(i, j.step)
}

// layerSlot and modelSlot return the slots of hidden layer i and of its
// synthesizer M_i.
func layerSlot(i int) int { return 2 * i }
func modelSlot(i int) int { return 2*i + 1 }

// takes reports whether the caller is to leave its next deferrable work to
// f (and call start) rather than do it at once. A nil finisher takes
// nothing, and the synchronous loop's takes everything. A spare finisher
// takes a job only when it has none and a place is free, which it then
// holds for the job: an async worker's deferred work runs on a core that
// another worker leaves idle, and otherwise stays on the worker's own core,
// beside the data it has just computed, with no hand-over. (4-layer cDNI
// on 2 workers, medians of 4 interleaved rounds: taking every job 103.5k
// samples/s against none 108.0k; in another set, every job 104.0k against
// what a free place runs 108.8k. The upper worker has the more work, and
// the lower one waits for it about a third of the time.)
func (f *finisher) takes() bool {
	switch {
	case f == nil:
		return false
	case !f.spare:
		return true
	}
	f.reserved = f.pending.Load() == 0 && f.net.cores.TryAcquire(1) == 1
	return f.reserved
}

// unreserve gives back the place that takes reserved, when the work it
// took was not started.
func (f *finisher) unreserve() {
	if f.reserved {
		f.reserved = false
		f.net.cores.Release(1)
	}
}

// start queues finish, and the update after it, as slot's job; wait(slot)
// must have returned since slot's last job was started, and, for a spare
// finisher, takes must have said yes. When the finisher has nothing else
// to do, start takes a free place for the job at once: a GEMM's helper
// goroutine that spins while a place is free then makes way for the
// finisher (see kernels.Gemm), instead of keeping it from the processor.
func (f *finisher) start(slot, step int, finish func() error) {
	f.running[slot] = true
	reserved := f.reserved
	f.reserved = false
	if f.pending.Add(1) == 1 && !reserved {
		reserved = f.net.cores.TryAcquire(1) == 1
	}
	f.jobs <- finishJob{slot: slot, step: step, finish: finish, reserved: reserved} // never blocks: one job a slot at most
}

// wait returns once slot's last job, if any, is done, with its error. The
// caller holds a place of the network's cores.
func (f *finisher) wait(slot int) error {
	if f == nil || !f.running[slot] {
		return nil
	}
	f.running[slot] = false
	select {
	case err := <-f.results[slot]:
		return err
	default: // give the caller's place to the finisher meanwhile
		f.net.cores.Release(1)
		defer f.net.cores.Acquire()
		return <-f.results[slot]
	}
}

// stop waits for every job started and ends the goroutine, returning the
// first error.
func (f *finisher) stop() error {
	var first error
	for slot := range f.running {
		if err := f.wait(slot); err != nil && first == nil {
			first = err
		}
	}
	close(f.jobs)
	<-f.stopped
	return first
}
