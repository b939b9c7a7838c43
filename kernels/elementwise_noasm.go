//go:build !amd64 || noasm

package kernels

// This build has no elementwise kernels in assembly: every ...Vector
// function below does nothing and reports so, and the callers run their Go
// loops.

// hasAVX is false: there is no assembly to run. It is a variable, as in the
// amd64 build, so that the tests can set it either way.
var hasAVX = false

// biasActivateVector reports that BiasActivate has no vector path here.
func biasActivateVector(z []float32, rows, cols int, bias []float32, relu bool) bool { return false }

// activationBackwardVector reports that ActivationBackward has no vector
// path here.
func activationBackwardVector(dz, g, h []float32, rows, cols int, relu bool, biasGrad []float32) bool {
	return false
}

// addColumnsVector reports that addColumns has no vector path here.
func addColumnsVector(sums, m []float32, rows, cols int) bool { return false }

// addSquaredDeviationsVector reports that addSquaredDeviations has no vector
// path here.
func addSquaredDeviationsVector(ss, z, mean []float32, rows, cols int) bool { return false }

// normalizeAffineVector reports that normalizeAffine has no vector path here.
func normalizeAffineVector(z, xhat, mean, invStd, gamma, beta []float32, rows, cols int) bool {
	return false
}

// batchNormGradSumsVector reports that batchNormGradSums has no vector path
// here.
func batchNormGradSumsVector(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int) bool {
	return false
}

// batchNormInputGradVector reports that batchNormInputGrad has no vector path
// here.
func batchNormInputGradVector(dy, xhat, c, betaGrad, gammaGrad []float32, n float32, rows, ld int) bool {
	return false
}

// finitePrefixVector reports that finitePrefix has no vector path here.
func finitePrefixVector(v []float32) (int, bool) { return 0, false }

// scaleVector scales nothing and returns 0: the caller's loop does it all.
func scaleVector(v []float32, s float32) int { return 0 }

// scaleBytesVector does nothing and returns 0: the caller's loop does it
// all.
func scaleBytesVector(dst []float32, src []byte, div, sub, mul float32) int { return 0 }

// squaredErrorVector does nothing and returns 0, 0: the caller's loop does
// it all.
func squaredErrorVector(grad, pred, target []float32, w2 float32) (int, float64) { return 0, 0 }
