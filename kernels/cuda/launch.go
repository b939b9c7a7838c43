//go:build gpu

package cuda

import (
	"fmt"
	"math"
)

// maxGridY is the largest y dimension of a grid.
const maxGridY = 65535

// grid1D returns the grid of a 1-D kernel over n elements (kernels loop
// with a grid stride, so the cap only bounds the grid, not n).
func grid1D(n int) int { return min(ceilDiv(n, blockThreads), maxGrid1D) }

// launch queues kernel name on s with grid gx×gy blocks of bx threads
// (nothing for an empty grid: no elements). Every argument travels as 8
// bytes: buffers as device pointers, ints as int64, float64 as double,
// bools as 0/1.
func (s *Stream) launch(name string, gx, gy, bx int, args ...any) error {
	return s.launch3(name, gx, gy, 1, bx, args...)
}

// launch3 is launch with a grid of gz layers of gx×gy blocks.
func (s *Stream) launch3(name string, gx, gy, gz, bx int, args ...any) error {
	if gx <= 0 || gy <= 0 || gz <= 0 {
		return nil
	}
	var argv [maxArgs]uint64
	if len(args) > maxArgs {
		return fmt.Errorf("cuda: kernel %s: %d arguments (at most %d)", name, len(args), maxArgs)
	}
	for i, a := range args {
		switch a := a.(type) {
		case Buffer:
			argv[i] = uint64(a.ptr)
		case int:
			argv[i] = uint64(int64(a))
		case bool:
			if a {
				argv[i] = 1
			}
		case float64:
			argv[i] = math.Float64bits(a)
		default:
			panic(fmt.Sprintf("cuda: kernel %s: argument %d of type %T", name, i, a))
		}
	}
	fn, ok := s.d.fns[name]
	if !ok {
		return fmt.Errorf("cuda: no kernel %s", name)
	}
	if err := s.d.rawLaunch(fn, s.s, gx, gy, gz, bx, argv[:len(args)]); err != nil {
		return fmt.Errorf("cuda: launching %s: %w", name, err)
	}
	return nil
}

// Gemm queues C = act(op(A)·op(B) + beta·C + bias) on the tensor cores
// (TF32 inputs, float32 accumulation): op(A) is m×k (A stored k×m when
// transA), op(B) is k×n (B stored n×k when transB), all row-major with
// leading dimensions lda, ldb, ldc. bias (n floats) may be the null
// Buffer; when beta is 0, C is only written (it may hold anything).
// Products of few output blocks split K to occupy the device (see
// gemmSplits and GemmSplit).
func (s *Stream) Gemm(c, a, b, bias Buffer, m, n, k, lda, ldb, ldc int, transA, transB bool, beta float64, act int) error {
	return s.GemmSplit(c, a, b, bias, m, n, k, lda, ldb, ldc, transA, transB, beta, act, gemmSplits(m, n, k, s.d.SMs))
}

// GemmSplit is Gemm with K split splits ways: each split's partial sums go
// to a work buffer of the stream (grown on demand, kept until Close), and
// a second kernel adds them in order and applies the epilogue. splits 1
// is the plain product.
func (s *Stream) GemmSplit(c, a, b, bias Buffer, m, n, k, lda, ldb, ldc int, transA, transB bool, beta float64, act, splits int) error {
	if m <= 0 || n <= 0 || k <= 0 {
		return fmt.Errorf("cuda: gemm of %d×%d×%d", m, n, k)
	}
	if ceilDiv(m, gemmBM) > maxGridY {
		return fmt.Errorf("cuda: gemm of %d rows: at most %d", m, maxGridY*gemmBM)
	}
	if splits < 1 || splits > maxGridY {
		return fmt.Errorf("cuda: gemm split %d ways", splits)
	}
	gx, gy := ceilDiv(n, gemmBN), ceilDiv(m, gemmBM)
	if splits == 1 {
		return s.launch("gemm_tf32", gx, gy, gemmThreads, c, a, b, bias, Buffer{}, m, n, k, lda, ldb, ldc, transA, transB, beta, act)
	}
	work, err := s.workspace(splits * m * n)
	if err != nil {
		return err
	}
	if err := s.launch3("gemm_tf32", gx, gy, splits, gemmThreads, c, a, b, bias, work, m, n, k, lda, ldb, ldc, transA, transB, beta, act); err != nil {
		return err
	}
	return s.launch("gemm_splitk_reduce", grid1D(m*n), 1, blockThreads, c, bias, work, m, n, ldc, splits, beta, act)
}

// BiasActivate queues z = act(z + bias) on a rows×cols matrix (bias may
// be the null Buffer).
func (s *Stream) BiasActivate(z, bias Buffer, rows, cols, act int) error {
	return s.launch("bias_activate", grid1D(rows*cols), 1, blockThreads, z, bias, rows, cols, act)
}

