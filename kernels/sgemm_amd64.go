//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run gen_sgemm.go

// sgemm6x16AVX2 is the AVX2/FMA micro-kernel; see microKernel.fn.
//
//go:noescape
func sgemm6x16AVX2(kc int, a, b, c []float32, ldc int, alpha, beta float32)

// sgemm12x32AVX512 is the AVX-512 micro-kernel; see microKernel.fn.
//
//go:noescape
func sgemm12x32AVX512(kc int, a, b, c []float32, ldc int, alpha, beta float32)

var (
	kernelAVX512 = &microKernel{
		name: "avx512", mr: 12, nr: 32, mc: 144, kc: 256, nc: 4096,
		fn: sgemm12x32AVX512,
	}
	kernelAVX2 = &microKernel{
		name: "avx2", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4096,
		fn: sgemm6x16AVX2,
	}
)

// sgemmKernels lists the micro-kernels this CPU can run, fastest first.
var sgemmKernels = detectKernels()

func detectKernels() []*microKernel {
	var ks []*microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernelAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelAVX2)
	}
	return append(ks, kernelGeneric)
}
