package bench

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// heapObjectsMetric is the memory held by heap objects, live ones and dead
// ones the collector has not freed yet: what the Go heap occupies at the
// moment it is read, without stopping the world.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// heapSampleEvery is how often a heapPeak reads the heap. A run's buffers
// are allocated once and kept, so the peak lasts far longer than this.
const heapSampleEvery = 10 * time.Millisecond

// heapPeak records the most memory that heap objects held while it ran,
// above what they held when it started, after a collection: the memory
// that a training run takes, the data set and earlier runs' live objects
// aside. Garbage made during the run counts until it is collected, as it
// does in the memory the process holds.
type heapPeak struct {
	base, peak uint64 // peak is written by the sampling goroutine until done
	stop, done chan struct{}
	stopped    bool
}

// heapObjects returns the bytes that heap objects hold now.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// startHeapPeak collects garbage, notes what the heap holds, and starts
// sampling it.
func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: heapObjects(), stop: make(chan struct{}), done: make(chan struct{})}
	h.peak = h.base
	go func() {
		defer close(h.done)
		t := time.NewTicker(heapSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapPeak) sample() { h.peak = max(h.peak, heapObjects()) }

// Stop ends the sampling, takes a last sample, and returns the peak above
// the base in MiB. Later calls return the same.
func (h *heapPeak) Stop() float64 {
	if !h.stopped {
		h.stopped = true
		close(h.stop)
		<-h.done
		h.sample()
	}
	return float64(h.peak-h.base) / (1 << 20)
}