// ActivationBackward queues dz = g ⊙ act′, act′ taken from the
// activation's output h (dz may be g).
func (s *Stream) ActivationBackward(dz, g, h Buffer, rows, cols, act int) error {
	return s.launch("activation_backward", grid1D(rows*cols), 1, blockThreads, dz, g, h, rows, cols, act)
}

// ColumnSums queues sums[j] = Σ_r m[r][j].
func (s *Stream) ColumnSums(sums, m Buffer, rows, cols int) error {
	return s.launch("column_sums", ceilDiv(cols, columnCols), 1, blockThreads, sums, m, rows, cols)
}

// Scale queues v *= f over the whole buffer.
func (s *Stream) Scale(v Buffer, f float64) error {
	return s.launch("scale", grid1D(v.n), 1, blockThreads, v, v.n, f)
}

// ConcatColumns queues dst = [a | b] row by row (a rows×ca, b rows×cb).
func (s *Stream) ConcatColumns(dst, a, b Buffer, rows, ca, cb int) error {
	return s.launch("concat_columns", grid1D(rows*(ca+cb)), 1, blockThreads, dst, a, b, rows, ca, cb)
}

// BatchNorm holds the constants of batch normalisation.
type BatchNorm struct{ Eps, Momentum float64 }

// BatchNormForwardTrain queues kernels.BatchNorm.ForwardTrain on the device.
func (s *Stream) BatchNormForwardTrain(bn BatchNorm, z, xhat, mean, invStd, gamma, beta, runMean, runVar Buffer, rows, cols int) error {
	return s.launch("batchnorm_forward_train", ceilDiv(cols, columnCols), 1, blockThreads,
		z, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols, bn.Eps, bn.Momentum)
}

// BatchNormForwardEval queues kernels.BatchNorm.ForwardEval on the device.
func (s *Stream) BatchNormForwardEval(bn BatchNorm, z, gamma, beta, runMean, runVar Buffer, rows, cols int) error {
	return s.launch("batchnorm_forward_eval", grid1D(rows*cols), 1, blockThreads,
		z, gamma, beta, runMean, runVar, rows, cols, bn.Eps)
}

// BatchNormBackward queues kernels.BatchNorm.Backward on the device.
func (s *Stream) BatchNormBackward(dy, xhat, invStd, gamma, gammaGrad, betaGrad Buffer, rows, cols int) error {
	return s.launch("batchnorm_backward", ceilDiv(cols, columnCols), 1, blockThreads,
		dy, xhat, invStd, gamma, gammaGrad, betaGrad, rows, cols)
}

// SoftmaxCrossEntropy queues, per row, the cross-entropy of
// softmax(logits) against one-hot labels into rowLoss and, unless grad is
// the null Buffer, grad = (softmax − labels)/rows.
func (s *Stream) SoftmaxCrossEntropy(grad, rowLoss, logits, labels Buffer, rows, classes int) error {
	return s.launch("softmax_cross_entropy", ceilDiv(rows, blockThreads), 1, blockThreads,
		grad, rowLoss, logits, labels, rows, classes)
}

// SquaredError queues sqerr = (pred − target)² elementwise and, unless
// grad is the null Buffer, grad = gradScale·(pred − target), over n
// elements.
func (s *Stream) SquaredError(grad, sqerr, pred, target Buffer, n int, gradScale float64) error {
	return s.launch("squared_error", grid1D(n), 1, blockThreads, grad, sqerr, pred, target, n, gradScale)
}

// AdamStep queues one Adam update of w from g with moments m and v; the
// constants are kernels.AdamStep32's: stepSize = lr/(1−β₁ᵗ) and
// invSqrtC2 = 1/√(1−β₂ᵗ).
func (s *Stream) AdamStep(w, g, m, v Buffer, b1, b2, eps, stepSize, invSqrtC2 float64) error {
	return s.launch("adam_step", grid1D(w.n), 1, blockThreads, w, g, m, v, w.n, b1, b2, eps, stepSize, invSqrtC2)
}

// MomentumStep queues kernels.MomentumStep on the device.
func (s *Stream) MomentumStep(w, g, vel Buffer, lr, mu float64) error {
	return s.launch("momentum_step", grid1D(w.n), 1, blockThreads, w, g, vel, w.n, lr, mu)
}

// MMAPeak queues the tensor-core rate probe: blocks×warps warps, each
// running iters iterations of the probe's independent mma.sync chains.
// Every thread writes one float to out, so out holds blocks×threads floats;
// threads is a multiple of 32 (mma.sync needs whole warps).
func (s *Stream) MMAPeak(out Buffer, blocks, threads, iters int) error {
	if threads <= 0 || threads%32 != 0 || blocks*threads > out.n {
		return fmt.Errorf("cuda: mma_peak of %d blocks of %d threads into a buffer of %d", blocks, threads, out.n)
	}
	return s.launch("mma_peak", blocks, 1, threads, out, iters)
}
