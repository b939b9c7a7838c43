package kernels

import "math"

// softmaxKeep is the most classes whose exponentials SoftmaxCrossEntropy
// keeps on the stack.
const softmaxKeep = 64

// SoftmaxCrossEntropy computes, in one pass per row, the mean cross-entropy
// of softmax(logits) against one-hot labels over a rows×classes batch, and
// the gradient of that mean with respect to the logits,
// grad = (softmax(logits) − labels)/rows (grad may be nil: loss only).
// Exponentials and sums are taken in float64; for up to softmaxKeep classes
// each element's exponential is computed once, for the sum and the
// gradient both.
func SoftmaxCrossEntropy(grad, logits, labels []float32, rows, classes int) float64 {
	return SoftmaxCrossEntropyPart(grad, logits, labels, rows, classes, rows) / float64(rows)
}

// SoftmaxCrossEntropyPart is SoftmaxCrossEntropy for rows rows of a batch
// of batch rows: it returns the sum of the rows' cross-entropies, and sets
// grad to the gradient of the batch's mean, (softmax(logits) − labels)/batch.
func SoftmaxCrossEntropyPart(grad, logits, labels []float32, rows, classes, batch int) (lossSum float64) {
	mustHold("SoftmaxCrossEntropy", rows*classes, logits, labels)
	if grad != nil {
		mustHold("SoftmaxCrossEntropy", rows*classes, grad)
	}
	inv := 1 / float32(batch)
	for r := 0; r < rows; r++ {
		o := r * classes
		lr, yr := logits[o:o+classes], labels[o:o+classes]
		mx := lr[0]
		for _, v := range lr[1:] {
			mx = max(mx, v)
		}
		// e holds exp(v − max) when the row is short enough, for the
		// gradient: one exponential per element instead of two.
		var eBuf [softmaxKeep]float64
		e := eBuf[:0]
		if grad != nil && classes <= softmaxKeep {
			e = eBuf[:classes]
		}
		var sum float64
		for j, v := range lr {
			x := math.Exp(float64(v) - float64(mx)) // exact difference
			if len(e) > 0 {
				e[j] = x
			}
			sum += x
		}
		logZ := float64(mx) + math.Log(sum)
		for j, v := range lr {
			if yr[j] != 0 {
				lossSum -= float64(yr[j]) * (float64(v) - logZ)
			}
			if grad == nil {
				continue
			}
			var p float64
			if len(e) > 0 {
				p = e[j] / sum
			} else {
				p = math.Exp(float64(v) - logZ)
			}
			grad[o+j] = (float32(p) - yr[j]) * inv
		}
	}
	return lossSum
}

// SquaredErrorLoss returns weight·Σ‖pred − target‖², the L2 regression
// loss of a synthesizer, and sets grad to its gradient with respect to
// pred, 2·weight·(pred − target) (grad may be nil). The gradient is that of
// the plain loop; the sum, in float64, is taken in interleaved parts (eight
// columns at a time in assembly where the CPU has AVX, four in Go), so that
// consecutive additions do not wait for one another: it is rounded
// differently from one running sum, within float64 rounding.
func SquaredErrorLoss(grad, pred, target []float32, weight float64) (loss float64) {
	mustHold("SquaredErrorLoss", len(pred), target)
	if grad != nil {
		mustHold("SquaredErrorLoss", len(pred), grad)
	}
	w2 := float32(2 * weight)
	target = target[:len(pred)]
	i, s0 := squaredErrorVector(grad, pred, target, w2)
	var s1, s2, s3 float64
	if grad != nil {
		grad = grad[:len(pred)]
		for ; i+4 <= len(pred); i += 4 {
			p, t, g := pred[i:i+4], target[i:i+4], grad[i:i+4]
			d0, d1, d2, d3 := p[0]-t[0], p[1]-t[1], p[2]-t[2], p[3]-t[3]
			s0 += float64(d0) * float64(d0)
			s1 += float64(d1) * float64(d1)
			s2 += float64(d2) * float64(d2)
			s3 += float64(d3) * float64(d3)
			g[0], g[1], g[2], g[3] = w2*d0, w2*d1, w2*d2, w2*d3
		}
	} else {
		for ; i+4 <= len(pred); i += 4 {
			p, t := pred[i:i+4], target[i:i+4]
			d0, d1, d2, d3 := p[0]-t[0], p[1]-t[1], p[2]-t[2], p[3]-t[3]
			s0 += float64(d0) * float64(d0)
			s1 += float64(d1) * float64(d1)
			s2 += float64(d2) * float64(d2)
			s3 += float64(d3) * float64(d3)
		}
	}
	for ; i < len(pred); i++ {
		d := pred[i] - target[i]
		s0 += float64(d) * float64(d)
		if grad != nil {
			grad[i] = w2 * d
		}
	}
	return ((s0 + s1) + (s2 + s3)) * weight
}
