package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randomSlice(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// requireClose checks got against a float64 reference with a relative
// error bound.
func requireClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %v, reference %v", what, i, got[i], want[i])
		}
	}
}

func act64(a Activation, z float64) float64 {
	switch a {
	case ReLU:
		return math.Max(z, 0)
	case Tanh:
		return math.Tanh(z)
	case Sigmoid:
		return 1 / (1 + math.Exp(-z))
	}
	return z
}

func deriv64(a Activation, z float64) float64 {
	switch a {
	case ReLU:
		if z > 0 {
			return 1
		}
		return 0
	case Tanh:
		return 1 - math.Tanh(z)*math.Tanh(z)
	case Sigmoid:
		s := 1 / (1 + math.Exp(-z))
		return s * (1 - s)
	}
	return 1
}

var shapes = []struct{ rows, cols int }{{1, 1}, {7, 3}, {3, 17}, {16, 255}, {9, 257}}

func TestBiasActivateAndBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, act := range []Activation{Identity, ReLU, Tanh, Sigmoid} {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("act%d_%dx%d", act, s.rows, s.cols), func(t *testing.T) {
				n := s.rows * s.cols
				z, bias, g := randomSlice(rng, n, 2), randomSlice(rng, s.cols, 1), randomSlice(rng, n, 1)
				wantH, wantDz := make([]float64, n), make([]float64, n)
				wantDb := make([]float64, s.cols)
				for i := range z {
					pre := float64(z[i]) + float64(bias[i%s.cols])
					wantH[i] = act64(act, pre)
					wantDz[i] = float64(g[i]) * deriv64(act, pre)
					wantDb[i%s.cols] += wantDz[i]
				}
				h := append([]float32(nil), z...)
				BiasActivate(h, s.rows, s.cols, bias, act)
				requireClose(t, "h", h, wantH, 1e-6)
				dz, db := make([]float32, n), make([]float32, s.cols)
				ActivationBackward(dz, g, h, s.rows, s.cols, act, db)
				requireClose(t, "dz", dz, wantDz, 1e-5)
				requireClose(t, "bias grad", db, wantDb, 1e-5)
			})
		}
	}
}

func TestColumnSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := randomSlice(rng, 7*5, 1)
	want := make([]float64, 5)
	for i, v := range m {
		want[i%5] += float64(v)
	}
	got := make([]float32, 5)
	ColumnSums(got, m, 7, 5)
	requireClose(t, "sums", got, want, 1e-6)
}

// crossEntropy64 is the definition: −(1/B)Σ log softmax(logits)[label].
func crossEntropy64(logits, labels []float64, rows, classes int) float64 {
	var loss float64
	for r := 0; r < rows; r++ {
		var z float64
		for j := 0; j < classes; j++ {
			z += math.Exp(logits[r*classes+j])
		}
		for j := 0; j < classes; j++ {
			loss -= labels[r*classes+j] * math.Log(math.Exp(logits[r*classes+j])/z)
		}
	}
	return loss / float64(rows)
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, s := range []struct{ rows, classes int }{{1, 2}, {5, 3}, {17, 10}, {3, softmaxKeep + 6}} { // the last past softmaxKeep
		logits := randomSlice(rng, s.rows*s.classes, 3)
		labels := make([]float32, s.rows*s.classes)
		for r := 0; r < s.rows; r++ {
			labels[r*s.classes+rng.IntN(s.classes)] = 1
		}
		grad := make([]float32, len(logits))
		loss := SoftmaxCrossEntropy(grad, logits, labels, s.rows, s.classes)
		l64, y64 := to64(logits), to64(labels)
		if want := crossEntropy64(l64, y64, s.rows, s.classes); math.Abs(loss-want) > 1e-6*math.Max(1, want) {
			t.Fatalf("%v: loss %v, reference %v", s, loss, want)
		}
		want := make([]float64, len(logits))
		for i := range l64 {
			orig := l64[i]
			l64[i] = orig + 1e-6
			up := crossEntropy64(l64, y64, s.rows, s.classes)
			l64[i] = orig - 1e-6
			down := crossEntropy64(l64, y64, s.rows, s.classes)
			l64[i] = orig
			want[i] = (up - down) / 2e-6
		}
		requireClose(t, "grad", grad, want, 1e-5)
		// In two parts of the batch's rows: the same gradient, and
		// losses that sum to the batch's.
		parts := make([]float32, len(grad))
		h := s.rows / 2 * s.classes
		sum := SoftmaxCrossEntropyPart(parts[:h], logits[:h], labels[:h], s.rows/2, s.classes, s.rows) +
			SoftmaxCrossEntropyPart(parts[h:], logits[h:], labels[h:], s.rows-s.rows/2, s.classes, s.rows)
		requireSame(t, "grad in parts", parts, grad, 0)
		if math.Abs(sum/float64(s.rows)-loss) > 1e-12*loss {
			t.Errorf("%v: loss in parts %v, whole %v", s, sum/float64(s.rows), loss)
		}
	}
	// Large logits must not overflow.
	big := []float32{1000, -1000, 0}
	if l := SoftmaxCrossEntropy(nil, big, []float32{1, 0, 0}, 1, 3); l != 0 {
		t.Errorf("loss %v for a certain, right prediction", l)
	}
}

