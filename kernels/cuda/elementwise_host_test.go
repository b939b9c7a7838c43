package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dnitrain/dnitrain/kernels"
)

// The tests of this file run the per-thread bodies of elementwise.cuh over
// their kernels' whole launch grids on the CPU (elementwise_host.cpp) and
// compare the results with package kernels. Where kernels has a float64
// reference (AdamStep, MomentumStep) the comparison is against it; the
// others are float32 references, whose arithmetic the kernels follow
// operation by operation, so that the differences are a few roundings: of
// the float32 transcendental functions against float64 ones, and of fused
// multiply-adds where the Go compiler emits them.

// shapes are the rows×cols shapes of the matrix kernels: single elements,
// single rows and columns, sizes one off a block (255, 257) and shapes
// whose columns span several blocks of the per-column kernels.
var shapes = [][2]int{{1, 1}, {1, 7}, {7, 1}, {255, 1}, {1, 257}, {256, 10}, {3, 1000}, {257, 3}, {17, 300}}

// lengths are the lengths of the vector kernels.
var lengths = []int{1, 7, 255, 256, 257, 1000, 2560}

// gridCaps are the grid caps the 1-D kernels run under: 0 is the real
// launch shape; 1 and 3 blocks make every case longer than 256 or 768
// elements go round the grid-stride loop, with a stride that is not a
// multiple of the column count for most shapes.
var gridCaps = []int{0, 1, 3}

// elementwiseHost returns the host build of the elementwise driver.
func elementwiseHost(t *testing.T) string {
	t.Helper()
	return hostProgram(t, "elementwise_host.cpp")
}

// uniform returns n floats drawn uniformly from [lo, hi).
func uniform(r *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return v
}

// newRand returns the generator of a test case, seeded from its name so
// that every case has its own fixed inputs.
func newRand(name string) *rand.Rand {
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, 0x5eed))
}

// to64 converts a float32 slice to float64.
func to64(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// checkClose fails t when an element of got differs from want by more than
// tol relative to max(|want|, floor): floor is the scale below which an
// error counts as absolute, for values that cancel to near zero while the
// terms they come from are of order floor. NaN anywhere in got fails, which
// catches elements no thread wrote (the driver starts outputs as NaN).
func checkClose[T kernels.Float](t *testing.T, what string, got []float32, want []T, tol, floor float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		e := math.Abs(g-w) / max(math.Abs(w), floor)
		if math.IsNaN(e) || e > worst {
			worst, at = e, i
			if math.IsNaN(e) {
				break
			}
		}
	}
	if at >= 0 && !(worst <= tol) {
		t.Errorf("%s: element %d of %d is %v, want %v (relative error %.3g > %.3g)",
			what, at, len(got), got[at], float64(want[at]), worst, tol)
	}
}

// TestBiasActivateHost checks bias_activate against kernels.BiasActivate
// (float32 with float64 tanh and sigmoid) for every activation, with and
// without a bias.
func TestBiasActivateHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, sh := range shapes {
		for act := kernels.Identity; act <= kernels.Sigmoid; act++ {
			for _, hasBias := range []int{0, 1} {
				for _, gridCap := range gridCaps {
					rows, cols := sh[0], sh[1]
					name := fmt.Sprintf("%dx%d/act%d/bias%d/cap%d", rows, cols, act, hasBias, gridCap)
					t.Run(name, func(t *testing.T) {
						r := newRand("bias_activate/" + name)
						z := uniform(r, rows*cols, -4, 4)
						var bias []float32
						ins := [][]float32{z}
						if hasBias != 0 {
							bias = uniform(r, cols, -1, 1)
							ins = append(ins, bias)
						}
						out := runHost(t, prog, []any{"bias_activate", gridCap, rows, cols, int(act), hasBias}, ins, rows*cols)
						want := append([]float32(nil), z...)
						kernels.BiasActivate(want, rows, cols, bias, act)
						checkClose(t, "z", out[0], want, 1e-6, 1e-30)
					})
				}
			}
		}
	}
}

