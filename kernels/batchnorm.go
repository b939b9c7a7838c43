package kernels

import "math"

// BatchNorm holds the constants of batch normalisation (PyTorch's defaults
// are Eps 1e-5 and Momentum 0.1).
type BatchNorm struct {
	Eps      float64
	Momentum float64
}

// ForwardTrain normalises the rows×cols matrix z in place with its batch
// statistics: y = γ·x̂ + β, x̂ = (z − μ)/√(σ² + ε). It keeps x̂ in xhat, μ in
// mean and 1/√(σ²+ε) in invStd (per column) for the backward pass, and
// folds the batch statistics into the running ones (unbiased variance).
// The three passes over z run eight columns at a time where the CPU has AVX,
// with the operations, in the same order, of the plain loops.
//
// ForwardTrain is the batch in one part. A batch in parts of its rows, each
// on a goroutine of its own, runs the same steps: ColumnSums per part, their
// sum divided by the rows for μ, SquaredDeviations per part, their sum for
// Statistics, and NormalizeAffine per part.
func (bn BatchNorm) ForwardTrain(z, xhat, mean, invStd, gamma, beta, runMean, runVar []float32, rows, cols int) {
	ColumnSums(mean, z, rows, cols)
	n := float32(rows)
	for j := range mean[:cols] {
		mean[j] /= n
	}
	SquaredDeviations(invStd, z, mean, rows, cols)
	bn.Statistics(mean, invStd, runMean, runVar, rows, cols)
	NormalizeAffine(z, xhat, mean, invStd, gamma, beta, rows, cols)
}

// Statistics takes the batch means in mean and Σ(z−μ)² over the batch in
// ss, per column, for a batch of rows rows; it folds them into the running
// statistics and overwrites ss with 1/√(σ²+ε).
func (bn BatchNorm) Statistics(mean, ss, runMean, runVar []float32, rows, cols int) {
	mustHold("BatchNorm.Statistics", cols, mean, ss, runMean, runVar)
	unbias := float64(rows) / math.Max(float64(rows)-1, 1)
	for j, v := range ss[:cols] {
		variance := float64(v) / float64(rows)
		runMean[j] = float32((1-bn.Momentum)*float64(runMean[j]) + bn.Momentum*float64(mean[j]))
		runVar[j] = float32((1-bn.Momentum)*float64(runVar[j]) + bn.Momentum*variance*unbias)
		ss[j] = float32(1 / math.Sqrt(variance+bn.Eps))
	}
}

// SquaredDeviations sets ss[j] to Σ(z − mean[j])² over the rows of column j
// of the rows×cols matrix z.
func SquaredDeviations(ss, z, mean []float32, rows, cols int) {
	mustHold("SquaredDeviations", cols, ss, mean)
	mustHold("SquaredDeviations", rows*cols, z)
	clear(ss[:cols])
	addSquaredDeviations(ss, z, mean, rows, cols)
}

// addSquaredDeviations adds (z − mean[j])² over the rows of column j of the
// rows×cols matrix z to ss[j].
func addSquaredDeviations(ss, z, mean []float32, rows, cols int) {
	if addSquaredDeviationsVector(ss, z, mean, rows, cols) {
		return
	}
	ss = ss[:cols]
	mean = mean[:len(ss)]
	for r := 0; r < rows; r++ {
		for j, v := range z[r*cols:][:len(ss)] {
			d := v - mean[j]
			ss[j] += d * d
		}
	}
}

// NormalizeAffine sets xhat = (z − mean)·invStd and z = gamma·xhat + beta
// for the rows×cols matrices z and xhat, column j using element j of the
// four vectors.
func NormalizeAffine(z, xhat, mean, invStd, gamma, beta []float32, rows, cols int) {
	mustHold("NormalizeAffine", cols, mean, invStd, gamma, beta)
	mustHold("NormalizeAffine", rows*cols, z, xhat)
	if normalizeAffineVector(z, xhat, mean, invStd, gamma, beta, rows, cols) {
		return
	}
	mean = mean[:cols]
	invStd, gamma, beta = invStd[:len(mean)], gamma[:len(mean)], beta[:len(mean)]
	for r := 0; r < rows; r++ {
		o := r * cols
		zr := z[o:][:len(mean)]
		xr := xhat[o:][:len(mean)]
		for j, v := range zr {
			x := (v - mean[j]) * invStd[j]
			xr[j] = x
			zr[j] = gamma[j]*x + beta[j]
		}
	}
}

// ForwardEval normalises z in place with the running statistics. Each
// column's 1/√(σ²+ε) is computed once, into a buffer on the stack, not once
// per element (wider layers go by blocks of columns).
func (bn BatchNorm) ForwardEval(z, gamma, beta, runMean, runVar []float32, rows, cols int) {
	mustHold("BatchNorm.ForwardEval", cols, gamma, beta, runMean, runVar)
	mustHold("BatchNorm.ForwardEval", rows*cols, z)
	var buf [1024]float32
	for j0 := 0; j0 < cols; j0 += len(buf) {
		inv := buf[:min(len(buf), cols-j0)]
		for j := range inv {
			inv[j] = float32(1 / math.Sqrt(float64(runVar[j0+j])+bn.Eps))
		}
		g, b, m := gamma[j0:j0+len(inv)], beta[j0:j0+len(inv)], runMean[j0:j0+len(inv)]
		for r := 0; r < rows; r++ {
			zr := z[r*cols+j0:][:len(inv)]
			for j, v := range zr {
				zr[j] = g[j]*(v-m[j])*inv[j] + b[j]
			}
		}
	}
}

