package kernels

// sgemmKernelGeneric is the portable micro-kernel, used where no assembly one
// applies.
var sgemmKernelGeneric = &sgemmMicroKernel{
	name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 4096,
	fn: sgemm4x4,
}

// sgemm4x4 is the portable micro-kernel; see sgemmMicroKernel.fn. Its sixteen
// accumulators are plain variables, which the compiler keeps in registers.
func sgemm4x4(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	var (
		c00, c01, c02, c03 float32
		c10, c11, c12, c13 float32
		c20, c21, c22, c23 float32
		c30, c31, c32, c33 float32
	)
	a = a[:4*kc]
	b = b[:4*kc]
	for p := 0; p < kc; p++ {
		ap := a[4*p : 4*p+4 : 4*p+4]
		bp := b[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	sgemmStore4(c[0*ldc:0*ldc+4], alpha, beta, c00, c01, c02, c03)
	sgemmStore4(c[1*ldc:1*ldc+4], alpha, beta, c10, c11, c12, c13)
	sgemmStore4(c[2*ldc:2*ldc+4], alpha, beta, c20, c21, c22, c23)
	sgemmStore4(c[3*ldc:3*ldc+4], alpha, beta, c30, c31, c32, c33)
}

// sgemmStore4 sets c = alpha·(s0, s1, s2, s3) + beta·c, without reading c when
// beta is zero.
func sgemmStore4(c []float32, alpha, beta, s0, s1, s2, s3 float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
		return
	}
	c[0] = alpha*s0 + beta*c[0]
	c[1] = alpha*s1 + beta*c[1]
	c[2] = alpha*s2 + beta*c[2]
	c[3] = alpha*s3 + beta*c[3]
}