// TestActivationBackwardHost checks activation_backward against
// kernels.ActivationBackward (float32) for every activation, with dz a
// separate array and dz aliasing g.
func TestActivationBackwardHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, sh := range shapes {
		for act := kernels.Identity; act <= kernels.Sigmoid; act++ {
			for _, alias := range []int{0, 1} {
				for _, gridCap := range gridCaps {
					rows, cols := sh[0], sh[1]
					name := fmt.Sprintf("%dx%d/act%d/alias%d/cap%d", rows, cols, act, alias, gridCap)
					t.Run(name, func(t *testing.T) {
						r := newRand("activation_backward/" + name)
						g := uniform(r, rows*cols, -1, 1)
						// h is an activation's output, so that its range
						// (and ReLU's exact zeros) are the real ones.
						h := uniform(r, rows*cols, -3, 3)
						kernels.BiasActivate(h, rows, cols, nil, act)
						out := runHost(t, prog, []any{"activation_backward", gridCap, rows, cols, int(act), alias},
							[][]float32{g, h}, rows*cols)
						want := make([]float32, rows*cols)
						kernels.ActivationBackward(want, g, h, rows, cols, act, nil)
						checkClose(t, "dz", out[0], want, 1e-6, 1e-30)
					})
				}
			}
		}
	}
}

// TestColumnSumsHost checks column_sums against float64 sums. The kernel
// adds in float32 in its own order (row groups, then the groups' sums), so
// each sum is within (rows−1)·u of the sum of its terms' magnitudes, u =
// 2⁻²⁴, whatever the order: the bound used, with the largest column's
// Σ|m| as the floor.
func TestColumnSumsHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, sh := range append(shapes, [2]int{1025, 9}) {
		rows, cols := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			r := newRand(fmt.Sprintf("column_sums/%dx%d", rows, cols))
			m := uniform(r, rows*cols, -1, 1)
			out := runHost(t, prog, []any{"column_sums", 0, rows, cols}, [][]float32{m}, cols)
			want, abs := make([]float64, cols), make([]float64, cols)
			for i, v := range m {
				want[i%cols] += float64(v)
				abs[i%cols] += math.Abs(float64(v))
			}
			checkClose(t, "sums", out[0], want, float64(max(rows-1, 1))*u32, slices.Max(abs))
		})
	}
}

// TestScaleHost checks scale against kernels.Scale (float32: one rounded
// product, so the results are equal).
func TestScaleHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, n := range lengths {
		for _, s := range []float64{0.37, -2.5} {
			for _, gridCap := range gridCaps {
				name := fmt.Sprintf("n%d/s%g/cap%d", n, s, gridCap)
				t.Run(name, func(t *testing.T) {
					v := uniform(newRand("scale/"+name), n, -10, 10)
					out := runHost(t, prog, []any{"scale", gridCap, n, s}, [][]float32{v}, n)
					want := append([]float32(nil), v...)
					kernels.Scale(want, float32(s))
					checkClose(t, "v", out[0], want, 0, 1e-30)
				})
			}
		}
	}
}

// concatColumnsRef is fused's concatColumns: dst = [a | b] row by row.
func concatColumnsRef(dst, a, b []float32, rows, ca, cb int) {
	w := ca + cb
	for r := 0; r < rows; r++ {
		copy(dst[r*w:r*w+ca], a[r*ca:(r+1)*ca])
		copy(dst[r*w+ca:(r+1)*w], b[r*cb:(r+1)*cb])
	}
}

// TestConcatColumnsHost checks concat_columns against the concatenation of
// package fused (copies: the results are equal), including empty parts.
func TestConcatColumnsHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, c := range [][3]int{{1, 1, 1}, {3, 4, 5}, {256, 10, 1}, {257, 1, 10}, {7, 0, 3}, {7, 3, 0}, {5, 300, 10}, {1, 255, 2}} {
		for _, gridCap := range gridCaps {
			rows, ca, cb := c[0], c[1], c[2]
			name := fmt.Sprintf("%dx(%d+%d)/cap%d", rows, ca, cb, gridCap)
			t.Run(name, func(t *testing.T) {
				r := newRand("concat_columns/" + name)
				a, b := uniform(r, rows*ca, -1, 1), uniform(r, rows*cb, -1, 1)
				out := runHost(t, prog, []any{"concat_columns", gridCap, rows, ca, cb}, [][]float32{a, b}, rows*(ca+cb))
				want := make([]float32, rows*(ca+cb))
				concatColumnsRef(want, a, b, rows, ca, cb)
				checkClose(t, "dst", out[0], want, 0, 1e-30)
			})
		}
	}
}

