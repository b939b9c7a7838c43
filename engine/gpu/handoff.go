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
// The device buffer must then hold what the host copy holds: a module
// offers a host copy when its download has completed, and withdraws it
// before it queues work that writes the buffer (a synthesizer's refitted
// forward pass among it). What the engine already does for the host copies
// keeps the rest true: no one writes into a module's output, and no module
// reads an output while the module that produced it runs again. A module's
// call returns once its uploads or copies have read their sources, so the
// producer's next call finds them done; the one exception, a synthesizer's
// LearnLate, has read them once its loss has been waited for, and the
// engine waits for it before the producers run again.
//
// A nil *Handoff hands nothing off: every input is uploaded.
type Handoff struct {
	mu      sync.Mutex
	sources map[*float32]cuda.Buffer // by host copy's first element; the copy is as long as the buffer
	copies  atomic.Int64
}

// NewHandoff returns an empty Handoff.
func NewHandoff() *Handoff { return &Handoff{sources: map[*float32]cuda.Buffer{}} }

// Copies returns how many inputs were copied on the device so far.
func (h *Handoff) Copies() int64 {
	if h == nil {
		return 0
	}
	return h.copies.Load()
}

// offer records that host holds what dev holds (len(host) floats).
func (h *Handoff) offer(host []float32, dev cuda.Buffer) {
	if h == nil || len(host) == 0 {
		return
	}
	dev = dev.Slice(0, len(host))
	h.mu.Lock()
	h.sources[&host[0]] = dev
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
// for exactly these elements.
func (h *Handoff) source(host []float32) (cuda.Buffer, bool) {
	if h == nil || len(host) == 0 {
		return cuda.Buffer{}, false
	}
	h.mu.Lock()
	dev, ok := h.sources[&host[0]]
	h.mu.Unlock()
	return dev, ok && dev.Len() == len(host)
}

// upload queues the copy of host into dst on the module's stream: device
// to device when host is an offered output, else from the host.
func (s *state) upload(dst cuda.Buffer, host []float32) error {
	if src, ok := s.handoff.source(host); ok {
		s.handoff.copies.Add(1)
		return s.stream.Copy(dst, src)
	}
	return s.stream.Upload(dst, host)
}

// offer records host, into which the module has downloaded dev, for the
// modules it is handed to (see Handoff), and remembers it to withdraw it
// when the module closes.
func (s *state) offer(host []float32, dev cuda.Buffer) {
	if s.handoff == nil || len(host) == 0 {
		return
	}
	s.handoff.offer(host, dev)
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
	s.offer(host, dev)
	return nil
}
