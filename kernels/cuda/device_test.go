//go:build gpu

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/dnitrain/dnitrain/kernels"
)

// These tests run every kernel on CUDA device 0 and compare it with its
// CPU reference in package kernels on random inputs. They need a GPU: a
// binary that links gorgonia.org/cu exits at start-up on a machine without
// one.

var (
	dev    *Device
	stream *Stream
)

func TestMain(m *testing.M) {
	var err error
	if dev, err = Open(0); err == nil {
		stream, err = dev.NewStream()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernel tests need CUDA device 0:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "device:", dev)
	os.Exit(m.Run())
}

func randomFloats(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * rng.NormFloat64())
	}
	return v
}

// onDevice uploads v into a new device buffer and waits for the copy.
func onDevice(t *testing.T, v []float32) Buffer {
	t.Helper()
	b, err := dev.Alloc(max(len(v), 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Free(b) })
	if err := stream.Upload(b, v); err != nil {
		t.Fatal(err)
	}
	if err := stream.Sync(); err != nil { // the tests change v afterwards
		t.Fatal(err)
	}
	return b
}

// fromDevice downloads n floats of b.
func fromDevice(t *testing.T, b Buffer, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := stream.Download(v, b); err != nil {
		t.Fatal(err)
	}
	return v
}

// requireClose fails unless |got − want| ≤ tol·max(|want|∞, 1e-3)
// elementwise: the error relative to the result's scale.
func requireClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*math.Max(scale, 1e-3)) {
			t.Fatalf("%s[%d] = %v, reference %v (scale %v, tolerance %v)", what, i, got[i], want[i], scale, tol)
		}
	}
}

// TestCopyAndFetch copies a buffer's part on the device, on a second
// stream once the first has written it, and fetches the results to the
// host with one wait: every element arrives, the ones past the copy stay.
func TestCopyAndFetch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	src := randomFloats(rng, 1000, 1)
	poison := make([]float32, 1200)
	for i := range poison {
		poison[i] = float32(math.NaN())
	}
	a, b := onDevice(t, src), onDevice(t, poison)
	other, err := dev.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Copy(b.Slice(100, 900), a.Slice(50, 900)); err != nil {
		t.Fatal(err)
	}
	got, whole := make([]float32, 900), make([]float32, 1200)
	if err := other.Fetch(got, b.Slice(100, 900)); err != nil {
		t.Fatal(err)
	}
	if err := other.Fetch(whole, b); err != nil {
		t.Fatal(err)
	}
	if err := other.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != src[50+i] || whole[100+i] != src[50+i] {
			t.Fatalf("element %d: got %v and %v, want %v", i, got[i], whole[100+i], src[50+i])
		}
	}
	for _, i := range []int{0, 99, 1000, 1199} {
		if !math.IsNaN(float64(whole[i])) {
			t.Errorf("element %d outside the copy changed to %v", i, whole[i])
		}
	}
	if err := other.Copy(a, b); err == nil {
		t.Error("copying 1200 floats into a buffer of 1000: no error")
	}
	if err := other.Fetch(make([]float32, 1001), a); err == nil {
		t.Error("fetching 1001 floats from a buffer of 1000: no error")
	}
}

// TestGemmDevice runs the host tests' GEMM cases (every transposition, edge
// sizes, odd leading dimensions, misaligned operands, bias, activations,
// beta) and one of many blocks on the device, with the same two float64
// references and bounds: the tensor cores' products of TF32 inputs are
// exact in float32, so only the order of the float32 sums may differ
// from the emulation's, which the first-order bound does not depend on.
func TestGemmDevice(t *testing.T) {
	cases := append(gemmCases(),
		gemmCase{m: 640, n: 520, k: 1030, transB: true, bias: true, act: kernels.ReLU},
		gemmCase{m: 256, n: 256, k: 784, bias: true, act: kernels.ReLU, splits: gemmSplits(256, 256, 784, dev.SMs)},
	)
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) { runGemmCase(t, deviceGemm, c) })
	}
}

// deviceGemm is the gemmRun of the device: A and B start c.skew floats
// past a buffer's (256-byte aligned) start.
func deviceGemm(t *testing.T, c gemmCase, lda, ldb, ldc int, a, b, cin, bias []float32) []float32 {
	skewed := func(v []float32) Buffer {
		buf := onDevice(t, append(make([]float32, c.skew), v...))
		return buf.Slice(c.skew, len(v))
	}
	var bd Buffer
	if c.bias {
		bd = onDevice(t, bias)
	}
	cd := onDevice(t, cin)
	if err := stream.GemmSplit(cd, skewed(a), skewed(b), bd, c.m, c.n, c.k, lda, ldb, ldc, c.transA, c.transB, c.beta, int(c.act), max(c.splits, 1)); err != nil {
		t.Fatal(err)
	}
	return fromDevice(t, cd, len(cin))
}

