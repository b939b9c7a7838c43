// The elementwise kernels, column reductions and per-row kernels of
// README.md: everything but the GEMM. Each kernel is a thin __global__
// wrapper around HD bodies (one per phase between barriers, for the column
// reductions) that take their thread's index (and, for grid-stride loops,
// the grid's total thread count) explicitly, so that elementwise_host.cpp
// can run the very same bodies over the whole launch grid on the CPU.
//
// The arithmetic follows the CPU references of package kernels (dense.go,
// batchnorm.go, loss.go, optim.go) operation by operation, in float32 where
// they use float32, so that the GPU results differ from them by rounding
// only. No kernel uses atomics: each output element has exactly one writer,
// and every reduction runs in a fixed order (sequentially in one thread, or
// in fixed row groups added in group order), which makes the results
// deterministic.
#pragma once

#include "common.cuh"

// Launch shapes (README.md), mirrored by the Go side: every kernel uses blocks
// of ELEMENTWISE_BLOCK threads. The 1-D kernels use grid_1d(n) blocks and a
// grid-stride loop, so any grid size would be correct; the cap only bounds
// the grid for very large n. The per-row kernels use one thread per row,
// grid_per_item(count) blocks; the column reductions grid_columns(cols)
// blocks of COLUMN_COLS columns each.
enum { ELEMENTWISE_BLOCK = 256 };
#define ELEMENTWISE_MAX_GRID 65535LL

// grid_1d returns the number of blocks a 1-D kernel over n elements is
// launched with: ceil(n/256), at most ELEMENTWISE_MAX_GRID. It is 0 for
// n = 0, where the host launches nothing.
HD long long grid_1d(long long n) {
	long long g = (n + ELEMENTWISE_BLOCK - 1) / ELEMENTWISE_BLOCK;
	return g < ELEMENTWISE_MAX_GRID ? g : ELEMENTWISE_MAX_GRID;
}

// grid_per_item returns the number of blocks of a kernel that runs one
// thread per row: ceil(count/256), 0 for count = 0.
HD long long grid_per_item(long long count) {
	return (count + ELEMENTWISE_BLOCK - 1) / ELEMENTWISE_BLOCK;
}

// ---- 1-D kernels: thread i handles elements i, i + stride, i + 2·stride, …

// bias_activate_thread: z = act(z + bias) over the rows×cols matrix z, the
// bias broadcast along rows (kernels.BiasActivate). bias may be null.
HD void bias_activate_thread(long long i, long long stride, float *z, const float *bias,
                             long long rows, long long cols, long long act) {
	long long n = rows * cols;
	for (; i < n; i += stride) {
		float x = z[i];
		if (bias) {
			x += bias[i % cols];
		}
		z[i] = activate(x, act);
	}
}

// activation_backward_thread: dz = g ⊙ act′, the derivative taken from the
// activation's output h (kernels.ActivationBackward without the bias
// gradient, which column_sums computes). dz may alias g: each element is
// read before it is written, by the same thread.
HD void activation_backward_thread(long long i, long long stride, float *dz, const float *g,
                                   const float *h, long long rows, long long cols, long long act) {
	long long n = rows * cols;
	for (; i < n; i += stride) {
		float y = h[i];
		// ReLU selects instead of multiplying by 0 or 1, as the CPU does, so
		// that an infinite gradient at a dead unit gives 0, not NaN.
		if (act == ACT_RELU) {
			dz[i] = y > 0.f ? g[i] : 0.f;
		} else {
			dz[i] = g[i] * activation_derivative(y, act);
		}
	}
}

// scale_thread: v *= s over n elements (kernels.Scale).
HD void scale_thread(long long i, long long stride, float *v, long long n, float s) {
	for (; i < n; i += stride) {
		v[i] *= s;
	}
}

// concat_columns_thread writes dst = [a | b] row by row: a is rows×ca, b is
// rows×cb, dst is rows×(ca+cb). The loop runs over dst, so that consecutive
// threads write consecutive addresses; their reads are consecutive within
// each of a's and b's parts of a row.
HD void concat_columns_thread(long long i, long long stride, float *dst, const float *a,
                              const float *b, long long rows, long long ca, long long cb) {
	long long w = ca + cb;
	long long n = rows * w;
	for (; i < n; i += stride) {
		long long r = i / w, c = i - r * w;
		dst[i] = c < ca ? a[r * ca + c] : b[r * cb + (c - ca)];
	}
}

