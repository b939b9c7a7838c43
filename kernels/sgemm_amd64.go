//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run gen_sgemm.go

// sgemm6x16AVX2 is the AVX2/FMA micro-kernel; see sgemmMicroKernel.fn.
//
//go:noescape
func sgemm6x16AVX2(kc int, a, b, c []float32, ldc int, alpha, beta float32)

// sgemm12x32AVX512 is the AVX-512 micro-kernel; see sgemmMicroKernel.fn.
//
//go:noescape
func sgemm12x32AVX512(kc int, a, b, c []float32, ldc int, alpha, beta float32)

// sgemmPackTransAVX transposes width rows of kc elements, lds elements apart
// in src, into dst: element p of row r goes to dst[p·width+r]. kc is a
// positive multiple of 4, width a positive even number.
//
//go:noescape
func sgemmPackTransAVX(kc int, src []float32, lds int, dst []float32, width int)

// sgemmPackPanelsAVX copies a kc×(panels·width) block of src, rows lds
// elements apart, into panels consecutive kc×width panels of dst, each stored
// row by row. kc, panels ≥ 1; width is a positive even number.
//
//go:noescape
func sgemmPackPanelsAVX(kc int, src []float32, lds int, dst []float32, width, panels int)

// sgemmHasAVX reports whether the packing routines in assembly can run.
var sgemmHasAVX = cpu.X86.HasAVX

// sgemmPackPanels copies a kc×(panels·width) block of src, rows lds elements
// apart, into panels consecutive kc×width panels of d, each stored row by
// row: element (p, q·width+x) goes to d[q·kc·width + p·width + x].
func sgemmPackPanels(d, src []float32, lds, kc, width, panels int) {
	if !sgemmHasAVX || width%2 != 0 || kc == 0 || panels == 0 {
		sgemmPackPanelsGo(d, src, lds, kc, width, panels)
		return
	}
	_ = d[panels*kc*width-1]
	_ = src[(kc-1)*lds+panels*width-1]
	sgemmPackPanelsAVX(kc, src, lds, d, width, panels)
}

// sgemmPackTransposed transposes: element p of row r of src (rows lds apart)
// goes to d[p·width+r], for r < width and p < kc.
func sgemmPackTransposed(d, src []float32, lds, kc, width int) {
	kc4 := kc &^ 3
	if !sgemmHasAVX || width%2 != 0 || kc4 == 0 {
		sgemmPackTransposedGo(d, src, lds, kc, width)
		return
	}
	_ = d[kc*width-1]
	_ = src[(width-1)*lds+kc-1]
	sgemmPackTransAVX(kc4, src, lds, d, width)
	if kc4 < kc {
		sgemmPackTransposedGo(d[kc4*width:], src[kc4:], lds, kc-kc4, width)
	}
}

var (
	// The panel of op(B) that stays in the L1 cache through a macro-kernel
	// is kc·nr·4 bytes: 20 KiB here, for an L1 of 32 KiB or more. The block
	// of op(A), mc·kc·4 bytes (150 KiB), is for an L2 of 1 MiB or more.
	// These sizes follow from the caches of current AVX-512 cores. On a
	// Zen 5 core (48 KiB L1, 1 MiB L2) kc of 128 and 256 did no better on
	// the layers' products, one thread or two, within the ±15% that runs
	// moved by there.
	sgemmKernelAVX512 = &sgemmMicroKernel{
		name: "avx512", mr: 12, nr: 32, mc: 240, kc: 160, nc: 4096,
		fn: sgemm12x32AVX512,
	}
	// The panel of op(B) kept in L1 is 16 KiB, half of a 32 KiB L1; the
	// block of op(A) is 144 KiB, under a third of a 512 KiB L2. Measured on Zen 3 (see README.md): kc of 192 to
	// 384 and mc of 72 to 240 were within the noise of one another.
	sgemmKernelAVX2 = &sgemmMicroKernel{
		name: "avx2", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4096,
		fn: sgemm6x16AVX2,
	}
)

// sgemmKernels lists the micro-kernels this CPU can run, fastest first.
var sgemmKernels = sgemmDetectKernels()

func sgemmDetectKernels() []*sgemmMicroKernel {
	var ks []*sgemmMicroKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, sgemmKernelAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, sgemmKernelAVX2)
	}
	return append(ks, sgemmKernelGeneric)
}