// batchNormInputs returns a batch with a per-column offset and spread, so
// that the statistics are far from 0 and 1, and γ, β and running
// statistics.
func batchNormInputs(r *rand.Rand, rows, cols int) (z, gamma, beta, runMean, runVar []float32) {
	z = make([]float32, rows*cols)
	offset, spread := uniform(r, cols, -3, 3), uniform(r, cols, 0.5, 2)
	for i := range z {
		j := i % cols
		z[i] = offset[j] + spread[j]*float32(r.NormFloat64())
	}
	return z, uniform(r, cols, 0.5, 1.5), uniform(r, cols, -0.5, 0.5), uniform(r, cols, -1, 1), uniform(r, cols, 0.1, 2)
}

// sumTol bounds the difference between two float32 sums of n terms added
// in different orders, relative to the sum of the terms' magnitudes: each
// is within (n−1)·u of the exact sum, to first order.
func sumTol(n int) float64 { return 2 * float64(max(n-1, 1)) * u32 }

// TestBatchNormForwardTrainHost checks batchnorm_forward_train against
// kernels.BatchNorm.ForwardTrain (float32 sums, float64 per-column scalars
// as the kernel), all six outputs. The kernel sums a column in 32 row
// groups, the CPU row by row, so the bounds are those of sums in any
// order (sumTol): μ's relative to the mean of |z|; the variance's terms are
// positive (and μ's error enters them to second order only), so its
// bound, and invStd's, is relative; x̂ and y inherit both.
func TestBatchNormForwardTrainHost(t *testing.T) {
	prog := elementwiseHost(t)
	bn := kernels.BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, sh := range append(shapes, [2]int{1025, 9}) {
		rows, cols := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			r := newRand(fmt.Sprintf("batchnorm_forward_train/%dx%d", rows, cols))
			z, gamma, beta, runMean, runVar := batchNormInputs(r, rows, cols)
			out := runHost(t, prog, []any{"batchnorm_forward_train", 0, rows, cols, bn.Eps, bn.Momentum},
				[][]float32{z, gamma, beta, runMean, runVar}, rows*cols, rows*cols, cols, cols, cols, cols)
			absMean := make([]float64, cols) // Σ|z|/rows of each column
			for i, v := range z {
				absMean[i%cols] += math.Abs(float64(v)) / float64(rows)
			}
			wz := append([]float32(nil), z...)
			xhat, mean, invStd := make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
			wrm, wrv := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
			bn.ForwardTrain(wz, xhat, mean, invStd, gamma, beta, wrm, wrv, rows, cols)
			st, slack := sumTol(rows), 8*u32 // slack: the roundings after the sums
			xTol := 0.0                      // |Δx̂| ≤ invStd·|Δμ| + |x̂|·|ΔinvStd/invStd|
			for j := range invStd {
				xTol = max(xTol, st*(1+float64(invStd[j])*absMean[j])+slack)
			}
			checkClose(t, "z", out[0], wz, 1.5*xTol+slack, 1) // γ ≤ 1.5
			checkClose(t, "xhat", out[1], xhat, xTol, 1)
			checkClose(t, "mean", out[2], mean, st+slack, slices.Max(absMean))
			checkClose(t, "invStd", out[3], invStd, st+slack, 1e-30)
			checkClose(t, "runMean", out[4], wrm, st+slack, slices.Max(absMean))
			checkClose(t, "runVar", out[5], wrv, st+slack, 1e-30)
		})
	}
}

