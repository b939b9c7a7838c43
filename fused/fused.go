// Package fused runs the layers and synthesizers of a decoupled network on
// the CPU kernels of package kernels: each forward or backward pass is a
// short, fixed sequence of GEMMs and fused elementwise passes over buffers
// allocated once per batch size, so a training step allocates nothing.
//
// It computes exactly what the Gorgonia graphs of package graph compute,
// from the same parameters (graph.Affine), initialised the same way; the
// tests hold the two together.
package fused

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
)

// Options are the settings shared by the fused layers.
type Options struct {
	// Threads bounds the goroutines a module computes with (≤ 1: the
	// calling goroutine only): the parts of a batch (Parts), or a GEMM's.
	Threads int
	// Cores, when not nil, is where the GEMMs take the places of their
	// goroutines beyond the caller's (see kernels.Gemm).
	Cores *kernels.Cores
	// TF32 rounds every GEMM operand to TF32 first, as the GPU backend's
	// tensor cores do (see kernels.Gemm): a CPU twin of the GPU modules'
	// arithmetic, for comparing them.
	TF32 bool
}

func (o Options) gemm() *kernels.Gemm {
	return &kernels.Gemm{Threads: o.Threads, Cores: o.Cores, TF32: o.TF32}
}

// newLearner returns a learner of the params of module name whose updates
// share out their work through g as g's products do (kernels.Gemm.Shards).
func newLearner(name string, params []*graph.Param, opt optim.Config, g *kernels.Gemm) (*graph.Learner, error) {
	l, err := graph.NewLearner(params, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.Optimizer().SetSplit(g)
	return l, nil
}

// batchNorm are the constants shared with graph's batch norm.
var batchNorm = kernels.BatchNorm{Eps: graph.BatchNormEps, Momentum: graph.BatchNormMomentum}

// data returns the float32 elements of t. (Dense.Data allocates an
// interface on every call; Float32s does not.)
func data(t *tensor.Dense) []float32 { return t.Float32s() }

// matrix returns a new rows×cols float32 tensor.
func matrix(rows, cols int) *tensor.Dense {
	return tensor.New(tensor.WithShape(rows, cols), tensor.Of(tensor.Float32))
}

// activation maps graph's activations to the kernels'.
func activation(a graph.Activation) kernels.Activation { return kernels.Activation(a) }

// cacheKey identifies a set of buffers: one per batch size and mode.
type cacheKey struct {
	batch int
	train bool
}

// minPartRows is the fewest rows of a batch that a part of it takes (see
// partsOf): fewer would leave the products of a part short of the
// micro-kernel's tile of rows.
const minPartRows = 32

// partsOf returns the number of parts that a batch of rows is computed in
// by a module whose products may use threads goroutines: one per
// goroutine, each part at least minPartRows rows.
//
// A module computes a batch in parts of its rows, each part whole on one
// goroutine (kernels.Gemm.Shards): its products, its elementwise passes
// and its share of every sum over the batch, which are then added part by
// part in order. So each core keeps its rows of the activations and their
// gradients in its caches from layer to layer, forward and backward, and
// the cores exchange only the parts' sums: the column sums of batch norm
// and of the biases' gradients, and the weight gradients. Sharing every
// product's columns out instead moved an operand between the cores at
// every product. The results depend on the number of parts, and so on the
// threads, not on which goroutine computes which part.
func partsOf(threads, rows int) int { return max(1, min(threads, rows/minPartRows)) }

// TransformParts returns the number of parts in which a dense transform of
// in inputs and out outputs, in a module whose products may use threads
// goroutines, computes a batch of rows: partsOf, unless its weights
// outnumber the batch's inputs and outputs. Each part's products would
// then pack all of the weights, each part would sum a weight gradient the
// size of the weights, and the cores would exchange more than they do
// sharing out the columns of each product: the transform computes the
// batch whole, its products shared out by columns. With the 2×1024 DNI
// synthesizer's 1024×1024 layer in two parts, a DNI epoch took 4.5-4.7 s
// against 4.1-4.2. Each part but the first holds a weight gradient of its
// own, in×out elements.
func TransformParts(threads, rows, in, out int) int {
	if rows*(in+out) < in*out {
		return 1
	}
	return partsOf(threads, rows)
}

// Parts returns the number of parts in which the modules of o compute a
// batch of rows, which kernels.ShardRange(rows, 1, p, n) bounds: part p of
// the batch's rows runs on goroutine p of o.Threads, as far as
// kernels.Gemm.Shards can place it there. A caller that writes a batch in
// the same parts on the same goroutines leaves each part in the cache of
// the core that reads it first.
func (o Options) Parts(rows int) int { return partsOf(o.Threads, rows) }

// affineBuffers are the per-batch buffers of one dense transform.
type affineBuffers struct {
	h            []float32 // output act(BN(x·W + b)), batch×out
	dz           []float32 // gradient before the activation, batch×out
	xhat         []float32 // batch norm's normalised input, batch×out
	mean, invStd []float32 // batch norm's batch statistics, out
	// runScratch takes the running statistics of a graph.RefitPass (2·out),
	// which must leave the real ones alone.
	runScratch []float32
	out        *tensor.Dense

	// The batch's parts (partsOf): the column sums of each (2·out, for the
	// backward pass's two), the weight gradient of each but the first,
	// which goes to the parameter's gradient, and the losses of each.
	sums   [][]float32
	wgrads [][]float32
	losses []float64
	job    affineJob
}

func newAffineBuffers(a *graph.Affine, batch int, train bool, threads int) *affineBuffers {
	b := &affineBuffers{out: matrix(batch, a.Out)}
	b.h = data(b.out)
	parts := TransformParts(threads, batch, a.In, a.Out)
	for p := range parts {
		b.sums = append(b.sums, make([]float32, 2*a.Out))
		if train && p > 0 {
			b.wgrads = append(b.wgrads, make([]float32, a.In*a.Out))
		}
	}
	b.losses = make([]float64, parts)
	if train {
		b.dz = make([]float32, batch*a.Out)
		if a.BatchNorm {
			b.xhat = make([]float32, batch*a.Out)
			b.mean, b.invStd = make([]float32, a.Out), make([]float32, a.Out)
			b.runScratch = make([]float32, 2*a.Out)
		}
	}
	b.job = affineJob{buf: b, a: a, rows: batch}
	return b
}

// gemmFor returns the Gemm of a part's products: the module's g when the
// batch is one part, else g on its goroutine alone.
func (j *affineJob) gemmFor(g *kernels.Gemm) *kernels.Gemm {
	if len(j.buf.sums) == 1 {
		return g
	}
	j.serial.TF32 = g.TF32
	return &j.serial
}

// affineStep is a step of a dense transform's pass that runs on every part
// of the batch.
type affineStep int

const (
	// x·W, then the bias and activation, or the column sums for batch
	// norm's mean (or, evaluating, batch norm with the running statistics
	// and the activation).
	stepProduct    affineStep = iota
	stepDeviations            // the sums of squared deviations for batch norm's variance
	stepNormalize             // batch norm's normalisation, then the activation
	stepLoss                  // softmax cross-entropy of the logits in h
	stepL2                    // a synthesizer's squared error of the prediction in h
	// dz with the bias gradient's column sums, then gradientInput; or,
	// with batch norm, dz and its two sums
	stepGradient
	// batch norm's input gradient, then gradientInput
	stepNormInput
	stepWeights    // the part's weight gradient alone
	stepSumWeights // the parts' weight gradients summed, by ranges of elements
)

// affineJob is one pass of a dense transform over the parts of a batch (a
// kernels.Sharder), kept with its buffers so that a pass does not allocate.
type affineJob struct {
	step affineStep
	buf  *affineBuffers
	a    *graph.Affine
	rows int
	// gemm runs the parts' products: the module's, or serial (gemmFor).
	gemm   *kernels.Gemm
	serial kernels.Gemm

	x, g, dx []float32 // input, upstream gradient, input gradient (or nil)
	labels   []float32 // one-hot, for stepLoss; the target for stepL2
	grad     []float32 // stepLoss's and stepL2's gradient of h
	weight   float64   // stepL2's weight of the squared error
	pass     graph.Pass
	weights  bool // gradientInput also computes the part's weight gradient
	// scale, when not zero, multiplies the output after the activation,
	// and stepL2's gradient: a synthesizer's prediction scale.
	scale float32
}

// run runs step on every part of the batch, with the goroutines of g.
func (j *affineJob) run(g *kernels.Gemm, step affineStep) {
	j.step = step
	j.gemm = j.gemmFor(g)
	g.Shards(len(j.buf.sums), j)
}

// Shard runs the job's step on part p of the batch.
func (j *affineJob) Shard(p int) {
	a, b := j.a, j.buf
	lo, hi := kernels.ShardRange(j.rows, 1, p, len(b.sums))
	rows, in, out := hi-lo, a.In, a.Out
	act := activation(a.Act)
	h := b.h[lo*out : hi*out]
	switch j.step {
	case stepProduct:
		j.gemm.Sgemm(false, false, rows, out, in, 1, j.x[lo*in:], in, data(a.W.Value), out, 0, h, out)
		switch {
		case !a.BatchNorm:
			kernels.BiasActivate(h, rows, out, data(a.B.Value), act)
		case j.pass == graph.EvalPass:
			batchNorm.ForwardEval(h, data(a.Gamma.Value), data(a.Beta.Value), data(a.RunMean.Value), data(a.RunVar.Value), rows, out)
			kernels.BiasActivate(h, rows, out, nil, act)
		default:
			kernels.ColumnSums(b.sums[p], h, rows, out)
			return
		}
		j.scaleOutput(h)
	case stepDeviations:
		kernels.SquaredDeviations(b.sums[p], h, b.mean, rows, out)
	case stepNormalize:
		kernels.NormalizeAffine(h, b.xhat[lo*out:], b.mean, b.invStd, data(a.Gamma.Value), data(a.Beta.Value), rows, out)
		kernels.BiasActivate(h, rows, out, nil, act)
		j.scaleOutput(h)
	case stepLoss:
		b.losses[p] = kernels.SoftmaxCrossEntropyPart(j.grad[lo*out:hi*out], h, j.labels[lo*out:], rows, out, j.rows)
	case stepL2:
		grad := j.grad[lo*out : hi*out]
		b.losses[p] = kernels.SquaredErrorLoss(grad, h, j.labels[lo*out:], j.weight)
		j.scaleOutput(grad)
	case stepGradient:
		dz, s := b.dz[lo*out:hi*out], b.sums[p]
		if !a.BatchNorm {
			kernels.ActivationBackward(dz, j.g[lo*out:], h, rows, out, act, s)
			j.gradientInput(p, lo, hi)
			return
		}
		kernels.ActivationBackward(dz, j.g[lo*out:], h, rows, out, act, nil)
		kernels.BatchNormGradSums(s[:out], s[out:], dz, b.xhat[lo*out:], rows, out)
	case stepNormInput:
		kernels.BatchNormInputGrad(b.dz[lo*out:hi*out], b.xhat[lo*out:], b.invStd, data(a.Gamma.Value),
			data(a.Gamma.Grad), data(a.Beta.Grad), j.rows, rows, out)
		j.gradientInput(p, lo, hi)
	case stepWeights:
		j.weightGradient(p, lo, hi)
	case stepSumWeights:
		w := data(a.W.Grad)
		lo, hi := kernels.ShardRange(len(w), optim.SplitUnit, p, len(b.sums)) // the update's parts
		for _, part := range b.wgrads {
			kernels.Add(w[lo:hi], part[lo:hi])
		}
	}
}

// scaleOutput multiplies v, rows of the output or of its gradient, by the
// job's scale, if it has one.
func (j *affineJob) scaleOutput(v []float32) {
	if j.scale != 0 {
		kernels.Scale(v, j.scale)
	}
}

// gradientInput sets rows lo..hi (part p) of dx = dz·Wᵀ, when the job has
// dx, and the part's weight gradient, when it is asked for.
func (j *affineJob) gradientInput(p, lo, hi int) {
	a, in, out := j.a, j.a.In, j.a.Out
	if j.dx != nil {
		j.gemm.Sgemm(false, true, hi-lo, in, out, 1, j.buf.dz[lo*out:], out, data(a.W.Value), out, 0, j.dx[lo*in:], in)
	}
	if j.weights {
		j.weightGradient(p, lo, hi)
	}
}

// weightGradient sets part p's weight gradient xᵀ·dz over rows lo..hi:
// into the parameter's gradient for the first part.
func (j *affineJob) weightGradient(p, lo, hi int) {
	a, in, out := j.a, j.a.In, j.a.Out
	dst := data(a.W.Grad)
	if p > 0 {
		dst = j.buf.wgrads[p-1]
	}
	j.gemm.Sgemm(true, false, in, out, hi-lo, 1, j.x[lo*in:], in, j.buf.dz[lo*out:], out, 0, dst, out)
}

// sumParts sets dst to the sum of the first len(dst) elements of the
// parts, added in order.
func sumParts(dst []float32, parts [][]float32, off int) {
	copy(dst, parts[0][off:])
	for _, p := range parts[1:] {
		kernels.Add(dst, p[off:])
	}
}

// forward computes buf.h = act(BN(x·W + b)) for the batch of buf's rows.
func forward(g *kernels.Gemm, a *graph.Affine, buf *affineBuffers, x []float32, p graph.Pass) {
	j := &buf.job
	j.x, j.pass = x, p
	j.run(g, stepProduct)
	if !a.BatchNorm || p == graph.EvalPass {
		return
	}
	runMean, runVar := data(a.RunMean.Value), data(a.RunVar.Value)
	if p == graph.RefitPass {
		runMean, runVar = buf.runScratch[:a.Out], buf.runScratch[a.Out:]
	}
	sumParts(buf.mean, buf.sums, 0)
	n := float32(j.rows)
	for k := range buf.mean {
		buf.mean[k] /= n
	}
	j.run(g, stepDeviations)
	sumParts(buf.invStd, buf.sums, 0)
	batchNorm.Statistics(buf.mean, buf.invStd, runMean, runVar, j.rows, a.Out)
	j.run(g, stepNormalize)
}

// softmaxLoss returns the mean softmax cross-entropy of the logits in buf.h
// against the one-hot labels, and sets grad to its gradient.
func softmaxLoss(g *kernels.Gemm, buf *affineBuffers, grad, labels []float32) float64 {
	j := &buf.job
	j.grad, j.labels = grad, labels
	j.run(g, stepLoss)
	return sumLosses(buf) / float64(j.rows)
}

// l2Loss returns weight·Σ‖pred − target‖² for the prediction in buf.h, and
// sets grad to its gradient with respect to the output before the
// prediction scale (see affineJob.scale).
func l2Loss(g *kernels.Gemm, buf *affineBuffers, grad, target []float32, weight float64) float64 {
	j := &buf.job
	j.grad, j.labels, j.weight = grad, target, weight
	j.run(g, stepL2)
	return sumLosses(buf)
}

// sumLosses returns the sum of the parts' losses, in order.
func sumLosses(buf *affineBuffers) (sum float64) {
	for _, l := range buf.losses {
		sum += l
	}
	return sum
}

// backward takes the upstream gradient g of buf.h and sets buf.dz, the
// gradients of the bias or of batch norm's γ and β, and dx = ∂L/∂x when dx
// is not nil. Given the input x, it sets the weight gradient too; with x
// nil, that is left to weightGradient.
func backward(gm *kernels.Gemm, a *graph.Affine, buf *affineBuffers, g, dx, x []float32) {
	j := &buf.job
	j.g, j.dx, j.x, j.weights = g, dx, x, x != nil
	j.run(gm, stepGradient)
	if a.BatchNorm {
		sumParts(data(a.Beta.Grad), buf.sums, 0)
		sumParts(data(a.Gamma.Grad), buf.sums, a.Out)
		j.run(gm, stepNormInput)
	} else {
		sumParts(data(a.B.Grad), buf.sums, 0)
	}
	if x != nil {
		sumWeights(gm, buf)
	}
}

// sumWeights adds the weight gradients of the parts of the batch after the
// first to the parameter's gradient.
func sumWeights(gm *kernels.Gemm, buf *affineBuffers) {
	if len(buf.wgrads) > 0 {
		buf.job.run(gm, stepSumWeights)
	}
}

// weightGradient is what backward leaves without x: ∂L/∂W = xᵀ·dz.
func weightGradient(gm *kernels.Gemm, buf *affineBuffers, x []float32) {
	j := &buf.job
	j.x = x
	j.run(gm, stepWeights)
	sumWeights(gm, buf)
}
