package kernels

import (
	"math"
	"testing"
)

// adamReference is Algorithm 1 of the Adam paper written out literally in
// float64, with explicit bias-corrected moments.
func adamReference(w, g, m, v []float64, lr, b1, b2, eps float64, t int) {
	for i := range w {
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		mh := m[i] / (1 - math.Pow(b1, float64(t)))
		vh := v[i] / (1 - math.Pow(b2, float64(t)))
		w[i] -= lr * mh / (math.Sqrt(vh) + eps)
	}
}

// Both float32 updates, the generic loop and the vector one, against the
// float64 reference, on sizes around the vector width and gradients from
// 1e-4 to 1.
func TestAdamMatchesReference(t *testing.T) {
	for _, impl := range []struct {
		name string
		step func(w, g, m, v []float32, t int)
	}{
		{"AdamStep", func(w, g, m, v []float32, t int) { AdamStep(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, t) }},
		{"AdamStep32", func(w, g, m, v []float32, t int) { AdamStep32(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, t) }},
	} {
		for _, n := range []int{1, 7, 8, 9, 64, 257, 1000} {
			w32, g32 := make([]float32, n), make([]float32, n)
			m32, v32 := make([]float32, n), make([]float32, n)
			w64, g64 := make([]float64, n), make([]float64, n)
			m64, v64 := make([]float64, n), make([]float64, n)
			for i := range w32 {
				w32[i] = float32(math.Sin(float64(i)))
				w64[i] = float64(w32[i])
			}
			for step := 1; step <= 5; step++ {
				for i := range g32 {
					g32[i] = float32(math.Cos(float64(i*step)) * math.Pow(10, float64(i%5-4)))
					g64[i] = float64(g32[i])
				}
				impl.step(w32, g32, m32, v32, step)
				adamReference(w64, g64, m64, v64, 1e-3, 0.9, 0.999, 1e-8, step)
			}
			for i := range w32 {
				if d := math.Abs(float64(w32[i]) - w64[i]); d > 1e-6 {
					t.Fatalf("%s, n=%d: w[%d] = %v, reference %v (diff %g)", impl.name, n, i, w32[i], w64[i], d)
				}
			}
		}
	}
}

func TestAdamFirstStepIsSignTimesLR(t *testing.T) {
	w := []float64{0, 0, 0}
	g := []float64{3, -0.5, 0}
	m, v := make([]float64, 3), make([]float64, 3)
	AdamStep(w, g, m, v, 0.01, 0.9, 0.999, 1e-12, 1)
	want := []float64{-0.01, 0.01, 0}
	for i := range w {
		if math.Abs(w[i]-want[i]) > 1e-9 {
			t.Errorf("w[%d] = %v, want %v", i, w[i], want[i])
		}
	}
}

func TestMomentumStep(t *testing.T) {
	w := []float32{1, 2}
	vel := []float32{0, 0}
	MomentumStep(w, []float32{1, -1}, vel, 0.1, 0.9)
	MomentumStep(w, []float32{1, -1}, vel, 0.1, 0.9)
	// vel after two steps: 1.9 and -1.9; w: 1 - 0.1 - 0.19, 2 + 0.1 + 0.19.
	want := []float32{0.71, 2.29}
	for i := range w {
		if math.Abs(float64(w[i]-want[i])) > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, w[i], want[i])
		}
	}
}

// BenchmarkAdam compares the float32 vector update with the generic
// reference loop on a layer of 784×256 weights.
func BenchmarkAdam(b *testing.B) {
	const n = 784 * 256
	w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(math.Sin(float64(i))) * 1e-2
	}
	for _, bc := range []struct {
		name string
		step func(t int)
	}{
		{"reference", func(t int) { AdamStep(w, g, m, v, 1e-4, 0.9, 0.999, 1e-8, t) }},
		{"AdamStep32", func(t int) { AdamStep32(w, g, m, v, 1e-4, 0.9, 0.999, 1e-8, t) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(4 * 4 * n)
			for i := 0; i < b.N; i++ {
				bc.step(i + 1)
			}
		})
	}
}
