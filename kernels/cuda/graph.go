//go:build gpu

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// dnitrain_begin_capture starts recording the work queued on s, from any
// thread, instead of running it.
static CUresult dnitrain_begin_capture(CUcontext ctx, CUstream s) {
	CUresult r = cuCtxSetCurrent(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED);
}

// dnitrain_end_capture stops recording on s and, when keep is set and the
// recording holds work, instantiates it into *exec (else *exec stays NULL).
static CUresult dnitrain_end_capture(CUcontext ctx, CUstream s, int keep, CUgraphExec *exec) {
	*exec = NULL;
	CUresult r = cuCtxSetCurrent(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	CUgraph g = NULL;
	r = cuStreamEndCapture(s, &g);
	size_t nodes = 0;
	if (r == CUDA_SUCCESS && g != NULL) {
		r = cuGraphGetNodes(g, NULL, &nodes);
	}
	if (r == CUDA_SUCCESS && keep && nodes > 0) {
		r = cuGraphInstantiateWithFlags(exec, g, 0);
	}
	if (g != NULL) {
		CUresult d = cuGraphDestroy(g);
		if (r == CUDA_SUCCESS) {
			r = d;
		}
	}
	return r;
}

// dnitrain_graph_launch queues e on s.
static CUresult dnitrain_graph_launch(CUcontext ctx, CUgraphExec e, CUstream s) {
	CUresult r = cuCtxSetCurrent(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	return cuGraphLaunch(e, s);
}

// dnitrain_graph_destroy frees e.
static CUresult dnitrain_graph_destroy(CUcontext ctx, CUgraphExec e) {
	CUresult r = cuCtxSetCurrent(ctx);
	if (r != CUDA_SUCCESS) {
		return r;
	}
	return cuGraphExecDestroy(e);
}
*/
import "C"

import "fmt"

// Graph is a sequence of a stream's work recorded by Stream.Capture, queued
// again in one launch by Stream.Launch: the kernels with the arguments they
// had when recorded (the same buffers, the same sizes and constants).
type Graph struct {
	d    *Device
	exec C.CUgraphExec
}

// Capture records the work that queue puts on s, without running it, into
// a Graph. Nothing that queue does may wait for s or read its results, and
// copies from host memory are not to be recorded (their source is read at
// every launch): queue kernels only. Buffers that queue's kernels use must
// outlive the graph. On an error of queue's, the recording is dropped and
// the error returned.
func (s *Stream) Capture(queue func() error) (*Graph, error) {
	ctx, st := C.CUcontext(handle(&s.d.ctx)), C.CUstream(handle(&s.s))
	if err := resultError(C.dnitrain_begin_capture(ctx, st)); err != nil {
		return nil, fmt.Errorf("cuda:%d: begin capture: %w", s.d.Ordinal, err)
	}
	qerr := queue()
	keep := C.int(0)
	if qerr == nil {
		keep = 1
	}
	g := &Graph{d: s.d}
	err := resultError(C.dnitrain_end_capture(ctx, st, keep, &g.exec))
	switch {
	case qerr != nil:
		return nil, qerr
	case err != nil:
		return nil, fmt.Errorf("cuda:%d: capture: %w", s.d.Ordinal, err)
	case g.exec == nil:
		return nil, fmt.Errorf("cuda:%d: capture: nothing was queued", s.d.Ordinal)
	}
	return g, nil
}

// Launch queues the work of g on s.
func (s *Stream) Launch(g *Graph) error {
	err := resultError(C.dnitrain_graph_launch(C.CUcontext(handle(&s.d.ctx)), g.exec, C.CUstream(handle(&s.s))))
	if err != nil {
		return fmt.Errorf("cuda:%d: graph launch: %w", s.d.Ordinal, err)
	}
	return nil
}

// Close frees g; launches already queued run on.
func (g *Graph) Close() error {
	if g.exec == nil {
		return nil
	}
	err := resultError(C.dnitrain_graph_destroy(C.CUcontext(handle(&g.d.ctx)), g.exec))
	g.exec = nil
	return err
}
