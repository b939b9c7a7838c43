package kernels_test

import (
	"fmt"

	"github.com/dnitrain/dnitrain/kernels"
)

// A dense layer's forward product x·W: a batch of two inputs of three
// features, two outputs, row-major.
func ExampleGemm_Sgemm() {
	x := []float32{1, 2, 3, 4, 5, 6}    // 2×3
	w := []float32{7, 8, 9, 10, 11, 12} // 3×2
	h := make([]float32, 4)             // 2×2
	var g kernels.Gemm                  // the zero value computes on the calling goroutine
	g.Sgemm(false, false, 2, 2, 3, 1, x, 3, w, 2, 0, h, 2)
	fmt.Println(h)
	// Output: [58 64 139 154]
}

// The backward pass of the same layer reads W transposed: the input
// gradient dx = g·Wᵀ takes transB, with W as it is stored.
func ExampleGemm_Sgemm_transposed() {
	g := []float32{1, 0, 0, 1}          // 2×2 upstream gradient
	w := []float32{7, 8, 9, 10, 11, 12} // 3×2
	dx := make([]float32, 6)            // 2×3
	var gemm kernels.Gemm
	gemm.Sgemm(false, true, 2, 3, 2, 1, g, 2, w, 2, 0, dx, 3)
	fmt.Println(dx)
	// Output: [7 9 11 8 10 12]
}

// squares is a job in parts: part p of 4 squares its range of the slice.
type squares []float64

func (s squares) Shard(p int) {
	lo, hi := kernels.ShardRange(len(s), 1, p, 4)
	for i := lo; i < hi; i++ {
		s[i] *= s[i]
	}
}

// Shards runs the parts of a job on up to Threads goroutines, each part
// whole on one of them.
func ExampleGemm_Shards() {
	xs := squares{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	g := kernels.Gemm{Threads: 2}
	g.Shards(4, xs)
	fmt.Println(xs)
	// Output: [1 4 9 16 25 36 49 64 81 100]
}
