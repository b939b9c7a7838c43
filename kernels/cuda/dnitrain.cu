// dnitrain's CUDA kernels, one translation unit so that each architecture
// has one PTX module. The kernels' bodies live in the headers, where the
// host tests can include them.
#include "gemm.cuh"
#include "elementwise.cuh"
