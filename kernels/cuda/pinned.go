//go:build gpu

package cuda

// #cgo LDFLAGS: -lcuda
// #include <cuda.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// Pinned is page-locked host memory: copies from it run asynchronously
// (DMA) and overlap kernels on other streams. gorgonia.org/cu has no
// cuMemAllocHost, hence these few lines of cgo.
type Pinned struct {
	d *Device
	p unsafe.Pointer
	f []float32
}

// AllocPinned returns n float32 of pinned host memory.
func (d *Device) AllocPinned(n int) (*Pinned, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: pinning %d floats", n)
	}
	p := &Pinned{d: d}
	err := d.do(func() error {
		if err := resultError(C.cuMemAllocHost(&p.p, C.size_t(4*n))); err != nil {
			return fmt.Errorf("cuda:%d: pinning %d bytes of host memory: %w", d.Ordinal, 4*n, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.f = unsafe.Slice((*float32)(p.p), n)
	return p, nil
}

// Floats returns the pinned memory as a slice, valid until Free.
func (p *Pinned) Floats() []float32 { return p.f }

// Free releases the pinned memory; a second call does nothing.
func (p *Pinned) Free() error {
	if p.p == nil {
		return nil
	}
	return p.d.do(func() error {
		if err := resultError(C.cuMemFreeHost(p.p)); err != nil {
			return fmt.Errorf("cuda:%d: freeing pinned memory: %w", p.d.Ordinal, err)
		}
		p.p, p.f = nil, nil
		return nil
	})
}