// Backward takes dy = ∂L/∂y and the x̂ and invStd of ForwardTrain, sets the
// gradients of γ and β, and overwrites dy with ∂L/∂z:
// dz = γ·invStd/n·(n·dy − Σdy − x̂·Σ(dy·x̂)). Both passes run eight columns
// at a time where the CPU has AVX, with the operations, in the same order, of
// the plain loops.
//
// Backward is the batch in one part. A batch in parts of its rows runs
// BatchNormGradSums per part, sums the parts' sums, and runs
// BatchNormInputGrad per part.
func (bn BatchNorm) Backward(dy, xhat, invStd, gamma, gammaGrad, betaGrad []float32, rows, cols int) {
	BatchNormGradSums(betaGrad, gammaGrad, dy, xhat, rows, cols)
	BatchNormInputGrad(dy, xhat, invStd, gamma, gammaGrad, betaGrad, rows, rows, cols)
}

// BatchNormGradSums sets, per column j of the rows×cols matrices dy and
// xhat, betaGrad[j] to Σdy and gammaGrad[j] to Σdy·x̂.
func BatchNormGradSums(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int) {
	mustHold("BatchNormGradSums", cols, betaGrad, gammaGrad)
	mustHold("BatchNormGradSums", rows*cols, dy, xhat)
	gammaGrad, betaGrad = gammaGrad[:cols], betaGrad[:cols]
	clear(gammaGrad)
	clear(betaGrad)
	if rows > 0 {
		batchNormGradSums(betaGrad, gammaGrad, dy, xhat, rows, cols)
	}
}

// BatchNormInputGrad overwrites the rows×cols matrix dy, rows of a batch of
// n, with ∂L/∂z = γ·invStd/n·(n·dy − Σdy − x̂·Σ(dy·x̂)), given the batch's
// sums Σdy in betaGrad and Σdy·x̂ in gammaGrad.
func BatchNormInputGrad(dy, xhat, invStd, gamma, gammaGrad, betaGrad []float32, n, rows, cols int) {
	mustHold("BatchNormInputGrad", cols, invStd, gamma, gammaGrad, betaGrad)
	mustHold("BatchNormInputGrad", rows*cols, dy, xhat)
	if rows <= 0 {
		return
	}
	nf := float32(n)
	gamma, invStd = gamma[:cols], invStd[:cols]
	// The factor γ·invStd/n of each column is computed once, into a buffer
	// on the stack, rather than once per element: a division per element
	// would cost more than the rest of the pass. Wider layers go by blocks
	// of columns.
	var buf [1024]float32
	for j0 := 0; j0 < cols; j0 += len(buf) {
		c := buf[:min(len(buf), cols-j0)]
		for j := range c {
			c[j] = gamma[j0+j] * invStd[j0+j] / nf
		}
		batchNormInputGrad(dy[j0:], xhat[j0:], c, betaGrad[j0:], gammaGrad[j0:], nf, rows, cols)
	}
}

// batchNormGradSums adds, per column j of the rows×cols matrices dy and xhat,
// Σdy to betaGrad[j] and Σdy·x̂ to gammaGrad[j].
func batchNormGradSums(betaGrad, gammaGrad, dy, xhat []float32, rows, cols int) {
	if batchNormGradSumsVector(betaGrad, gammaGrad, dy, xhat, rows, cols) {
		return
	}
	betaGrad = betaGrad[:cols]
	gammaGrad = gammaGrad[:len(betaGrad)]
	for r := 0; r < rows; r++ {
		o := r * cols
		xr := xhat[o:][:len(betaGrad)]
		for j, d := range dy[o:][:len(betaGrad)] {
			betaGrad[j] += d
			gammaGrad[j] += d * xr[j]
		}
	}
}

// batchNormInputGrad overwrites the first len(c) columns of rows rows of dy,
// ld elements apart, with c[j]·(n·dy − betaGrad[j] − x̂·gammaGrad[j]), x̂
// from xhat in the same layout.
func batchNormInputGrad(dy, xhat, c, betaGrad, gammaGrad []float32, n float32, rows, ld int) {
	if batchNormInputGradVector(dy, xhat, c, betaGrad, gammaGrad, n, rows, ld) {
		return
	}
	betaGrad, gammaGrad = betaGrad[:len(c)], gammaGrad[:len(c)]
	for r := 0; r < rows; r++ {
		o := r * ld
		dr, xr := dy[o:][:len(c)], xhat[o:][:len(c)]
		for j, d := range dr {
			dr[j] = c[j] * (n*d - betaGrad[j] - xr[j]*gammaGrad[j])
		}
	}
}