// TestBatchNormForwardEvalHost checks batchnorm_forward_eval against
// kernels.BatchNorm.ForwardEval (float32, with 1/√(σ²+ε) in float64 where
// the kernel uses float32).
func TestBatchNormForwardEvalHost(t *testing.T) {
	prog := elementwiseHost(t)
	bn := kernels.BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, sh := range shapes {
		for _, gridCap := range gridCaps {
			rows, cols := sh[0], sh[1]
			name := fmt.Sprintf("%dx%d/cap%d", rows, cols, gridCap)
			t.Run(name, func(t *testing.T) {
				r := newRand("batchnorm_forward_eval/" + name)
				z, gamma, beta, runMean, runVar := batchNormInputs(r, rows, cols)
				out := runHost(t, prog, []any{"batchnorm_forward_eval", gridCap, rows, cols, bn.Eps},
					[][]float32{z, gamma, beta, runMean, runVar}, rows*cols)
				want := append([]float32(nil), z...)
				bn.ForwardEval(want, gamma, beta, runMean, runVar, rows, cols)
				checkClose(t, "z", out[0], want, 2e-6, 1)
			})
		}
	}
}

// TestBatchNormBackwardHost checks batchnorm_backward against
// kernels.BatchNorm.Backward on the x̂ and invStd of a real forward pass.
// The sums Σdy and Σ(dy·x̂) are bounded as sums in any order (sumTol),
// relative to Σ|dy| and Σ|dy·x̂|; ∂L/∂z = γ·invStd/n·(n·dy − Σdy −
// x̂·Σ(dy·x̂)) inherits their errors, scaled by γ·invStd/n, on top of its
// own roundings.
func TestBatchNormBackwardHost(t *testing.T) {
	prog := elementwiseHost(t)
	bn := kernels.BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, sh := range append(shapes, [2]int{1025, 9}) {
		rows, cols := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			r := newRand(fmt.Sprintf("batchnorm_backward/%dx%d", rows, cols))
			z, gamma, beta, runMean, runVar := batchNormInputs(r, rows, cols)
			xhat, mean, invStd := make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
			bn.ForwardTrain(z, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols)
			dy := uniform(r, rows*cols, -1, 1)
			out := runHost(t, prog, []any{"batchnorm_backward", 0, rows, cols},
				[][]float32{dy, xhat, invStd, gamma}, rows*cols, cols, cols)
			wdy := append([]float32(nil), dy...)
			gg, bg := make([]float32, cols), make([]float32, cols)
			bn.Backward(wdy, xhat, invStd, gamma, gg, bg, rows, cols)
			absDy, absDyX, maxX := make([]float64, cols), make([]float64, cols), make([]float64, cols)
			for i, d := range dy {
				x := math.Abs(float64(xhat[i]))
				absDy[i%cols] += math.Abs(float64(d))
				absDyX[i%cols] += math.Abs(float64(d)) * x
				maxX[i%cols] = max(maxX[i%cols], x)
			}
			st := sumTol(rows)
			// ∂L/∂z subtracts terms of order γ·invStd·|dy| (invStd is up
			// to 1/√ε for a single row): that is its floor.
			floor, dzTol := 0.0, 0.0
			for j := range invStd {
				floor = max(floor, float64(gamma[j]*invStd[j]))
				dzTol = max(dzTol, st*(absDy[j]+maxX[j]*absDyX[j])/float64(rows))
			}
			checkClose(t, "dz", out[0], wdy, dzTol+1e-5, floor)
			checkClose(t, "gammaGrad", out[1], gg, st+8*u32, max(slices.Max(absDyX), 1e-30))
			checkClose(t, "betaGrad", out[2], bg, st+8*u32, max(slices.Max(absDy), 1e-30))
		})
	}
}

