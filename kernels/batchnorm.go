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
func (bn BatchNorm) ForwardTrain(z, xhat, mean, invStd, gamma, beta, runMean, runVar []float32, rows, cols int) {
	mean, invStd = mean[:cols], invStd[:cols]
	clear(mean)
	clear(invStd)
	for r := 0; r < rows; r++ {
		for j, v := range z[r*cols : (r+1)*cols] {
			mean[j] += v
		}
	}
	n := float32(rows)
	for j := range mean {
		mean[j] /= n
	}
	for r := 0; r < rows; r++ { // invStd accumulates Σ(z−μ)² first
		for j, v := range z[r*cols : (r+1)*cols] {
			d := v - mean[j]
			invStd[j] += d * d
		}
	}
	unbias := float64(rows) / math.Max(float64(rows)-1, 1)
	for j, ss := range invStd {
		variance := float64(ss) / float64(rows)
		runMean[j] = float32((1-bn.Momentum)*float64(runMean[j]) + bn.Momentum*float64(mean[j]))
		runVar[j] = float32((1-bn.Momentum)*float64(runVar[j]) + bn.Momentum*variance*unbias)
		invStd[j] = float32(1 / math.Sqrt(variance+bn.Eps))
	}
	for r := 0; r < rows; r++ {
		o := r * cols
		zr, xr := z[o:o+cols], xhat[o:o+cols]
		for j, v := range zr {
			x := (v - mean[j]) * invStd[j]
			xr[j] = x
			zr[j] = gamma[j]*x + beta[j]
		}
	}
}

// ForwardEval normalises z in place with the running statistics.
func (bn BatchNorm) ForwardEval(z, gamma, beta, runMean, runVar []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		zr := z[r*cols : (r+1)*cols]
		for j, v := range zr {
			inv := float32(1 / math.Sqrt(float64(runVar[j])+bn.Eps))
			zr[j] = gamma[j]*(v-runMean[j])*inv + beta[j]
		}
	}
}

// Backward takes dy = ∂L/∂y and the x̂ and invStd of ForwardTrain, sets the
// gradients of γ and β, and overwrites dy with ∂L/∂z:
// dz = γ·invStd/n·(n·dy − Σdy − x̂·Σ(dy·x̂)).
func (bn BatchNorm) Backward(dy, xhat, invStd, gamma, gammaGrad, betaGrad []float32, rows, cols int) {
	gammaGrad, betaGrad = gammaGrad[:cols], betaGrad[:cols]
	clear(gammaGrad)
	clear(betaGrad)
	for r := 0; r < rows; r++ {
		o := r * cols
		for j, d := range dy[o : o+cols] {
			betaGrad[j] += d
			gammaGrad[j] += d * xhat[o+j]
		}
	}
	n := float32(rows)
	for r := 0; r < rows; r++ {
		o := r * cols
		dr, xr := dy[o:o+cols], xhat[o:o+cols]
		for j, d := range dr {
			dr[j] = gamma[j] * invStd[j] / n * (n*d - betaGrad[j] - xr[j]*gammaGrad[j])
		}
	}
}