// batchnorm_forward_eval_thread normalises the rows×cols matrix z in place
// with the running statistics: z = γ·(z − μ_run)·invStd + β
// (kernels.BatchNorm.ForwardEval). The CPU computes invStd = 1/√(σ²_run + ε)
// in float64 and rounds it; here it is float32 (correctly rounded sqrt and
// division: within an ulp or two of the CPU's), because float64 division
// and square root per element would make this memory-bound kernel
// compute-bound on GPUs with slow float64.
HD void batchnorm_forward_eval_thread(long long i, long long stride, float *z, const float *gamma,
                                      const float *beta, const float *runMean, const float *runVar,
                                      long long rows, long long cols, float eps) {
	long long n = rows * cols;
	for (; i < n; i += stride) {
		long long j = i % cols;
		float inv = 1.f / sqrtf(runVar[j] + eps);
		z[i] = gamma[j] * (z[i] - runMean[j]) * inv + beta[j];
	}
}

// squared_error_thread computes, with d = pred − target, sqerr = d² and,
// when grad is not null, grad = gradScale·d. The host sums sqerr in float64
// for the loss (kernels.SquaredErrorLoss with gradScale = 2·weight, the
// loss being weight·Σsqerr).
HD void squared_error_thread(long long i, long long stride, float *grad, float *sqerr,
                             const float *pred, const float *target, long long n, float gradScale) {
	for (; i < n; i += stride) {
		float d = pred[i] - target[i];
		sqerr[i] = d * d;
		if (grad) {
			grad[i] = gradScale * d;
		}
	}
}

