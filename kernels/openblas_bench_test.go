//go:build openblas

package kernels

import (
	"fmt"
	"testing"

	"github.com/dnitrain/dnitrain/kernels/internal/openblas"
)

// BenchmarkSgemmOpenBLAS times Sgemm, with the micro-kernel chosen for this
// CPU, and OpenBLAS's cblas_sgemm alternately on the products of
// BenchmarkSgemm, and reports both speeds and the ratio (x-openblas: Sgemm's
// speed over OpenBLAS's). It is built only with the openblas tag, and needs
// cgo and OpenBLAS (Debian: libopenblas-dev):
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
//		go test -tags openblas -run '^$' -bench . ./kernels/
//
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, override the kernels
// and blocking OpenBLAS picks for the CPU.
func BenchmarkSgemmOpenBLAS(b *testing.B) {
	b.Logf("OpenBLAS %s", openblas.Config())
	defer openblas.SetThreads(openblas.Threads())
	for _, s := range sgemmBenchShapes {
		for _, c := range sgemmBenchCases(s) {
			a, lda, bm, ldb, cm, ldc := sgemmBenchOperands(c)
			for _, threads := range []int{1, 2} {
				g := &Gemm{Threads: threads}
				b.Run(fmt.Sprintf("%dx%dx%d/%v/threads=%d", s.batch, s.in, s.out, c, threads), func(b *testing.B) {
					openblas.SetThreads(threads)
					sgemmBenchPair(b, c, "openblas", func() {
						g.Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
					}, func() {
						openblas.Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
					})
				})
			}
		}
	}
}