// TestSoftmaxCrossEntropyHost checks softmax_cross_entropy against
// kernels.SoftmaxCrossEntropy (float64 sums): each row's loss against the
// reference on that row alone, the mean the host forms from the row losses
// against the reference's, and the gradient; with one-hot and soft labels,
// with and without the gradient.
func TestSoftmaxCrossEntropyHost(t *testing.T) {
	prog := elementwiseHost(t)
	cases := [][2]int{{1, 1}, {1, 7}, {7, 1}, {255, 3}, {256, 10}, {257, 10}, {3, 1000}, {17, 300}}
	for _, c := range cases {
		for _, soft := range []bool{false, true} {
			for _, hasGrad := range []int{0, 1} {
				rows, classes := c[0], c[1]
				name := fmt.Sprintf("%dx%d/soft%v/grad%d", rows, classes, soft, hasGrad)
				t.Run(name, func(t *testing.T) {
					r := newRand("softmax_cross_entropy/" + name)
					logits := uniform(r, rows*classes, -5, 5)
					labels := make([]float32, rows*classes)
					for i := 0; i < rows; i++ {
						y := labels[i*classes : (i+1)*classes]
						if !soft {
							y[r.IntN(classes)] = 1
							continue
						}
						var sum float32
						for j := range y {
							y[j] = r.Float32()
							sum += y[j]
						}
						for j := range y {
							y[j] /= sum
						}
					}
					gradLen := 0
					if hasGrad != 0 {
						gradLen = rows * classes
					}
					out := runHost(t, prog, []any{"softmax_cross_entropy", 0, rows, classes, hasGrad},
						[][]float32{logits, labels}, rows, gradLen)
					wantRow := make([]float64, rows)
					for i := range wantRow {
						o := i * classes
						wantRow[i] = kernels.SoftmaxCrossEntropy(nil, logits[o:o+classes], labels[o:o+classes], 1, classes)
					}
					// A row's loss subtracts log Σexp of order 1 to 10.
					checkClose(t, "rowLoss", out[0], wantRow, 1e-5, 1)
					grad := make([]float32, rows*classes)
					want := kernels.SoftmaxCrossEntropy(grad, logits, labels, rows, classes)
					var got float64
					for _, l := range out[0] {
						got += float64(l)
					}
					got /= float64(rows)
					if e := math.Abs(got-want) / max(math.Abs(want), 1); !(e <= 1e-6) {
						t.Errorf("mean loss %v, want %v (relative error %.3g)", got, want, e)
					}
					if hasGrad != 0 {
						// Gradients are (p − y)/rows, and p − y cancels for
						// soft labels: the floor is 0.1/rows, so that errors
						// count as absolute below it. (The kernel forms
						// x − max in float32, a rounding the float64
						// reference does not have: p is good to about 5e-7
						// relative.)
						checkClose(t, "grad", out[1], grad, 1e-5, 0.1/float64(rows))
					}
				})
			}
		}
	}
}

// TestSquaredErrorHost checks squared_error against
// kernels.SquaredErrorLoss (float64 loss): the squares, the loss the host
// sums from them in float64 and the gradient, with and without it.
func TestSquaredErrorHost(t *testing.T) {
	prog := elementwiseHost(t)
	for _, n := range lengths {
		for _, hasGrad := range []int{0, 1} {
			for _, gridCap := range gridCaps {
				name := fmt.Sprintf("n%d/grad%d/cap%d", n, hasGrad, gridCap)
				t.Run(name, func(t *testing.T) {
					r := newRand("squared_error/" + name)
					pred, target := uniform(r, n, -2, 2), uniform(r, n, -2, 2)
					weight := 0.5 / float64(n)
					gradLen := 0
					if hasGrad != 0 {
						gradLen = n
					}
					out := runHost(t, prog, []any{"squared_error", gridCap, n, 2 * weight, hasGrad},
						[][]float32{pred, target}, n, gradLen)
					grad := make([]float32, n)
					want := kernels.SquaredErrorLoss(grad, pred, target, weight)
					sq := make([]float64, n)
					var got float64
					for i := range sq {
						d := float64(pred[i] - target[i])
						sq[i] = d * d
						got += float64(out[0][i])
					}
					got *= weight
					checkClose(t, "sqerr", out[0], sq, 1e-7, 1e-30)
					if e := math.Abs(got-want) / math.Abs(want); !(e <= 1e-6) {
						t.Errorf("loss %v, want %v (relative error %.3g)", got, want, e)
					}
					if hasGrad != 0 {
						checkClose(t, "grad", out[1], grad, 1e-7, 1e-30)
					}
				})
			}
		}
	}
}

