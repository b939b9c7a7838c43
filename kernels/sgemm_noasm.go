//go:build !amd64 || noasm

package kernels

// sgemmKernels lists the micro-kernels this build can run, fastest first.
var sgemmKernels = []*microKernel{kernelGeneric}
