package kernels

// SgemmRef computes C = alpha·op(A)·op(B) + beta·C with the same arguments
// and layout as Gemm.Sgemm, by the textbook triple loop with every dot
// product accumulated in float64. It is the plain reference Sgemm is tested
// against; it is correct, and slow. As in Sgemm, C is not read when beta is
// zero, and bad arguments panic.
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmCheckArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum float64
			for p := 0; p < k; p++ {
				var aip, bpj float32
				if transA {
					aip = a[p*lda+i]
				} else {
					aip = a[i*lda+p]
				}
				if transB {
					bpj = b[j*ldb+p]
				} else {
					bpj = b[p*ldb+j]
				}
				sum += float64(aip) * float64(bpj)
			}
			v := float64(alpha) * sum
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}
