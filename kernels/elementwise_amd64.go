//go:build amd64 && !noasm

package kernels

import (
	"math"

	"golang.org/x/sys/cpu"
)

// The elementwise kernels in assembly (elementwise_amd64.s). They use AVX
// only (no FMA, so that every product and sum is rounded as in the Go
// loops), eight columns at a time with a scalar tail on each row. The
// wrappers below check the slice lengths, since the assembly does not, and
// report false when the CPU lacks AVX so that the caller runs its Go loop.

// hasAVX reports whether the elementwise kernels in assembly can run.
var hasAVX = cpu.X86.HasAVX

// biasActAVX sets z[r·cols+j] = max(lo, z[r·cols+j] + bias[j]) for every
// row r < rows and column j < cols: ReLU with lo = 0, identity with lo = −Inf.
//
//go:noescape
func biasActAVX(z, bias []float32, rows, cols int, lo float32)

// reluAVX sets v[i] = max(0, v[i]) for i < len(v)&^7.
//
//go:noescape
func reluAVX(v []float32)

// reluBackwardAVX sets dz[i] = g[i] where h[i] > 0 and 0 elsewhere, for
// i < len(dz)&^7.
//
//go:noescape
func reluBackwardAVX(dz, g, h []float32)

// actBackwardSumsAVX sets, for each row r < rows and column j < cols,
// dz = g where h > 0 or keep ≠ 0 (and 0 elsewhere), and adds dz to sums[j],
// row after row. keep is all ones for the identity, 0 for ReLU.
//
//go:noescape
func actBackwardSumsAVX(dz, g, h, sums []float32, rows, cols int, keep uint32)

// addColumnsAVX adds m[r·cols+j] to sums[j] for every row r < rows, in
// order, and column j < cols.
//
//go:noescape
func addColumnsAVX(sums, m []float32, rows, cols int)

// addSqDevAVX adds (z[r·cols+j] − mean[j])² to ss[j] for every row r < rows,
// in order, and column j < cols.
//
//go:noescape
func addSqDevAVX(ss, z, mean []float32, rows, cols int)

// normAffineAVX sets x = (z − mean[j])·invStd[j], xhat = x and
// z = gamma[j]·x + beta[j] for every element of the rows×cols matrix z.
//
//go:noescape
func normAffineAVX(z, xhat, mean, invStd, gamma, beta []float32, rows, cols int)

// bnGradSumsAVX adds dy to betaGrad[j] and dy·x̂ to gammaGrad[j] for every
// row r < rows, in order, and column j < cols.
//
//go:noescape
func bnGradSumsAVX(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int)

// bnInputGradAVX sets dy = c[j]·(n·dy − betaGrad[j] − x̂·gammaGrad[j]) for
// the first len(c) columns of rows rows of dy and xhat, ld elements apart.
//
//go:noescape
func bnInputGradAVX(dy, xhat, c, betaGrad, gammaGrad []float32, rows, ld int, n float32)

// scaleAVX multiplies v[i] by s for i < len(v)&^7.
//
//go:noescape
func scaleAVX(v []float32, s float32)

// scaleBytesAVX sets dst[i] = (float32(src[i])/div − sub)·mul for
// i < len(src)&^7.
//
//go:noescape
func scaleBytesAVX(dst []float32, src []byte, div, sub, mul float32)

// squaredErrorAVX returns Σ(pred − target)² over the first len(pred)&^7
// elements, in float64 (eight partial sums), and sets grad = w2·(pred −
// target) there unless grad is empty.
//
//go:noescape
func squaredErrorAVX(grad, pred, target []float32, w2 float32) float64

// negInf32 is −Inf, the lower bound that makes biasActAVX the identity.
var negInf32 = float32(math.Inf(-1))

// biasActivateVector runs BiasActivate for Identity (relu false) and ReLU in
// assembly and reports whether it did.
func biasActivateVector(z []float32, rows, cols int, bias []float32, relu bool) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	z = z[:rows*cols]
	switch {
	case bias != nil:
		lo := negInf32
		if relu {
			lo = 0
		}
		biasActAVX(z, bias[:cols], rows, cols, lo)
	case relu:
		// Without a bias the rows are one flat array.
		n := len(z) &^ 7
		reluAVX(z[:n])
		for i, x := range z[n:] {
			z[n+i] = max(x, 0)
		}
	}
	return true
}

