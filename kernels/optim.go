// Package kernels holds the numeric inner loops of training: plain, obviously
// correct loops over slices that the rest of the engine calls by name.
package kernels

import "math"

// Float is the element type the kernels accept.
type Float interface{ ~float32 | ~float64 }

// AdamStep applies one Adam update (Kingma & Ba, Algorithm 1) to the weights w
// given their gradient g, updating the first and second moment estimates m and
// v in place. t is the 1-based step count used for bias correction.
func AdamStep[T Float](w, g, m, v []T, lr, beta1, beta2, eps float64, t int) {
	c1 := 1 - math.Pow(beta1, float64(t))
	c2 := 1 - math.Pow(beta2, float64(t))
	// Fold the bias corrections into the step size and epsilon:
	// lr·m̂/(√v̂+ε) = (lr/c1)·m/(√v/√c2+ε).
	stepSize := lr / c1
	sqrtC2 := math.Sqrt(c2)
	b1, b2 := T(beta1), T(beta2)
	for i := range w {
		gi := g[i]
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		denom := math.Sqrt(float64(v[i]))/sqrtC2 + eps
		w[i] -= T(stepSize * float64(m[i]) / denom)
	}
}

// MomentumStep applies one step of SGD with heavy-ball momentum:
// vel ← μ·vel + g; w ← w − lr·vel.
func MomentumStep[T Float](w, g, vel []T, lr, mu float64) {
	l, u := T(lr), T(mu)
	for i := range w {
		vel[i] = u*vel[i] + g[i]
		w[i] -= l * vel[i]
	}
}
