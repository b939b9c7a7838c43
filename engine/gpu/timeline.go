//go:build gpu

package gpu

import (
	"fmt"
	"sync"

	"github.com/dnitrain/dnitrain/kernels/cuda"
)

// SpanKind tells what a timeline span covers.
type SpanKind int

// The kinds of span.
const (
	UpdateSpan SpanKind = iota // a layer's optimizer step
	SynthSpan                  // a synthesizer's Predict, Learn or optimizer step
)

// Timeline records, with CUDA events, when the device ran each update and
// each synthesizer call, to measure how much synthesizer work overlaps the
// updates. It is safe for concurrent use; a nil *Timeline records nothing.
type Timeline struct {
	dev   *cuda.Device
	mu    sync.Mutex
	start *cuda.Event
	spans []span
}

type span struct {
	kind       SpanKind
	module     string
	begin, end *cuda.Event
}

// NewTimelineOn returns a timeline of dev whose clock starts now.
func NewTimelineOn(dev *cuda.Device) (*Timeline, error) {
	s, err := dev.NewStream()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	e, err := dev.NewEvent()
	if err == nil {
		err = s.Record(e)
	}
	if err != nil {
		return nil, err
	}
	return &Timeline{dev: dev, start: e}, nil
}

// Close releases the timeline's events.
func (t *Timeline) Close() error {
	err := t.Reset()
	if e := t.start.Close(); err == nil {
		err = e
	}
	return err
}

// Reset drops the spans recorded so far (a warm-up, say).
func (t *Timeline) Reset() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	for _, s := range t.spans {
		if e := s.begin.Close(); err == nil {
			err = e
		}
		if e := s.end.Close(); err == nil {
			err = e
		}
	}
	t.spans = nil
	return err
}

// begin records the start of a span on s and returns the function that
// records its end.
func (t *Timeline) begin(s *cuda.Stream, kind SpanKind, module string) func() error {
	if t == nil {
		return func() error { return nil }
	}
	b, err := t.dev.NewEvent()
	if err == nil {
		err = s.Record(b)
	}
	if err != nil {
		return func() error { return err }
	}
	return func() error {
		e, err := t.dev.NewEvent()
		if err == nil {
			err = s.Record(e)
		}
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.spans = append(t.spans, span{kind, module, b, e})
		t.mu.Unlock()
		return nil
	}
}

// Overlap waits for every recorded span and returns the device time of
// layer updates and of synthesizer work, and the fraction of synthesizer
// time during which some layer update ran.
func (t *Timeline) Overlap() (update, synth, hidden float64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ups, sgs []Interval
	for _, s := range t.spans {
		b, err := s.begin.Elapsed(t.start)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("timeline: %w", err)
		}
		e, err := s.end.Elapsed(t.start)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("timeline: %w", err)
		}
		if s.kind == UpdateSpan {
			ups = append(ups, Interval{b, e})
		} else {
			sgs = append(sgs, Interval{b, e})
		}
	}
	ups = Union(ups)
	return Length(ups), Length(sgs), Covered(sgs, ups), nil
}