// activationBackwardVector runs ActivationBackward for Identity (relu false)
// and ReLU in assembly, biasGrad already cleared, and reports whether it did.
func activationBackwardVector(dz, g, h []float32, rows, cols int, relu bool, biasGrad []float32) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	n := rows * cols
	dz, g, h = dz[:n], g[:n], h[:n]
	switch {
	case biasGrad != nil:
		keep := ^uint32(0)
		if relu {
			keep = 0
		}
		actBackwardSumsAVX(dz, g, h, biasGrad[:cols], rows, cols, keep)
	case relu:
		v := n &^ 7
		reluBackwardAVX(dz[:v], g[:v], h[:v])
		for i := v; i < n; i++ {
			dz[i] = g[i]
			if !(h[i] > 0) {
				dz[i] = 0
			}
		}
	default:
		copy(dz, g)
	}
	return true
}

// addColumnsVector runs addColumns in assembly and reports whether it did.
func addColumnsVector(sums, m []float32, rows, cols int) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	addColumnsAVX(sums[:cols], m[:rows*cols], rows, cols)
	return true
}

// addSquaredDeviationsVector runs addSquaredDeviations in assembly and
// reports whether it did.
func addSquaredDeviationsVector(ss, z, mean []float32, rows, cols int) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	addSqDevAVX(ss[:cols], z[:rows*cols], mean[:cols], rows, cols)
	return true
}

// normalizeAffineVector runs normalizeAffine in assembly and reports whether
// it did.
func normalizeAffineVector(z, xhat, mean, invStd, gamma, beta []float32, rows, cols int) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	n := rows * cols
	normAffineAVX(z[:n], xhat[:n], mean[:cols], invStd[:cols], gamma[:cols], beta[:cols], rows, cols)
	return true
}

// batchNormGradSumsVector runs batchNormGradSums in assembly and reports
// whether it did.
func batchNormGradSumsVector(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int) bool {
	if !hasAVX || rows <= 0 || cols <= 0 {
		return false
	}
	n := rows * cols
	bnGradSumsAVX(betaGrad[:cols], gammaGrad[:cols], dy[:n], xhat[:n], rows, cols)
	return true
}

// batchNormInputGradVector runs batchNormInputGrad in assembly and reports
// whether it did.
func batchNormInputGradVector(dy, xhat, c, betaGrad, gammaGrad []float32, n float32, rows, ld int) bool {
	w := len(c)
	if !hasAVX || rows <= 0 || w == 0 || ld < w {
		return false
	}
	last := (rows-1)*ld + w // elements spanned in dy and xhat
	bnInputGradAVX(dy[:last], xhat[:last], c, betaGrad[:w], gammaGrad[:w], rows, ld, n)
	return true
}

// finiteAVX reports whether the first len(v)&^7 elements of v are all
// finite.
//
//go:noescape
func finiteAVX(v []float32) bool

// finitePrefixVector runs finitePrefix in assembly and reports whether it
// did.
func finitePrefixVector(v []float32) (int, bool) {
	if !hasAVX {
		return 0, false
	}
	n := len(v) &^ 7
	if !finiteAVX(v[:n]) {
		return 0, true
	}
	return n, true
}

// scaleVector multiplies the first len(v)&^7 elements of v by s in assembly
// and returns how many it did.
func scaleVector(v []float32, s float32) int {
	if !hasAVX {
		return 0
	}
	n := len(v) &^ 7
	scaleAVX(v[:n], s)
	return n
}

// scaleBytesVector runs the first len(src)&^7 elements of ScaleBytes in
// assembly and returns how many it did; dst is as long as src.
func scaleBytesVector(dst []float32, src []byte, div, sub, mul float32) int {
	if !hasAVX {
		return 0
	}
	n := len(src) &^ 7
	scaleBytesAVX(dst[:n], src[:n], div, sub, mul)
	return n
}

// squaredErrorVector runs the first len(pred)&^7 elements of
// SquaredErrorLoss in assembly and returns how many it did and their sum of
// squares.
func squaredErrorVector(grad, pred, target []float32, w2 float32) (int, float64) {
	if !hasAVX {
		return 0, 0
	}
	n := len(pred) &^ 7
	if grad != nil {
		grad = grad[:n]
	}
	return n, squaredErrorAVX(grad, pred[:n], target[:n], w2)
}
