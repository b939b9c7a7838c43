package kernels

import "math"

// The plain references of the elementwise kernels: the straightforward loops
// that BiasActivate, ActivationBackward, ColumnSums, Scale, FirstNonFinite, SquaredErrorLoss
// and BatchNorm's ForwardTrain and Backward started as. The tests hold the
// fast versions (vector assembly, and the restructured Go loops that are the
// fallback elsewhere) to these.

// biasActivateRef is the reference of BiasActivate.
func biasActivateRef(z []float32, rows, cols int, bias []float32, act Activation) {
	for r := 0; r < rows; r++ {
		row := z[r*cols : (r+1)*cols]
		if bias != nil {
			for j := range row {
				row[j] += bias[j]
			}
		}
		switch act {
		case ReLU:
			for j, x := range row {
				if x < 0 {
					row[j] = 0
				}
			}
		case Tanh:
			for j, x := range row {
				row[j] = float32(math.Tanh(float64(x)))
			}
		case Sigmoid:
			for j, x := range row {
				row[j] = float32(1 / (1 + math.Exp(-float64(x))))
			}
		}
	}
}

// activationBackwardRef is the reference of ActivationBackward.
func activationBackwardRef(dz, g, h []float32, rows, cols int, act Activation, biasGrad []float32) {
	if biasGrad != nil {
		clear(biasGrad[:cols])
	}
	for r := 0; r < rows; r++ {
		o := r * cols
		gr, hr, dr := g[o:o+cols], h[o:o+cols], dz[o:o+cols]
		switch act {
		case Identity:
			copy(dr, gr)
		case ReLU:
			for j, y := range hr {
				if y > 0 {
					dr[j] = gr[j]
				} else {
					dr[j] = 0
				}
			}
		case Tanh:
			for j, y := range hr {
				dr[j] = gr[j] * (1 - y*y)
			}
		case Sigmoid:
			for j, y := range hr {
				dr[j] = gr[j] * y * (1 - y)
			}
		}
		if biasGrad != nil {
			for j, d := range dr {
				biasGrad[j] += d
			}
		}
	}
}

// columnSumsRef is the reference of ColumnSums.
func columnSumsRef(sums, m []float32, rows, cols int) {
	clear(sums[:cols])
	for r := 0; r < rows; r++ {
		for j, v := range m[r*cols : (r+1)*cols] {
			sums[j] += v
		}
	}
}

// scaleBytesRef is ScaleBytes element by element, through float64 with a
// rounding to float32 after each operation.
func scaleBytesRef(dst []float32, src []byte, div, sub, mul float32) {
	for i, p := range src {
		q := float32(float64(p) / float64(div))
		q = float32(float64(q) - float64(sub))
		dst[i] = float32(float64(q) * float64(mul))
	}
}

// addRef is the reference of Add.
func addRef(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// scaleRef is the reference of Scale.
func scaleRef(v []float32, s float32) {
	for i := range v {
		v[i] *= s
	}
}

// squaredErrorLossRef is the reference of SquaredErrorLoss.
func squaredErrorLossRef(grad, pred, target []float32, weight float64) (loss float64) {
	w2 := float32(2 * weight)
	for i, p := range pred {
		d := p - target[i]
		loss += float64(d) * float64(d)
		if grad != nil {
			grad[i] = w2 * d
		}
	}
	return loss * weight
}

// forwardTrainRef is the reference of BatchNorm.ForwardTrain.
func (bn BatchNorm) forwardTrainRef(z, xhat, mean, invStd, gamma, beta, runMean, runVar []float32, rows, cols int) {
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

// backwardRef is the reference of BatchNorm.Backward.
func (bn BatchNorm) backwardRef(dy, xhat, invStd, gamma, gammaGrad, betaGrad []float32, rows, cols int) {
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

// firstNonFiniteRef is the reference of FirstNonFinite.
func firstNonFiniteRef(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
