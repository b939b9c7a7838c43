//go:build openblas

package kernels

import (
	"fmt"
	"testing"

	"github.com/dnitrain/dnitrain/kernels/internal/openblas"
)

// BenchmarkSgemmOpenBLAS times OpenBLAS's cblas_sgemm on the products of
// BenchmarkSgemm, for comparison in the same run. It is built only with the
// openblas tag and needs cgo and OpenBLAS (Debian: libopenblas-dev):
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
				b.Run(fmt.Sprintf("%dx%dx%d/%v/openblas/threads=%d", s.batch, s.in, s.out, c, threads), func(b *testing.B) {
					openblas.SetThreads(threads)
					sgemmBenchRun(b, c, func() {
						openblas.Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
					})
				})
			}
		}
	}
}