func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, sz := range []struct{ rows, cols int }{{1, 1}, {7, 3}, {256, 10}, {255, 257}, {3, 1000}} {
		rows, cols := sz.rows, sz.cols
		n := rows * cols
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			for act := 0; act < 4; act++ {
				z, bias := randomFloats(rng, n, 1), randomFloats(rng, cols, 1)
				zd := onDevice(t, z)
				if err := stream.BiasActivate(zd, onDevice(t, bias), rows, cols, act); err != nil {
					t.Fatal(err)
				}
				kernels.BiasActivate(z, rows, cols, bias, kernels.Activation(act))
				requireClose(t, fmt.Sprintf("bias_activate act %d", act), fromDevice(t, zd, n), z, 1e-5)

				g := randomFloats(rng, n, 1)
				dzd := onDevice(t, make([]float32, n))
				if err := stream.ActivationBackward(dzd, onDevice(t, g), onDevice(t, z), rows, cols, act); err != nil {
					t.Fatal(err)
				}
				dz := make([]float32, n)
				kernels.ActivationBackward(dz, g, z, rows, cols, kernels.Activation(act), nil)
				requireClose(t, fmt.Sprintf("activation_backward act %d", act), fromDevice(t, dzd, n), dz, 1e-5)
			}

			m := randomFloats(rng, n, 1)
			sums := make([]float32, cols)
			kernels.ColumnSums(sums, m, rows, cols)
			sd := onDevice(t, make([]float32, cols))
			if err := stream.ColumnSums(sd, onDevice(t, m), rows, cols); err != nil {
				t.Fatal(err)
			}
			requireClose(t, "column_sums", fromDevice(t, sd, cols), sums, 1e-5)

			v := randomFloats(rng, n, 1)
			vd := onDevice(t, v)
			if err := stream.Scale(vd, 0.37); err != nil {
				t.Fatal(err)
			}
			kernels.Scale(v, 0.37)
			requireClose(t, "scale", fromDevice(t, vd, n), v, 1e-6)

			b := randomFloats(rng, rows*3, 1)
			cat := make([]float32, rows*(cols+3))
			for r := 0; r < rows; r++ {
				copy(cat[r*(cols+3):], m[r*cols:(r+1)*cols])
				copy(cat[r*(cols+3)+cols:], b[r*3:(r+1)*3])
			}
			catd := onDevice(t, make([]float32, len(cat)))
			if err := stream.ConcatColumns(catd, onDevice(t, m), onDevice(t, b), rows, cols, 3); err != nil {
				t.Fatal(err)
			}
			requireClose(t, "concat_columns", fromDevice(t, catd, len(cat)), cat, 0)
		})
	}
}

func TestBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	bn := kernels.BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, sz := range []struct{ rows, cols int }{{1, 1}, {2, 7}, {256, 256}, {255, 1025}} {
		rows, cols := sz.rows, sz.cols
		n := rows * cols
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			z := randomFloats(rng, n, 2)
			gamma, beta := randomFloats(rng, cols, 1), randomFloats(rng, cols, 1)
			runMean, runVar := randomFloats(rng, cols, 1), make([]float32, cols)
			for j := range runVar {
				runVar[j] = 1 + float32(rng.Float64())
			}
			zd, xd := onDevice(t, z), onDevice(t, make([]float32, n))
			md, id := onDevice(t, make([]float32, cols)), onDevice(t, make([]float32, cols))
			gd, bd := onDevice(t, gamma), onDevice(t, beta)
			rmd, rvd := onDevice(t, runMean), onDevice(t, runVar)
			evalZ := append([]float32(nil), z...)
			if err := stream.BatchNormForwardEval(BatchNorm(bn), onDevice(t, evalZ), gd, bd, rmd, rvd, rows, cols); err != nil {
				t.Fatal(err)
			}
			if err := stream.BatchNormForwardTrain(BatchNorm(bn), zd, xd, md, id, gd, bd, rmd, rvd, rows, cols); err != nil {
				t.Fatal(err)
			}
			xhat, mean, invStd := make([]float32, n), make([]float32, cols), make([]float32, cols)
			bn.ForwardEval(evalZ, gamma, beta, runMean, runVar, rows, cols)
			bn.ForwardTrain(z, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols)
			requireClose(t, "y", fromDevice(t, zd, n), z, 1e-5)
			requireClose(t, "xhat", fromDevice(t, xd, n), xhat, 1e-5)
			requireClose(t, "mean", fromDevice(t, md, cols), mean, 1e-5)
			requireClose(t, "invStd", fromDevice(t, id, cols), invStd, 1e-4)
			requireClose(t, "running mean", fromDevice(t, rmd, cols), runMean, 1e-5)
			requireClose(t, "running var", fromDevice(t, rvd, cols), runVar, 1e-5)

			dy := randomFloats(rng, n, 1)
			dyd := onDevice(t, dy)
			ggd, gbd := onDevice(t, make([]float32, cols)), onDevice(t, make([]float32, cols))
			if err := stream.BatchNormBackward(dyd, xd, id, gd, ggd, gbd, rows, cols); err != nil {
				t.Fatal(err)
			}
			gg, gb := make([]float32, cols), make([]float32, cols)
			bn.Backward(dy, xhat, invStd, gamma, gg, gb, rows, cols)
			// As in TestBatchNormBackwardHost: ∂L/∂z subtracts terms of
			// order γ·invStd·|dy|, which is the floor of its error.
			floor := 0.0
			for j := range invStd {
				floor = max(floor, float64(gamma[j]*invStd[j]))
			}
			checkClose(t, "dz", fromDevice(t, dyd, n), dy, 1e-4, floor)
			requireClose(t, "gamma gradient", fromDevice(t, ggd, cols), gg, 1e-4)
			requireClose(t, "beta gradient", fromDevice(t, gbd, cols), gb, 1e-5)
		})
	}
}

func TestLosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, sz := range []struct{ rows, classes int }{{1, 2}, {7, 3}, {256, 10}, {300, 1000}} {
		rows, classes := sz.rows, sz.classes
		n := rows * classes
		t.Run(fmt.Sprintf("%dx%d", rows, classes), func(t *testing.T) {
			logits, labels := randomFloats(rng, n, 3), make([]float32, n)
			for r := 0; r < rows; r++ {
				labels[r*classes+rng.IntN(classes)] = 1
			}
			grad := make([]float32, n)
			loss := kernels.SoftmaxCrossEntropy(grad, logits, labels, rows, classes)
			gd, ld := onDevice(t, make([]float32, n)), onDevice(t, make([]float32, rows))
			if err := stream.SoftmaxCrossEntropy(gd, ld, onDevice(t, logits), onDevice(t, labels), rows, classes); err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, l := range fromDevice(t, ld, rows) {
				sum += float64(l)
			}
			if got := sum / float64(rows); math.Abs(got-loss) > 1e-5*math.Max(1, loss) {
				t.Fatalf("cross-entropy %v, reference %v", got, loss)
			}
			// (p − y)/rows cancels where p is near y: errors count as
			// absolute below 0.1/rows, as in TestSoftmaxCrossEntropyHost.
			checkClose(t, "softmax gradient", fromDevice(t, gd, n), grad, 1e-5, 0.1/float64(rows))

			pred, target := randomFloats(rng, n, 1), randomFloats(rng, n, 1)
			const weight, scale = 0.25, 0.5
			sqGrad := make([]float32, n)
			sq := kernels.SquaredErrorLoss(sqGrad, pred, target, weight)
			kernels.Scale(sqGrad, scale)
			sgd, sed := onDevice(t, make([]float32, n)), onDevice(t, make([]float32, n))
			if err := stream.SquaredError(sgd, sed, onDevice(t, pred), onDevice(t, target), n, 2*weight*scale); err != nil {
				t.Fatal(err)
			}
			sum = 0
			for _, e := range fromDevice(t, sed, n) {
				sum += float64(e)
			}
			if math.Abs(weight*sum-sq) > 1e-5*math.Max(1, sq) {
				t.Fatalf("squared error %v, reference %v", weight*sum, sq)
			}
			requireClose(t, "squared-error gradient", fromDevice(t, sgd, n), sqGrad, 1e-6)
		})
	}
}

func TestOptimizers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 7, 1000, 784 * 256} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w, g := randomFloats(rng, n, 1), randomFloats(rng, n, 1)
			m, v := randomFloats(rng, n, 0.1), make([]float32, n)
			for i := range v {
				v[i] = float32(rng.Float64())
			}
			wd, md, vd := onDevice(t, w), onDevice(t, m), onDevice(t, v)
			const lr, b1, b2, eps, step = 1e-3, 0.9, 0.999, 1e-8, 3
			stepSize, invSqrtC2 := kernels.AdamScalars(lr, b1, b2, step)
			if err := stream.AdamStep(wd, onDevice(t, g), md, vd, b1, b2, eps, stepSize, invSqrtC2); err != nil {
				t.Fatal(err)
			}
			kernels.AdamStep32(w, g, m, v, lr, b1, b2, eps, step)
			requireClose(t, "adam w", fromDevice(t, wd, n), w, 1e-6)
			requireClose(t, "adam m", fromDevice(t, md, n), m, 1e-6)
			requireClose(t, "adam v", fromDevice(t, vd, n), v, 1e-6)

			vel := randomFloats(rng, n, 0.1)
			wd, veld := onDevice(t, w), onDevice(t, vel)
			if err := stream.MomentumStep(wd, onDevice(t, g), veld, 0.01, 0.9); err != nil {
				t.Fatal(err)
			}
			kernels.MomentumStep(w, g, vel, 0.01, 0.9)
			requireClose(t, "momentum w", fromDevice(t, wd, n), w, 1e-6)
			requireClose(t, "momentum velocity", fromDevice(t, veld, n), vel, 1e-6)
		})
	}
}
