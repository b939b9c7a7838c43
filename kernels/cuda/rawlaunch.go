//go:build gpu

package cuda

/*
#cgo LDFLAGS: -lcuda
#cgo noescape dnitrain_launch
#cgo nocallback dnitrain_launch
#include <cuda.h>
#include <stdint.h>

#define DNITRAIN_MAX_ARGS 32

// dnitrain_launch makes ctx current on the calling thread and queues f on
// s with the n 8-byte arguments of argv: one call into C per launch.
static CUresult dnitrain_launch(CUcontext ctx, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, CUstream s, uint64_t *argv, int n) {
	void *argp[DNITRAIN_MAX_ARGS];
	if (n < 1 || n > DNITRAIN_MAX_ARGS) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	CUresult r = cuCtxSetCurrent(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	for (int i = 0; i < n; i++) {
		argp[i] = &argv[i];
	}
	return cuLaunchKernel(f, gx, gy, gz, bx, 1, 1, 0, s, argp, NULL);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// maxArgs is the most arguments a kernel launch takes (dnitrain_launch's
// array).
const maxArgs = C.DNITRAIN_MAX_ARGS

// cu's CUContext, Function and Stream must each be one pointer, the
// driver's handle (see handle): these fail to compile otherwise.
const (
	_ = uint(unsafe.Sizeof(cu.CUContext{}) - unsafe.Sizeof(uintptr(0)))
	_ = uint(unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(cu.CUContext{}))
	_ = uint(unsafe.Sizeof(cu.Function{}) - unsafe.Sizeof(uintptr(0)))
	_ = uint(unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(cu.Function{}))
	_ = uint(unsafe.Sizeof(cu.Stream{}) - unsafe.Sizeof(uintptr(0)))
	_ = uint(unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(cu.Stream{}))
)

// rawLaunch queues fn on stream s of d with a grid of gx×gy×gz blocks of bx
// threads and the arguments argv. It calls the driver directly, in one
// call into C: cu's Launch takes five (it allocates and frees the
// argument arrays in C memory each time) plus one to make the context
// current, and MNIST steps, whose kernels are short, are bound by the
// host's launch rate.
func (d *Device) rawLaunch(fn cu.Function, s cu.Stream, gx, gy, gz, bx int, argv []uint64) error {
	if len(argv) == 0 || len(argv) > maxArgs {
		return fmt.Errorf("cuda: a kernel of %d arguments (1 to %d)", len(argv), maxArgs)
	}
	r := C.dnitrain_launch(C.CUcontext(handle(&d.ctx)), C.CUfunction(handle(&fn)),
		C.uint(gx), C.uint(gy), C.uint(gz), C.uint(bx), C.CUstream(handle(&s)),
		(*C.uint64_t)(unsafe.Pointer(&argv[0])), C.int(len(argv)))
	return resultError(r)
}

// handle returns the driver handle that a gorgonia.org/cu value wraps:
// cu's CUContext, Function and Stream are each a struct of one C pointer,
// the handle (Open checks this of the context).
func handle[T cu.CUContext | cu.Function | cu.Stream](v *T) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(v))
}

// resultError returns nil for CUDA_SUCCESS, else an error naming r.
func resultError(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	var name *C.char
	if C.cuGetErrorName(r, &name) != C.CUDA_SUCCESS || name == nil {
		return fmt.Errorf("CUresult %d", int(r))
	}
	return fmt.Errorf("%s", C.GoString(name))
}
