//go:build gpu

package gpu

import (
	"sync"
	"sync/atomic"

	"github.com/dnitrain/dnitrain/kernels/cuda"
)

// Handoff lets the modules of a network pass their outputs to one another
// on the device. A module's outputs reach its caller as host copies in
// pinned memory (h_i, ĝ_i, δ_{i-1}), and the caller hands them on to other
// modules as their inputs; a module given such a copy copies the device
// buffer it was downloaded from, device to device, instead of uploading
// the host copy through the bus again.
//
// The device buffer must then hold what the host copy holds, or will hold
// once the host has waited for the producer's call: a module offers a host
// copy with the event its stream reaches once the buffer holds the output
// (nil when the host has waited for that already), which the consumer's
// stream waits for before its copy; and it withdraws the offer before it
// queues work that writes the buffer again (a synthesizer's refitted
// forward pass among it). What the engine does keeps the rest true: no one
// writes into a module's output, a module writes each of its outputs once
// a step, and every copy of a step has read its source before the next
// step begins. A module's call returns once its uploads or copies have
// read their sources; the exceptions, a layer's ForwardLate and
// BackwardLate and a synthesizer's LearnLate, have read them once their
// wait has returned, and the synchronous step calls every such wait before
// it ends.
//
// A nil *Handoff hands nothing off: every input is uploaded.
type Handoff struct {
	mu      sync.Mutex
	sources map[*float32]source // by host copy's first element
	copies  atomic.Int64
}

// source is an offered output's device buffer, as long as its host copy,
// and the event its producer's stream reaches once the buffer holds the
// output (nil: it already does).
type source struct {
	buf   cuda.Buffer
	ready *cuda.Event
}

// NewHandoff returns an empty Handoff.
func NewHandoff() *Handoff { return &Handoff{sources: map[*float32]source{}} }

// Copies returns how many inputs were copied on the device so far.
func (h *Handoff) Copies() int64 {
	if h == nil {
		return 0
	}
	return h.copies.Load()
}

// offer records that host holds, or will hold, what dev holds (len(host)
// floats) once the device has reached ready (nil: it has).
func (h *Handoff) offer(host []float32, dev cuda.Buffer, ready *cuda.Event) {
	if h == nil || len(host) == 0 {
		return
	}
	h.mu.Lock()
	h.sources[&host[0]] = source{dev.Slice(0, len(host)), ready}
	h.mu.Unlock()
}

// withdraw forgets host: the buffer it was offered with is about to
// change, or to be freed.
func (h *Handoff) withdraw(host []float32) {
	if h == nil || len(host) == 0 {
		return
	}
	h.mu.Lock()
	delete(h.sources, &host[0])
	h.mu.Unlock()
}

// source returns the device buffer whose copy host is, if one was offered
// for exactly these elements, and the event to wait for before reading it.
func (h *Handoff) source(host []float32) (source, bool) {
	if h == nil || len(host) == 0 {
		return source{}, false
	}
	h.mu.Lock()
	src, ok := h.sources[&host[0]]
	h.mu.Unlock()
	return src, ok && src.buf.Len() == len(host)
}

// upload queues the copy of host into dst on the module's stream: device
// to device when host is an offered output, once the device has computed
// it, else from the host.
func (s *state) upload(dst cuda.Buffer, host []float32) error {
	src, ok := s.handoff.source(host)
	if !ok {
		return s.stream.Upload(dst, host)
	}
	s.handoff.copies.Add(1)
	if src.ready != nil {
		if err := s.stream.WaitFor(src.ready); err != nil {
			return err
		}
	}
	return s.stream.Copy(dst, src.buf)
}

// offer records host, into which the module downloads dev, for the modules
// it is handed to (see Handoff), with the event that marks dev's output on
// the module's stream (nil when the host has waited for it), and remembers
// it to withdraw it when the module closes.
func (s *state) offer(host []float32, dev cuda.Buffer, ready *cuda.Event) {
	if s.handoff == nil || len(host) == 0 {
		return
	}
	s.handoff.offer(host, dev, ready)
	if s.offered == nil {
		s.offered = map[*float32][]float32{}
	}
	s.offered[&host[0]] = host
}

// download copies dev into host, waits for it and offers host.
func (s *state) download(host []float32, dev cuda.Buffer) error {
	if err := s.stream.Download(host, dev); err != nil {
		return err
	}
	s.offer(host, dev, nil)
	return nil
}

// failed waits for the work the module's call has queued, which may read
// other modules' buffers, before the call returns err: no wait is returned
// with an error, and the caller may go on to free those buffers.
func (s *state) failed(err error) error {
	_ = s.stream.Sync() // err is the one to report
	return err
}

// unlessHandedOff waits, for a late call without a Handoff, until its
// output's host copy is complete: its consumers will upload that copy.
func (s *state) unlessHandedOff() error {
	if s.handoff != nil {
		return nil
	}
	return s.waitFetched()
}
