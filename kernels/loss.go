package kernels

import "math"

// SoftmaxCrossEntropy computes, in one pass per row, the mean cross-entropy
// of softmax(logits) against one-hot labels over a rows×classes batch, and
// the gradient of that mean with respect to the logits,
// grad = (softmax(logits) − labels)/rows (grad may be nil: loss only).
func SoftmaxCrossEntropy(grad, logits, labels []float32, rows, classes int) (loss float64) {
	inv := 1 / float32(rows)
	for r := 0; r < rows; r++ {
		o := r * classes
		lr, yr := logits[o:o+classes], labels[o:o+classes]
		mx := lr[0]
		for _, v := range lr[1:] {
			mx = max(mx, v)
		}
		var sum float64
		for _, v := range lr {
			sum += math.Exp(float64(v - mx))
		}
		logZ := float64(mx) + math.Log(sum)
		for j, v := range lr {
			if yr[j] != 0 {
				loss -= float64(yr[j]) * (float64(v) - logZ)
			}
			if grad != nil {
				grad[o+j] = (float32(math.Exp(float64(v)-logZ)) - yr[j]) * inv
			}
		}
	}
	return loss / float64(rows)
}

// SquaredErrorLoss returns weight·Σ‖pred − target‖², the L2 regression
// loss of a synthesizer, and sets grad to its gradient with respect to
// pred, 2·weight·(pred − target) (grad may be nil).
func SquaredErrorLoss(grad, pred, target []float32, weight float64) (loss float64) {
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
