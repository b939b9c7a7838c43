// Package cuda holds dnitrain's CUDA kernels: their sources (*.cu, *.cuh),
// the PTX that nvcc compiles from them for sm_80 and sm_90 (committed and
// embedded, so building needs no nvcc), and, behind the gpu build tag, the
// Go side that loads the PTX on a device and launches the kernels on
// streams through gorgonia.org/cu's driver API.
//
// Every kernel is written so that its per-thread body is a __host__
// __device__ function: the tests compile those bodies for the host with the
// system C++ compiler, run them over the whole launch grid on the CPU and
// compare the result with the float64 references of package kernels. The
// GEMM's tiling and tensor-core fragment indexing are checked the same
// way, against the mma.sync layouts of the PTX ISA. So the index logic is
// tested on every machine; the GPU check (scripts/gpu-check.sh) then runs
// the compiled kernels themselves against the same references.
//
// Regenerate the PTX after changing a source (needs nvcc 11.8 or newer):
//
//	go generate ./kernels/cuda
package cuda

//go:generate sh gen.sh
