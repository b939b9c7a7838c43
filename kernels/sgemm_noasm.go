//go:build !amd64 || noasm

package kernels

// sgemmKernels lists the micro-kernels this build can run, fastest first.
var sgemmKernels = []*sgemmMicroKernel{sgemmKernelGeneric}

// sgemmPackTransposed transposes: element p of row r of src (rows lds apart)
// goes to d[p·width+r], for r < width and p < kc.
func sgemmPackTransposed(d, src []float32, lds, kc, width int) {
	sgemmPackTransposedGo(d, src, lds, kc, width)
}

// sgemmPackPanels copies a kc×(panels·width) block of src, rows lds elements
// apart, into panels consecutive kc×width panels of d, each stored row by
// row: element (p, q·width+x) goes to d[q·kc·width + p·width + x].
func sgemmPackPanels(d, src []float32, lds, kc, width, panels int) {
	sgemmPackPanelsGo(d, src, lds, kc, width, panels)
}
