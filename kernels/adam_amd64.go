//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

// adamAVX2 applies the Adam update to the first len(w)&^7 elements; see
// AdamStep32.
//
//go:noescape
func adamAVX2(w, g, m, v []float32, b1, ob1, b2, ob2, stepSize, invSqrtC2, eps float32)

var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// adamVector updates as many leading elements as the vector unit can and
// returns how many it did.
func adamVector(w, g, m, v []float32, c adamConsts) int {
	if !hasAVX2FMA {
		return 0
	}
	n := len(w) &^ 7
	_, _, _ = g[:n], m[:n], v[:n] // the assembly reads n elements of each
	adamAVX2(w, g, m, v, c.b1, 1-c.b1, c.b2, 1-c.b2, c.stepSize, c.invSqrtC2, c.eps)
	return n
}
