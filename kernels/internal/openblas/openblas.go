//go:build openblas && cgo

package openblas

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

import "unsafe"

// Sgemm calls cblas_sgemm on row-major operands, with the arguments of the
// kernels package's Gemm.Sgemm. It does not check them: OpenBLAS reports bad
// arguments on standard error, and short slices are not detected.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		tA = C.CblasTrans
	}
	if transB {
		tB = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, tA, tB, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// SetThreads sets the number of threads OpenBLAS uses.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Threads returns the number of threads OpenBLAS uses.
func Threads() int { return int(C.openblas_get_num_threads()) }

// Config describes the OpenBLAS build and the CPU core its kernels were
// chosen for.
func Config() string {
	return C.GoString(C.openblas_get_config()) + "; core " + C.GoString(C.openblas_get_corename())
}
