// Package openblas calls OpenBLAS's cblas_sgemm, for the benchmark that
// compares the kernels package against it. Built with the openblas tag it
// links OpenBLAS through cgo (Debian: libopenblas-dev); without it the
// package is empty, so that the module builds with neither cgo nor OpenBLAS.
//
// The wrapper lives in a package of its own because a package that uses cgo
// cannot hold Go assembly, which the kernels package does.
package openblas