// adam_step_thread applies one Adam update with the bias corrections folded
// into the constants, exactly as kernels.AdamStep32's scalar loop:
// stepSize = lr/(1−β₁ᵗ), invSqrtC2 = 1/√(1−β₂ᵗ), computed in float64 by the
// host and rounded to float32.
HD void adam_step_thread(long long i, long long stride, float *w, const float *g, float *m, float *v,
                         long long n, float b1, float b2, float eps, float stepSize, float invSqrtC2) {
	for (; i < n; i += stride) {
		float gi = g[i];
		float mi = b1 * m[i] + (1.f - b1) * gi;
		float vi = b2 * v[i] + (1.f - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		w[i] -= stepSize * mi / (sqrtf(vi) * invSqrtC2 + eps);
	}
}

// momentum_step_thread applies one heavy-ball momentum step:
// vel = μ·vel + g; w −= lr·vel (kernels.MomentumStep).
HD void momentum_step_thread(long long i, long long stride, float *w, const float *g, float *vel,
                             long long n, float lr, float mu) {
	for (; i < n; i += stride) {
		float u = mu * vel[i] + g[i];
		vel[i] = u;
		w[i] -= lr * u;
	}
}

// ---- Column reductions: a block takes COLUMN_COLS consecutive columns,
// and its threads split the rows of each into COLUMN_GROUPS groups: thread
// t has column t % COLUMN_COLS of the block and rows g, g + COLUMN_GROUPS,
// g + 2·COLUMN_GROUPS, … with g = t / COLUMN_COLS. (One thread per column
// took an H200 65 µs for a batch norm of 256 rows.) A warp reads 4 rows of
// 8 consecutive columns at a time, whole 32-byte sectors. Each thread sums its rows in float32 and leaves the sum in
// shared memory; after a barrier, every thread of a column adds the
// COLUMN_GROUPS sums in group order, so that all of them hold the same
// total without another barrier. The kernels run in phases separated by
// barriers; each phase is an HD body over (block, thread), which the host
// driver runs for every thread of a block before the next phase.
enum { COLUMN_COLS = 8, COLUMN_GROUPS = ELEMENTWISE_BLOCK / COLUMN_COLS };

// grid_columns returns the number of blocks of a column reduction over
// cols columns: ceil(cols/COLUMN_COLS), 0 for none.
HD long long grid_columns(long long cols) { return (cols + COLUMN_COLS - 1) / COLUMN_COLS; }

// column_of is the column of thread t of block blk (it may be past the
// last one: such threads only write zeros to shared memory).
HD long long column_of(long long blk, int t) { return blk * COLUMN_COLS + t % COLUMN_COLS; }

// column_total adds the COLUMN_GROUPS partial sums of thread t's column in
// part (ELEMENTWISE_BLOCK floats, indexed by thread) in group order.
HD float column_total(const float *part, int t) {
	float s = 0.f;
	for (int g = 0; g < COLUMN_GROUPS; g++) {
		s += part[g * COLUMN_COLS + t % COLUMN_COLS];
	}
	return s;
}

// column_sums_phase1 stores thread t's partial sum of its column of m in
// part[t].
HD void column_sums_phase1(long long blk, int t, float *part, const float *m, long long rows, long long cols) {
	const long long j = column_of(blk, t);
	float s = 0.f;
	for (long long r = t / COLUMN_COLS; j < cols && r < rows; r += COLUMN_GROUPS) {
		s += m[r * cols + j];
	}
	part[t] = s;
}

// column_sums_phase2 sets sums[j] = Σ_r m[r][j] (kernels.ColumnSums) from
// the partial sums.
HD void column_sums_phase2(long long blk, int t, const float *part, float *sums, long long cols) {
	const long long j = column_of(blk, t);
	if (j < cols && t < COLUMN_COLS) {
		sums[j] = column_total(part, t);
	}
}

// The batch norm's forward pass (kernels.BatchNorm.ForwardTrain) in three
// phases: the column sums for μ; the sums of (z − μ)² (two passes, for
// accuracy); then, from those, the per-column scalars in float64 as on the
// CPU, x̂ and y for each row, and the statistics, written by the column's
// first thread.

HD void batchnorm_forward_train_phase1(long long blk, int t, float *sum, const float *z, long long rows,
                                       long long cols) {
	column_sums_phase1(blk, t, sum, z, rows, cols);
}

HD void batchnorm_forward_train_phase2(long long blk, int t, const float *sum, float *sq, const float *z,
                                       long long rows, long long cols) {
	const long long j = column_of(blk, t);
	const float mu = column_total(sum, t) / (float)rows;
	float ss = 0.f;
	for (long long r = t / COLUMN_COLS; j < cols && r < rows; r += COLUMN_GROUPS) {
		float d = z[r * cols + j] - mu;
		ss += d * d;
	}
	sq[t] = ss;
}

HD void batchnorm_forward_train_phase3(long long blk, int t, const float *sum, const float *sq, float *z,
                                       float *xhat, float *mean, float *invStd, const float *gamma,
                                       const float *beta, float *runMean, float *runVar, long long rows,
                                       long long cols, double eps, double momentum) {
	const long long j = column_of(blk, t);
	if (j >= cols) {
		return;
	}
	const float mu = column_total(sum, t) / (float)rows;
	const double variance = (double)column_total(sq, t) / (double)rows;
	const float inv = (float)(1 / sqrt(variance + eps));
	if (t < COLUMN_COLS) {
		// Unbiased variance for the running estimate, as PyTorch; a batch
		// of one row divides by 1.
		double unbias = (double)rows / (rows > 1 ? (double)(rows - 1) : 1.0);
		runMean[j] = (float)((1 - momentum) * (double)runMean[j] + momentum * (double)mu);
		runVar[j] = (float)((1 - momentum) * (double)runVar[j] + momentum * variance * unbias);
		mean[j] = mu;
		invStd[j] = inv;
	}
	const float gj = gamma[j], bj = beta[j];
	for (long long r = t / COLUMN_COLS; r < rows; r += COLUMN_GROUPS) {
		long long o = r * cols + j;
		float x = (z[o] - mu) * inv;
		xhat[o] = x;
		z[o] = gj * x + bj;
	}
}

// The batch norm's backward pass (kernels.BatchNorm.Backward) in two
// phases: the sums Σdy and Σ(dy·x̂) of each column; then the gradients of
// γ and β (by the column's first thread) and dy overwritten with ∂L/∂z =
// γ·invStd/n·(n·dy − Σdy − x̂·Σ(dy·x̂)).

HD void batchnorm_backward_phase1(long long blk, int t, float *dySum, float *dyXhatSum, const float *dy,
                                  const float *xhat, long long rows, long long cols) {
	const long long j = column_of(blk, t);
	float bg = 0.f, gg = 0.f;
	for (long long r = t / COLUMN_COLS; j < cols && r < rows; r += COLUMN_GROUPS) {
		long long o = r * cols + j;
		float d = dy[o];
		bg += d;
		gg += d * xhat[o];
	}
	dySum[t] = bg;
	dyXhatSum[t] = gg;
}

HD void batchnorm_backward_phase2(long long blk, int t, const float *dySum, const float *dyXhatSum, float *dy,
                                  const float *xhat, const float *invStd, const float *gamma, float *gammaGrad,
                                  float *betaGrad, long long rows, long long cols) {
	const long long j = column_of(blk, t);
	if (j >= cols) {
		return;
	}
	const float bg = column_total(dySum, t), gg = column_total(dyXhatSum, t);
	if (t < COLUMN_COLS) {
		gammaGrad[j] = gg;
		betaGrad[j] = bg;
	}
	const float n = (float)rows;
	// Same association as the CPU: ((γ·invStd)/n)·(n·dy − Σdy − x̂·Σ(dy·x̂)).
	const float coef = gamma[j] * invStd[j] / n;
	for (long long r = t / COLUMN_COLS; r < rows; r += COLUMN_GROUPS) {
		long long o = r * cols + j;
		dy[o] = coef * (n * dy[o] - bg - xhat[o] * gg);
	}
}

// ---- Per-row kernels: thread r handles row r.

// softmax_cross_entropy_thread computes, for row r of the rows×classes
// logits, rowLoss[r] = −Σ_j y_j·log softmax_j and, when grad is not null,
// grad = (softmax − y)/rows (kernels.SoftmaxCrossEntropy; the host sums
// rowLoss in float64 and divides by rows). The CPU accumulates in float64;
// here it is float32, with log softmax formed as (x − max) − log Σexp(x −
// max), which keeps the large terms out of the subtraction.
HD void softmax_cross_entropy_thread(long long r, float *grad, float *rowLoss, const float *logits,
                                     const float *labels, long long rows, long long classes) {
	if (r >= rows) {
		return;
	}
	const float *x = logits + r * classes;
	const float *y = labels + r * classes;
	if (classes <= 0) {
		rowLoss[r] = 0.f;
		return;
	}
	float mx = x[0];
	for (long long j = 1; j < classes; j++) {
		mx = fmaxf(mx, x[j]);
	}
	float sum = 0.f;
	for (long long j = 0; j < classes; j++) {
		sum += expf(x[j] - mx);
	}
	float logSum = logf(sum);
	float loss = 0.f;
	for (long long j = 0; j < classes; j++) {
		if (y[j] != 0.f) {
			loss -= y[j] * ((x[j] - mx) - logSum);
		}
	}
	rowLoss[r] = loss;
	if (grad) {
		float inv = 1.f / (float)rows;
		float invSum = 1.f / sum;
		float *gr = grad + r * classes;
		for (long long j = 0; j < classes; j++) {
			gr[j] = (expf(x[j] - mx) * invSum - y[j]) * inv;
		}
	}
}

// ---- The kernels themselves, compiled only by nvcc.
#ifdef __CUDACC__

// elementwise_thread returns the global index of the calling thread.
__device__ __forceinline__ long long elementwise_thread() {
	return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

// elementwise_stride returns the number of threads of the grid, the stride
// of the grid-stride loops.
__device__ __forceinline__ long long elementwise_stride() {
	return (long long)gridDim.x * blockDim.x;
}

extern "C" __global__ void bias_activate(float *z, const float *bias, long long rows, long long cols,
                                         long long act) {
	bias_activate_thread(elementwise_thread(), elementwise_stride(), z, bias, rows, cols, act);
}

extern "C" __global__ void activation_backward(float *dz, const float *g, const float *h,
                                               long long rows, long long cols, long long act) {
	activation_backward_thread(elementwise_thread(), elementwise_stride(), dz, g, h, rows, cols, act);
}

extern "C" __global__ void column_sums(float *sums, const float *m, long long rows, long long cols) {
	__shared__ float part[ELEMENTWISE_BLOCK];
	column_sums_phase1(blockIdx.x, threadIdx.x, part, m, rows, cols);
	__syncthreads();
	column_sums_phase2(blockIdx.x, threadIdx.x, part, sums, cols);
}

extern "C" __global__ void scale(float *v, long long n, double s) {
	scale_thread(elementwise_thread(), elementwise_stride(), v, n, (float)s);
}

extern "C" __global__ void concat_columns(float *dst, const float *a, const float *b, long long rows,
                                          long long ca, long long cb) {
	concat_columns_thread(elementwise_thread(), elementwise_stride(), dst, a, b, rows, ca, cb);
}

extern "C" __global__ void batchnorm_forward_train(float *z, float *xhat, float *mean, float *invStd,
                                                   const float *gamma, const float *beta,
                                                   float *runMean, float *runVar, long long rows,
                                                   long long cols, double eps, double momentum) {
	__shared__ float sum[ELEMENTWISE_BLOCK], sq[ELEMENTWISE_BLOCK];
	const long long blk = blockIdx.x;
	const int t = threadIdx.x;
	batchnorm_forward_train_phase1(blk, t, sum, z, rows, cols);
	__syncthreads();
	batchnorm_forward_train_phase2(blk, t, sum, sq, z, rows, cols);
	__syncthreads();
	batchnorm_forward_train_phase3(blk, t, sum, sq, z, xhat, mean, invStd, gamma, beta, runMean, runVar, rows,
	                               cols, eps, momentum);
}

extern "C" __global__ void batchnorm_forward_eval(float *z, const float *gamma, const float *beta,
                                                  const float *runMean, const float *runVar,
                                                  long long rows, long long cols, double eps) {
	batchnorm_forward_eval_thread(elementwise_thread(), elementwise_stride(), z, gamma, beta, runMean,
	                              runVar, rows, cols, (float)eps);
}

extern "C" __global__ void batchnorm_backward(float *dy, const float *xhat, const float *invStd,
                                              const float *gamma, float *gammaGrad, float *betaGrad,
                                              long long rows, long long cols) {
	__shared__ float dySum[ELEMENTWISE_BLOCK], dyXhatSum[ELEMENTWISE_BLOCK];
	const long long blk = blockIdx.x;
	const int t = threadIdx.x;
	batchnorm_backward_phase1(blk, t, dySum, dyXhatSum, dy, xhat, rows, cols);
	__syncthreads();
	batchnorm_backward_phase2(blk, t, dySum, dyXhatSum, dy, xhat, invStd, gamma, gammaGrad, betaGrad, rows, cols);
}

extern "C" __global__ void softmax_cross_entropy(float *grad, float *rowLoss, const float *logits,
                                                 const float *labels, long long rows,
                                                 long long classes) {
	softmax_cross_entropy_thread(elementwise_thread(), grad, rowLoss, logits, labels, rows, classes);
}

extern "C" __global__ void squared_error(float *grad, float *sqerr, const float *pred,
                                         const float *target, long long n, double gradScale) {
	squared_error_thread(elementwise_thread(), elementwise_stride(), grad, sqerr, pred, target, n,
	                     (float)gradScale);
}

extern "C" __global__ void adam_step(float *w, const float *g, float *m, float *v, long long n,
                                     double b1, double b2, double eps, double stepSize,
                                     double invSqrtC2) {
	adam_step_thread(elementwise_thread(), elementwise_stride(), w, g, m, v, n, (float)b1, (float)b2,
	                 (float)eps, (float)stepSize, (float)invSqrtC2);
}

extern "C" __global__ void momentum_step(float *w, const float *g, float *vel, long long n, double lr,
                                         double mu) {
	momentum_step_thread(elementwise_thread(), elementwise_stride(), w, g, vel, n, (float)lr,
	                     (float)mu);
}

#endif // __CUDACC__