func TestSquaredErrorLoss(t *testing.T) {
	pred, target := []float32{1, 2, 3, 4}, []float32{0, 2, 5, 4}
	grad := make([]float32, 4)
	// w·Σd² with w = 2: 2·(1 + 0 + 4 + 0) = 10; grad 2w·d.
	if l := SquaredErrorLoss(grad, pred, target, 2); l != 10 {
		t.Errorf("loss %v, want 10", l)
	}
	requireClose(t, "grad", grad, []float64{4, 0, -8, 0}, 0)
}

// batchNorm64 is the definition of training-mode batch norm followed by
// L = Σ y ⊙ w, used to check the backward pass by finite differences.
func batchNorm64(z, gamma, beta, w []float64, rows, cols int, eps float64) (y []float64, loss float64) {
	y = make([]float64, len(z))
	for j := 0; j < cols; j++ {
		var mu, v float64
		for r := 0; r < rows; r++ {
			mu += z[r*cols+j]
		}
		mu /= float64(rows)
		for r := 0; r < rows; r++ {
			v += (z[r*cols+j] - mu) * (z[r*cols+j] - mu)
		}
		v /= float64(rows)
		for r := 0; r < rows; r++ {
			i := r*cols + j
			y[i] = gamma[j]*(z[i]-mu)/math.Sqrt(v+eps) + beta[j]
			loss += y[i] * w[i]
		}
	}
	return y, loss
}

func TestBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	bn := BatchNorm{Eps: 1e-5, Momentum: 0.1}
	for _, s := range []struct{ rows, cols int }{{2, 1}, {7, 3}, {16, 33}, {3, 1030}} { // the last past ForwardEval's blocks
		t.Run(fmt.Sprintf("%dx%d", s.rows, s.cols), func(t *testing.T) {
			n := s.rows * s.cols
			z := randomSlice(rng, n, 2)
			gamma, beta := randomSlice(rng, s.cols, 1), randomSlice(rng, s.cols, 1)
			w := randomSlice(rng, n, 1)
			runMean, runVar := make([]float32, s.cols), make([]float32, s.cols)
			for j := range runVar {
				runVar[j] = 1
			}
			z64, g64, b64, w64 := to64(z), to64(gamma), to64(beta), to64(w)
			wantY, _ := batchNorm64(z64, g64, b64, w64, s.rows, s.cols, bn.Eps)

			y := append([]float32(nil), z...)
			xhat, mean, invStd := make([]float32, n), make([]float32, s.cols), make([]float32, s.cols)
			bn.ForwardTrain(y, xhat, mean, invStd, gamma, beta, runMean, runVar, s.rows, s.cols)
			requireClose(t, "y", y, wantY, 1e-4)
			for j := 0; j < s.cols; j++ { // running mean moved 10% towards the batch mean
				if want := 0.1 * float64(mean[j]); math.Abs(float64(runMean[j])-want) > 1e-6 {
					t.Fatalf("running mean %v, want %v", runMean[j], want)
				}
			}

			dy := append([]float32(nil), w...) // ∂L/∂y = w
			gGrad, bGrad := make([]float32, s.cols), make([]float32, s.cols)
			bn.Backward(dy, xhat, invStd, gamma, gGrad, bGrad, s.rows, s.cols)
			numeric := func(xs []float64) []float64 {
				out := make([]float64, len(xs))
				for i := range xs {
					orig := xs[i]
					xs[i] = orig + 1e-6
					_, up := batchNorm64(z64, g64, b64, w64, s.rows, s.cols, bn.Eps)
					xs[i] = orig - 1e-6
					_, down := batchNorm64(z64, g64, b64, w64, s.rows, s.cols, bn.Eps)
					xs[i] = orig
					out[i] = (up - down) / 2e-6
				}
				return out
			}
			tol := 1e-3 // float32 kernel against float64 differences
			requireClose(t, "dz", dy, numeric(z64), tol)
			requireClose(t, "γ grad", gGrad, numeric(g64), tol)
			requireClose(t, "β grad", bGrad, numeric(b64), tol)

			ev := append([]float32(nil), z...)
			bn.ForwardEval(ev, gamma, beta, runMean, runVar, s.rows, s.cols)
			for i := range ev {
				j := i % s.cols
				want := float64(gamma[j])*(float64(z[i])-float64(runMean[j]))/math.Sqrt(float64(runVar[j])+bn.Eps) + float64(beta[j])
				if math.Abs(float64(ev[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Fatalf("eval y[%d] = %v, want %v", i, ev[i], want)
				}
			}
		})
	}
}
