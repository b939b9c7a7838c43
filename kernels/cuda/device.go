//go:build gpu

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// Device is one CUDA device with dnitrain's kernels loaded into one
// context, the device's primary context: streams of different contexts do
// not overlap, so everything of a process shares it. Every method makes the
// context current on the calling OS thread for the duration of the call, so
// any goroutine may use the device.
type Device struct {
	// Ordinal is the device's index, as in cuda:N.
	Ordinal int
	// Name is the device's product name.
	Name string
	// Major and Minor are its compute capability.
	Major, Minor int
	// SMs is its number of streaming multiprocessors.
	SMs int

	dev cu.Device
	ctx cu.CUContext
	mod cu.Module
	fns map[string]cu.Function
	// closed is set by Close.
	closed bool
}

// Open opens device cuda:ordinal and loads the kernels' PTX for it.
func Open(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda:%d: no such device (this machine has %d)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	d := &Device{Ordinal: ordinal, dev: dev, fns: map[string]cu.Function{}}
	if d.Name, err = dev.Name(); err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	attrs, err := dev.Attributes(cu.ComputeCapabilityMajor, cu.ComputeCapabilityMinor, cu.MultiprocessorCount)
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	d.Major, d.Minor, d.SMs = attrs[0], attrs[1], attrs[2]
	ptx, err := PTX(d.Major, d.Minor)
	if err != nil {
		return nil, fmt.Errorf("cuda:%d (%s): %w", ordinal, d.Name, err)
	}
	if d.ctx, err = dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda:%d: context: %w", ordinal, err)
	}
	if got := fmt.Sprintf("0x%x", uintptr(handle(&d.ctx))); got != d.ctx.String() {
		d.Close()
		return nil, fmt.Errorf("cuda:%d: this gorgonia.org/cu wraps its handles otherwise (context %s read as %s)", ordinal, d.ctx, got)
	}
	err = d.do(func() error {
		if d.mod, err = cu.LoadData(ptx); err != nil {
			return fmt.Errorf("loading the kernels' PTX (the driver JIT-compiles it): %w", err)
		}
		for _, name := range kernelNames {
			if d.fns[name], err = d.mod.Function(name); err != nil {
				return fmt.Errorf("kernel %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("cuda:%d (%s): %w", ordinal, d.Name, err)
	}
	return d, nil
}

// String describes the device, e.g. "cuda:0 (NVIDIA H200, sm_90, 132 SMs)".
func (d *Device) String() string {
	return fmt.Sprintf("cuda:%d (%s, sm_%d%d, %d SMs)", d.Ordinal, d.Name, d.Major, d.Minor, d.SMs)
}

// Close unloads the kernels and releases the context; a second call does
// nothing.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	return d.do(func() error {
		var err error
		if d.mod != (cu.Module{}) {
			err = d.mod.Unload()
			d.mod = cu.Module{}
		}
		if e := d.dev.ReleasePrimaryCtx(); err == nil {
			err = e
		}
		return err
	})
}

// MemInfo returns the free and the total device memory in bytes.
func (d *Device) MemInfo() (free, total uint64, err error) {
	err = d.do(func() error {
		f, t, err := cu.MemInfo()
		free, total = uint64(f), uint64(t)
		return err
	})
	if err != nil {
		err = fmt.Errorf("cuda:%d: memory info: %w", d.Ordinal, err)
	}
	return free, total, err
}

// do runs f with the device's context current on the calling OS thread.
func (d *Device) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda:%d: set context: %w", d.Ordinal, err)
	}
	return f()
}

// Buffer is a device array of float32, allocated once and reused.
type Buffer struct {
	ptr cu.DevicePtr
	n   int
}

// Len returns the number of float32 elements of b.
func (b Buffer) Len() int { return b.n }

// Nil reports whether b is the null buffer (an optional argument left out).
func (b Buffer) Nil() bool { return b.ptr == 0 }