// TestAdamStepHost checks adam_step against kernels.AdamStep[float64], the
// host computing the folded constants as kernels.AdamStep32 does: the
// moments, the weights, and, relative to its own size, the update of the
// weights (lr-sized, so the weights' own rounding would hide an error in
// it). It checks against AdamStep32 too, which it should match to an ulp.
func TestAdamStepHost(t *testing.T) {
	prog := elementwiseHost(t)
	const lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
	for _, n := range lengths {
		for _, step := range []int{1, 10} {
			for _, gridCap := range gridCaps {
				name := fmt.Sprintf("n%d/t%d/cap%d", n, step, gridCap)
				t.Run(name, func(t *testing.T) {
					r := newRand("adam_step/" + name)
					w, g := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
					m, v := uniform(r, n, -0.1, 0.1), uniform(r, n, 0, 0.01)
					if step == 1 { // the moments start at zero
						m, v = make([]float32, n), make([]float32, n)
					}
					stepSize := lr / (1 - math.Pow(b1, float64(step)))
					invSqrtC2 := 1 / math.Sqrt(1-math.Pow(b2, float64(step)))
					out := runHost(t, prog, []any{"adam_step", gridCap, n, b1, b2, eps, stepSize, invSqrtC2},
						[][]float32{w, g, m, v}, n, n, n)
					w64, m64, v64 := to64(w), to64(m), to64(v)
					kernels.AdamStep(w64, to64(g), m64, v64, lr, b1, b2, eps, step)
					checkClose(t, "w", out[0], w64, 1e-6, 1)
					checkClose(t, "m", out[1], m64, 1e-5, 1e-2)
					// 1 − β₂ in float32 is 1.000047e-3 for β₂ = 0.999
					// (AdamStep32 has the same constant): 5e-5 relative.
					checkClose(t, "v", out[2], v64, 1e-4, 1e-30)
					dw, dw64 := make([]float32, n), make([]float64, n)
					for i := range dw {
						dw[i] = out[0][i] - w[i]
						dw64[i] = w64[i] - float64(w[i])
					}
					checkClose(t, "Δw", dw, dw64, 1e-3, 1e-4)

					w32, m32, v32 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
					kernels.AdamStep32(w32, g, m32, v32, lr, b1, b2, eps, step)
					checkClose(t, "w (AdamStep32)", out[0], w32, 2e-7, 1)
					checkClose(t, "m (AdamStep32)", out[1], m32, 1e-6, 1e-2)
					checkClose(t, "v (AdamStep32)", out[2], v32, 1e-6, 1e-30)
				})
			}
		}
	}
}

// TestMomentumStepHost checks momentum_step against
// kernels.MomentumStep[float64]: the velocity, the weights and their
// update relative to its own size.
func TestMomentumStepHost(t *testing.T) {
	prog := elementwiseHost(t)
	const lr, mu = 0.01, 0.9
	for _, n := range lengths {
		for _, gridCap := range gridCaps {
			name := fmt.Sprintf("n%d/cap%d", n, gridCap)
			t.Run(name, func(t *testing.T) {
				r := newRand("momentum_step/" + name)
				w, g, vel := uniform(r, n, -1, 1), uniform(r, n, -1, 1), uniform(r, n, -1, 1)
				out := runHost(t, prog, []any{"momentum_step", gridCap, n, lr, mu}, [][]float32{w, g, vel}, n, n)
				w64, vel64 := to64(w), to64(vel)
				kernels.MomentumStep(w64, to64(g), vel64, lr, mu)
				checkClose(t, "w", out[0], w64, 1e-6, 1)
				checkClose(t, "vel", out[1], vel64, 1e-6, 1)
				dw, dw64 := make([]float32, n), make([]float64, n)
				for i := range dw {
					dw[i] = out[0][i] - w[i]
					dw64[i] = w64[i] - float64(w[i])
				}
				// The update is lr·vel, about 1e-2, rounded into w of order
				// 1: an error of an ulp of w, 6e-8, is 1e-5 of it; vel can
				// cancel to near zero, hence the floor.
				checkClose(t, "Δw", dw, dw64, 1e-4, lr*1e-1)
			})
		}
	}
}
