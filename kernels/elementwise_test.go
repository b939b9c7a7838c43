package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// elementwiseShapes are the rows×cols the elementwise kernels are checked
// on: widths around the vector width of eight (1, 7, 8, 9, 255, 257), odd row
// counts, and a width beyond the 1024-column blocks of BatchNorm.Backward.
var elementwiseShapes = []struct{ rows, cols int }{
	{1, 1}, {1, 7}, {3, 8}, {5, 9}, {2, 255}, {3, 257}, {7, 1}, {17, 7}, {9, 255},
	{33, 257}, {256, 10}, {64, 256}, {3, 1030},
}

// forEachPath runs f with the assembly kernels enabled (where this build and
// CPU have them) and again with the Go loops alone.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	saved := hasAVX
	defer func() { hasAVX = saved }()
	for _, vector := range []bool{true, false} {
		if vector && !saved {
			continue
		}
		hasAVX = vector
		name := "go"
		if vector {
			name = "asm"
		}
		t.Run(name, f)
	}
}

// specialSlice is randomSlice with a few special values (±0, ±Inf, NaN,
// denormals) at random places when special is set.
func specialSlice(rng *rand.Rand, n int, scale float64, special bool) []float32 {
	v := randomSlice(rng, n, scale)
	if special {
		values := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
			float32(math.NaN()), 1e-40, -1e-40}
		for i := 0; i < n/16+1; i++ {
			v[rng.IntN(n)] = values[rng.IntN(len(values))]
		}
	}
	return v
}

// guarded returns a copy of v in a longer buffer whose extra elements are a
// sentinel, and a function that fails the test if the kernel wrote there.
func guarded(t *testing.T, v []float32) ([]float32, func(what string)) {
	const extra = 9
	buf := make([]float32, len(v)+extra)
	copy(buf, v)
	for i := len(v); i < len(buf); i++ {
		buf[i] = 12345
	}
	return buf[:len(v)], func(what string) {
		t.Helper()
		for i, x := range buf[len(v):] {
			if x != 12345 {
				t.Fatalf("%s: wrote %v past the end, at %d", what, x, len(v)+i)
			}
		}
	}
}

// requireSame checks got against want from the reference loop: equal (±0
// alike, NaN matching NaN) or, where tol > 0, within tol·max(1, |want|).
func requireSame(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g == w || (g != g && w != w) {
			continue
		}
		if tol > 0 && math.Abs(float64(g)-float64(w)) <= tol*math.Max(1, math.Abs(float64(w))) {
			continue
		}
		t.Fatalf("%s[%d] = %v, reference %v", what, i, g, w)
	}
}

// bnTol is the tolerance of batch norm against its reference loop. Built
// as they are here (amd64 without FMA in Go code) the two agree exactly; a
// compiler that fuses a·b + c in the Go loops (GOAMD64=v3, arm64) rounds some
// of them once less.
const bnTol = 1e-5

func TestBiasActivateMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 5))
		for _, act := range []Activation{Identity, ReLU, Tanh, Sigmoid} {
			for _, withBias := range []bool{false, true} {
				for _, special := range []bool{false, true} {
					for _, s := range elementwiseShapes {
						name := fmt.Sprintf("act%d_bias%v_special%v_%dx%d", act, withBias, special, s.rows, s.cols)
						n := s.rows * s.cols
						z := specialSlice(rng, n, 2, special)
						var bias []float32
						if withBias {
							bias = specialSlice(rng, s.cols, 1, special)
						}
						want := append([]float32(nil), z...)
						biasActivateRef(want, s.rows, s.cols, bias, act)
						got, check := guarded(t, z)
						BiasActivate(got, s.rows, s.cols, bias, act)
						check(name)
						requireSame(t, name, got, want, 0)
					}
				}
			}
		}
	})
}

func TestActivationBackwardMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(6, 6))
		for _, act := range []Activation{Identity, ReLU, Tanh, Sigmoid} {
			for _, withBias := range []bool{false, true} {
				for _, special := range []bool{false, true} {
					for _, alias := range []bool{false, true} {
						for _, s := range elementwiseShapes {
							name := fmt.Sprintf("act%d_bias%v_special%v_alias%v_%dx%d", act, withBias, special, alias, s.rows, s.cols)
							n := s.rows * s.cols
							g := specialSlice(rng, n, 1, special)
							h := specialSlice(rng, n, 1, special)
							wantDz := make([]float32, n)
							var wantDb, gotDb []float32
							if withBias {
								wantDb = make([]float32, s.cols)
								gotDb = specialSlice(rng, s.cols, 1, false) // overwritten
							}
							activationBackwardRef(wantDz, g, h, s.rows, s.cols, act, wantDb)
							gotDz, check := guarded(t, make([]float32, n))
							gIn := g
							if alias { // dz may alias g
								copy(gotDz, g)
								gIn = gotDz
							}
							ActivationBackward(gotDz, gIn, h, s.rows, s.cols, act, gotDb)
							check(name)
							requireSame(t, name+" dz", gotDz, wantDz, 0)
							requireSame(t, name+" bias grad", gotDb, wantDb, 0)
						}
					}
				}
			}
		}
	})
}

func TestColumnSumsAddAndScaleMatchReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 7))
		for _, s := range elementwiseShapes {
			name := fmt.Sprintf("%dx%d", s.rows, s.cols)
			m := randomSlice(rng, s.rows*s.cols, 1)
			want := make([]float32, s.cols)
			columnSumsRef(want, m, s.rows, s.cols)
			got, check := guarded(t, randomSlice(rng, s.cols, 1))
			ColumnSums(got, m, s.rows, s.cols)
			check(name)
			requireSame(t, name+" sums", got, want, 0)

			src := specialSlice(rng, len(m), 1, true)
			want = append([]float32(nil), m...)
			addRef(want, src)
			got, check = guarded(t, m)
			Add(got, src)
			check(name)
			requireSame(t, name+" add", got, want, 0)

			want = append([]float32(nil), m...)
			scaleRef(want, 0.37)
			got, check = guarded(t, m)
			Scale(got, 0.37)
			check(name)
			requireSame(t, name+" scale", got, want, 0)
		}
	})
}

// FirstNonFinite finds the first NaN or infinity wherever it lies: in the
// blocks of eight it sums (the assembly's four at a time or one at a time),
// or in the tail after them; and none among large, tiny and signed zeros.
func TestFirstNonFiniteMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 11))
		bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		for _, n := range []int{0, 1, 3, 7, 8, 9, 16, 21, 31, 32, 33, 40, 255, 257, 65536} {
			fine := randomSlice(rng, n, 1)
			if n > 3 {
				fine[0], fine[1], fine[2], fine[3] = 3e38, -3e38, 1e-40, float32(math.Copysign(0, -1))
			}
			if got := FirstNonFinite(fine); got != -1 {
				t.Fatalf("%d finite elements: got %d, want -1", n, got)
			}
			for _, at := range []int{0, n / 2, n - 1, rng.IntN(max(n, 1))} {
				if n == 0 {
					break
				}
				for _, b := range bad {
					v := append([]float32(nil), fine...)
					v[at] = b
					if later := at + 1 + rng.IntN(n-at); later < n {
						v[later] = bad[rng.IntN(len(bad))] // a second one after it
					}
					if got, want := FirstNonFinite(v), firstNonFiniteRef(v); got != want {
						t.Fatalf("%d elements, %v at %d: got %d, want %d", n, b, at, got, want)
					}
				}
			}
		}
	})
}

func TestScaleBytesMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 11))
		params := []struct{ div, sub, mul float32 }{
			{255, 0.1307, 1 / 0.3081}, // MNIST's standardization
			{1, 0, 1},
			{3, -2.5, 0.001},
			{255, 0, 1},
		}
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 255, 784, 1031} {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rng.IntN(256))
			}
			if n >= 2 {
				src[0], src[n-1] = 0, 255
			}
			for _, p := range params {
				name := fmt.Sprintf("n=%d div=%v sub=%v mul=%v", n, p.div, p.sub, p.mul)
				want := make([]float32, n)
				scaleBytesRef(want, src, p.div, p.sub, p.mul)
				got, check := guarded(t, make([]float32, n))
				ScaleBytes(got, src, p.div, p.sub, p.mul)
				check(name)
				requireSame(t, name, got, want, 0)
			}
		}
	})
}

func TestSquaredErrorLossMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(8, 8))
		for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 255, 257, 65536} {
			pred, target := randomSlice(rng, n, 1), randomSlice(rng, n, 1)
			wantGrad := make([]float32, n)
			want := squaredErrorLossRef(wantGrad, pred, target, 0.3)
			got, check := guarded(t, make([]float32, n))
			loss := SquaredErrorLoss(got, pred, target, 0.3)
			check("grad")
			requireSame(t, "grad", got, wantGrad, 0)
			// The sum is taken in a different order, in float64.
			if math.Abs(loss-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("n=%d: loss %v, reference %v", n, loss, want)
			}
			if l := SquaredErrorLoss(nil, pred, target, 0.3); l != loss {
				t.Fatalf("n=%d: loss without gradient %v, with %v", n, l, loss)
			}
		}
	})
}

func TestBatchNormMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		bn := BatchNorm{Eps: 1e-5, Momentum: 0.1}
		for _, s := range elementwiseShapes {
			name := fmt.Sprintf("%dx%d", s.rows, s.cols)
			n := s.rows * s.cols
			z := randomSlice(rng, n, 2)
			for i := range z { // columns with an offset, as after a GEMM
				z[i] += float32(i%s.cols) * 0.25
			}
			gamma, beta := randomSlice(rng, s.cols, 1), randomSlice(rng, s.cols, 1)
			runMean, runVar := randomSlice(rng, s.cols, 1), randomSlice(rng, s.cols, 1)

			wantY := append([]float32(nil), z...)
			wantX, wantMean, wantInv := make([]float32, n), make([]float32, s.cols), make([]float32, s.cols)
			wantRM, wantRV := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
			bn.forwardTrainRef(wantY, wantX, wantMean, wantInv, gamma, beta, wantRM, wantRV, s.rows, s.cols)

			gotY, checkY := guarded(t, z)
			gotX, checkX := guarded(t, make([]float32, n))
			gotMean, checkM := guarded(t, randomSlice(rng, s.cols, 1))
			gotInv, checkI := guarded(t, randomSlice(rng, s.cols, 1))
			gotRM, gotRV := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
			bn.ForwardTrain(gotY, gotX, gotMean, gotInv, gamma, beta, gotRM, gotRV, s.rows, s.cols)
			checkY(name + " y")
			checkX(name + " xhat")
			checkM(name + " mean")
			checkI(name + " invStd")
			requireSame(t, name+" y", gotY, wantY, bnTol)
			requireSame(t, name+" xhat", gotX, wantX, bnTol)
			requireSame(t, name+" mean", gotMean, wantMean, bnTol)
			requireSame(t, name+" invStd", gotInv, wantInv, bnTol)
			requireSame(t, name+" running mean", gotRM, wantRM, bnTol)
			requireSame(t, name+" running var", gotRV, wantRV, bnTol)

			dy := randomSlice(rng, n, 1)
			wantDz := append([]float32(nil), dy...)
			wantGG, wantBG := make([]float32, s.cols), make([]float32, s.cols)
			bn.backwardRef(wantDz, wantX, wantInv, gamma, wantGG, wantBG, s.rows, s.cols)
			gotDz, checkD := guarded(t, dy)
			gotGG, gotBG := randomSlice(rng, s.cols, 1), randomSlice(rng, s.cols, 1)
			bn.Backward(gotDz, wantX, wantInv, gamma, gotGG, gotBG, s.rows, s.cols)
			checkD(name + " dz")
			requireSame(t, name+" dz", gotDz, wantDz, bnTol)
			requireSame(t, name+" γ grad", gotGG, wantGG, bnTol)
			requireSame(t, name+" β grad", gotBG, wantBG, bnTol)
		}
	})
}

// elementwiseBench is the shape of the elementwise benchmarks: a hidden
// layer of 256 units on a batch of 256.
const elementwiseRows, elementwiseCols = 256, 256

// benchPaths runs f as sub-benchmarks: the reference loop (ref), the Go
// loops alone (go) and, where there is one, the assembly (asm). bytes is the
// memory each call reads and writes, for the GB/s figure.
func benchPaths(b *testing.B, bytes int64, ref, f func()) {
	saved := hasAVX
	defer func() { hasAVX = saved }()
	run := func(name string, vector bool, fn func()) {
		hasAVX = vector
		b.Run(name, func(b *testing.B) {
			b.SetBytes(bytes)
			for i := 0; i < b.N; i++ {
				fn()
			}
		})
	}
	run("ref", false, ref)
	run("go", false, f)
	if saved {
		run("asm", true, f)
	}
}