// Slice returns the n elements of b from off on.
func (b Buffer) Slice(off, n int) Buffer {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: slice [%d:%d] of a buffer of %d", off, off+n, b.n))
	}
	return Buffer{b.ptr + cu.DevicePtr(4*off), n}
}

// Alloc returns a zeroed device buffer of n float32.
func (d *Device) Alloc(n int) (Buffer, error) {
	if n <= 0 {
		return Buffer{}, fmt.Errorf("cuda: allocating %d floats", n)
	}
	var b Buffer
	err := d.do(func() error {
		p, err := cu.MemAlloc(int64(4 * n))
		if err != nil {
			return fmt.Errorf("cuda:%d: allocating %d bytes: %w", d.Ordinal, 4*n, err)
		}
		if err := cu.MemsetD32(p, 0, int64(n)); err != nil {
			cu.MemFree(p)
			return err
		}
		// cuMemsetD32 is queued on the legacy default stream, asynchronously
		// to the host, and the streams of NewStream are non-blocking (not
		// ordered after it): wait for it, so that work queued next on any
		// stream finds the zeros instead of racing with them.
		if err := cu.NoStream.Synchronize(); err != nil {
			cu.MemFree(p)
			return err
		}
		b = Buffer{p, n}
		return nil
	})
	return b, err
}

// Free releases b.
func (d *Device) Free(b Buffer) error {
	if b.Nil() {
		return nil
	}
	return d.do(func() error { return cu.MemFree(b.ptr) })
}

// Stream is a CUDA stream of d: work on one stream runs in order, work on
// different streams may overlap unless tied by events. A Stream is used by
// one goroutine at a time (its work buffer grows between calls).
type Stream struct {
	d    *Device
	s    cu.Stream
	work Buffer // split-K partial sums (GemmSplit), grown on demand
	// retired holds the work buffers outgrown, which queued work or a
	// Graph recorded on s may still use: they are freed by Close.
	retired []Buffer
}

// workspace returns n floats of the stream's work buffer, growing it when
// shorter (the one outgrown is kept until Close).
func (s *Stream) workspace(n int) (Buffer, error) {
	if n <= s.work.n {
		return s.work.Slice(0, n), nil
	}
	b, err := s.d.Alloc(n)
	if err != nil {
		return Buffer{}, err
	}
	if !s.work.Nil() {
		s.retired = append(s.retired, s.work)
	}
	s.work = b
	return b, nil
}

// NewStream returns a new non-blocking stream (it does not synchronise
// with the legacy default stream).
func (d *Device) NewStream() (*Stream, error) { return d.newStream(false) }

// NewUrgentStream returns a new non-blocking stream of the device's
// greatest priority: the block scheduler starts the blocks of its kernels
// ahead of those waiting on NewStream's streams.
func (d *Device) NewUrgentStream() (*Stream, error) { return d.newStream(true) }

