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
	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
)

// Options are the settings shared by the fused layers.
type Options struct {
	// Threads bounds the goroutines each GEMM may use (≤ 1: the calling
	// goroutine only).
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

// newLearner returns a learner of params whose updates share out their
// work through g as g's products do (kernels.Gemm.Split).
func newLearner(params []*graph.Param, opt optim.Config, g *kernels.Gemm) *graph.Learner {
	l := graph.NewLearner(params, opt)
	l.Optimizer().SetSplit(g)
	return l
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
}

func newAffineBuffers(a *graph.Affine, batch int, train bool) *affineBuffers {
	b := &affineBuffers{out: matrix(batch, a.Out)}
	b.h = data(b.out)
	if train {
		b.dz = make([]float32, batch*a.Out)
		if a.BatchNorm {
			b.xhat = make([]float32, batch*a.Out)
			b.mean, b.invStd = make([]float32, a.Out), make([]float32, a.Out)
			b.runScratch = make([]float32, 2*a.Out)
		}
	}
	return b
}

// forward computes buf.h = act(BN(x·W + b)) for a batch of rows.
func forward(g *kernels.Gemm, a *graph.Affine, buf *affineBuffers, x []float32, rows int, p graph.Pass) {
	g.Sgemm(false, false, rows, a.Out, a.In, 1, x, a.In, data(a.W.Value), a.Out, 0, buf.h, a.Out)
	if !a.BatchNorm {
		kernels.BiasActivate(buf.h, rows, a.Out, data(a.B.Value), activation(a.Act))
		return
	}
	gamma, beta := data(a.Gamma.Value), data(a.Beta.Value)
	runMean, runVar := data(a.RunMean.Value), data(a.RunVar.Value)
	if p == graph.RefitPass {
		runMean, runVar = buf.runScratch[:a.Out], buf.runScratch[a.Out:]
	}
	if p != graph.EvalPass {
		batchNorm.ForwardTrain(buf.h, buf.xhat, buf.mean, buf.invStd, gamma, beta, runMean, runVar, rows, a.Out)
	} else {
		batchNorm.ForwardEval(buf.h, gamma, beta, data(a.RunMean.Value), data(a.RunVar.Value), rows, a.Out)
	}
	kernels.BiasActivate(buf.h, rows, a.Out, nil, activation(a.Act))
}

// backward takes the upstream gradient g of buf.h, sets the parameter
// gradients of a, and, when dx is not nil, sets dx = ∂L/∂x.
func backward(gm *kernels.Gemm, a *graph.Affine, buf *affineBuffers, x, g, dx []float32, rows int) {
	backwardData(gm, a, buf, g, dx, rows)
	weightGradient(gm, a, buf, x, rows)
}

// backwardData is the part of backward that reads g: buf.dz, the gradients
// of the bias or of batch norm's γ and β, and dx = dz·Wᵀ when dx is not nil.
func backwardData(gm *kernels.Gemm, a *graph.Affine, buf *affineBuffers, g, dx []float32, rows int) {
	if a.BatchNorm {
		kernels.ActivationBackward(buf.dz, g, buf.h, rows, a.Out, activation(a.Act), nil)
		batchNorm.Backward(buf.dz, buf.xhat, buf.invStd, data(a.Gamma.Value), data(a.Gamma.Grad), data(a.Beta.Grad), rows, a.Out)
	} else {
		kernels.ActivationBackward(buf.dz, g, buf.h, rows, a.Out, activation(a.Act), data(a.B.Grad))
	}
	if dx != nil {
		gm.Sgemm(false, true, rows, a.In, a.Out, 1, buf.dz, a.Out, data(a.W.Value), a.Out, 0, dx, a.In)
	}
}

// weightGradient is the rest of backward: ∂L/∂W = xᵀ·dz.
func weightGradient(gm *kernels.Gemm, a *graph.Affine, buf *affineBuffers, x []float32, rows int) {
	gm.Sgemm(true, false, a.In, a.Out, rows, 1, x, a.In, buf.dz, a.Out, 0, data(a.W.Grad), a.Out)
}