func BenchmarkElementwise(b *testing.B) {
	const rows, cols, n = elementwiseRows, elementwiseCols, elementwiseRows * elementwiseCols
	rng := rand.New(rand.NewPCG(10, 10))
	z, g, h := randomSlice(rng, n, 1), randomSlice(rng, n, 1), randomSlice(rng, n, 1)
	work, xhat, dz := make([]float32, n), make([]float32, n), make([]float32, n)
	bias, sums := randomSlice(rng, cols, 1), make([]float32, cols)
	gamma, beta := randomSlice(rng, cols, 1), randomSlice(rng, cols, 1)
	mean, invStd, runMean, runVar := make([]float32, cols), make([]float32, cols), make([]float32, cols), make([]float32, cols)
	gg, bg := make([]float32, cols), make([]float32, cols)
	bn := BatchNorm{Eps: 1e-5, Momentum: 0.1}
	const mat = 4 * n // bytes of one matrix

	// Each call starts from the same data: copying it back in is part of
	// every side's time (a memmove, about a tenth of the ReLU's).
	b.Run("BiasActivate/relu", func(b *testing.B) {
		benchPaths(b, 2*mat,
			func() { copy(work, z); biasActivateRef(work, rows, cols, nil, ReLU) },
			func() { copy(work, z); BiasActivate(work, rows, cols, nil, ReLU) })
	})
	b.Run("BiasActivate/relu+bias", func(b *testing.B) {
		benchPaths(b, 2*mat,
			func() { copy(work, z); biasActivateRef(work, rows, cols, bias, ReLU) },
			func() { copy(work, z); BiasActivate(work, rows, cols, bias, ReLU) })
	})
	b.Run("ActivationBackward/relu", func(b *testing.B) {
		benchPaths(b, 3*mat,
			func() { activationBackwardRef(dz, g, h, rows, cols, ReLU, nil) },
			func() { ActivationBackward(dz, g, h, rows, cols, ReLU, nil) })
	})
	b.Run("ActivationBackward/relu+biasgrad", func(b *testing.B) {
		benchPaths(b, 3*mat,
			func() { activationBackwardRef(dz, g, h, rows, cols, ReLU, sums) },
			func() { ActivationBackward(dz, g, h, rows, cols, ReLU, sums) })
	})
	b.Run("ColumnSums", func(b *testing.B) {
		benchPaths(b, mat,
			func() { columnSumsRef(sums, g, rows, cols) },
			func() { ColumnSums(sums, g, rows, cols) })
	})
	b.Run("Scale", func(b *testing.B) {
		benchPaths(b, 2*mat,
			func() { scaleRef(work, 1) },
			func() { Scale(work, 1) })
	})
	b.Run("FirstNonFinite", func(b *testing.B) {
		benchPaths(b, mat,
			func() { firstNonFiniteRef(g) },
			func() { FirstNonFinite(g) })
	})
	b.Run("ScaleBytes", func(b *testing.B) {
		pixels := make([]byte, n)
		for i := range pixels {
			pixels[i] = byte(rng.IntN(256))
		}
		benchPaths(b, 5*n,
			func() { scaleBytesRef(work, pixels, 255, 0.13, 3.2) },
			func() { ScaleBytes(work, pixels, 255, 0.13, 3.2) })
	})
	b.Run("SquaredErrorLoss", func(b *testing.B) {
		benchPaths(b, 3*mat,
			func() { squaredErrorLossRef(dz, g, h, 0.5) },
			func() { SquaredErrorLoss(dz, g, h, 0.5) })
	})
	// ForwardTrain reads z three times and writes it and x̂.
	b.Run("BatchNorm.ForwardTrain", func(b *testing.B) {
		benchPaths(b, 5*mat,
			func() {
				copy(work, z)
				bn.forwardTrainRef(work, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols)
			},
			func() {
				copy(work, z)
				bn.ForwardTrain(work, xhat, mean, invStd, gamma, beta, runMean, runVar, rows, cols)
			})
	})
	// Backward reads dy and x̂ twice and writes dy.
	b.Run("BatchNorm.Backward", func(b *testing.B) {
		benchPaths(b, 5*mat,
			func() { copy(work, g); bn.backwardRef(work, xhat, invStd, gamma, gg, bg, rows, cols) },
			func() { copy(work, g); bn.Backward(work, xhat, invStd, gamma, gg, bg, rows, cols) })
	})
}

// Prefetch reads nothing back and changes nothing; it must not fault on any
// slice: empty, one byte, a line's worth at every alignment, a sample's.
func TestPrefetch(t *testing.T) {
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, n := range []int{0, 1, 63, 64, 65, 127, 784} {
		for off := 0; off < 64 && off+n <= len(buf); off += 7 {
			Prefetch(buf[off : off+n])
		}
	}
	Prefetch(nil)
	for i, v := range buf {
		if v != byte(i) {
			t.Fatalf("byte %d changed to %d", i, v)
		}
	}
}