func (d *Device) newStream(urgent bool) (*Stream, error) {
	s := &Stream{d: d}
	err := d.do(func() error {
		if !urgent {
			var err error
			s.s, err = cu.MakeStream(cu.NonBlocking)
			return err
		}
		_, greatest, err := cu.StreamPriorityRange()
		if err == nil {
			s.s, err = cu.MakeStreamWithPriority(greatest, cu.NonBlocking)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: stream: %w", d.Ordinal, err)
	}
	return s, nil
}

// Close destroys the stream after its pending work, and frees its work
// buffers.
func (s *Stream) Close() error {
	var err error
	if !s.work.Nil() {
		if err = s.Sync(); err == nil {
			for _, b := range append(s.retired, s.work) {
				if e := s.d.Free(b); err == nil {
					err = e
				}
			}
		}
		s.work, s.retired = Buffer{}, nil
	}
	if e := s.d.do(func() error { return s.s.Destroy() }); err == nil {
		err = e
	}
	return err
}

// Sync waits for all work queued on s.
func (s *Stream) Sync() error {
	return s.d.do(func() error { return s.s.Synchronize() })
}

// Upload queues a copy of src into dst (len(src) ≤ dst.Len()). The copy
// may run after Upload returns (from pinned memory it always does: DMA),
// so src must stay unchanged until the stream has passed it: after Sync,
// a Download, or an event recorded after the Upload.
func (s *Stream) Upload(dst Buffer, src []float32) error {
	if len(src) > dst.n {
		return fmt.Errorf("cuda: uploading %d floats into a buffer of %d", len(src), dst.n)
	}
	if len(src) == 0 {
		return nil
	}
	return s.d.do(func() error {
		return cu.MemcpyHtoDAsync(dst.ptr, unsafe.Pointer(&src[0]), int64(4*len(src)), s.s)
	})
}

// Download copies src (its first len(dst) elements) into dst and waits
// for the copy, and so for everything queued on s before it.
func (s *Stream) Download(dst []float32, src Buffer) error {
	if err := s.Fetch(dst, src); err != nil {
		return err
	}
	return s.Sync()
}

// Fetch queues a copy of src (its first len(dst) elements) into dst
// without waiting for it: the host may read dst after Sync, a Download, or
// an event recorded after the Fetch. Several fetches and one Sync wait
// once where as many downloads wait each.
func (s *Stream) Fetch(dst []float32, src Buffer) error {
	if len(dst) > src.n {
		return fmt.Errorf("cuda: downloading %d floats from a buffer of %d", len(dst), src.n)
	}
	if len(dst) == 0 {
		return nil
	}
	return s.d.do(func() error {
		return cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), src.ptr, int64(4*len(dst)), s.s)
	})
}

// Copy queues a copy of src into dst on the device (len(src) ≤ dst.Len()).
// It reads src when the stream reaches it: whatever writes src on another
// stream must be done by then (the host has waited for it, or the stream
// waits for an event recorded after it), and whatever writes src later
// must wait for the copy in the same way.
func (s *Stream) Copy(dst, src Buffer) error {
	if src.n > dst.n {
		return fmt.Errorf("cuda: copying %d floats into a buffer of %d", src.n, dst.n)
	}
	if src.n == 0 {
		return nil
	}
	return s.d.do(func() error { return cu.MemcpyDtoDAsync(dst.ptr, src.ptr, int64(4*src.n), s.s) })
}

// Event marks a point in a stream: the host can wait for it, and two
// events give the device time between them.
type Event struct {
	d *Device
	e cu.Event
}

// NewEvent returns an event that records timing.
func (d *Device) NewEvent() (*Event, error) {
	e := &Event{d: d}
	err := d.do(func() error {
		var err error
		e.e, err = cu.MakeEvent(cu.DefaultEvent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: event: %w", d.Ordinal, err)
	}
	return e, nil
}

// Close destroys the event.
func (e *Event) Close() error { return e.d.do(func() error { return cu.DestroyEvent(&e.e) }) }

// Record marks the current end of s's queue with e.
func (s *Stream) Record(e *Event) error { return s.d.do(func() error { return e.e.Record(s.s) }) }

// Sync waits until the device has reached e.
func (e *Event) Sync() error { return e.d.do(func() error { return e.e.Synchronize() }) }

// WaitFor makes the work queued on s from now on wait, on the device,
// until the device has reached e as last recorded; the host does not wait.
func (s *Stream) WaitFor(e *Event) error { return s.d.do(func() error { return s.s.Wait(e.e, 0) }) }

// Elapsed returns the device time in milliseconds from start to e, both
// recorded and complete (it waits for e).
func (e *Event) Elapsed(start *Event) (float64, error) {
	var ms float64
	err := e.d.do(func() error {
		if err := e.e.Synchronize(); err != nil {
			return err
		}
		var err error
		ms, err = start.e.Elapsed(e.e)
		return err
	})
	return ms, err
}
