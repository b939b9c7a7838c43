// Package tensortest makes the random tensors the project's tests feed to
// layers and synthesizers.
package tensortest

import (
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// Normal returns a rows×cols matrix of element type dt (Float32 or
// Float64) with standard normal entries.
func Normal(rng *rand.Rand, dt tensor.Dtype, rows, cols int) *tensor.Dense {
	t := tensor.New(tensor.WithShape(rows, cols), tensor.Of(dt))
	set(t, func(int) float64 { return rng.NormFloat64() })
	return t
}

// OneHot returns a rows×classes matrix of element type dt whose rows are
// one-hot encodings of random classes.
func OneHot(rng *rand.Rand, dt tensor.Dtype, rows, classes int) *tensor.Dense {
	t := tensor.New(tensor.WithShape(rows, classes), tensor.Of(dt))
	hot := -1
	set(t, func(i int) float64 {
		if i%classes == 0 {
			hot = i + rng.IntN(classes)
		}
		if i == hot {
			return 1
		}
		return 0
	})
	return t
}

func set(t *tensor.Dense, f func(i int) float64) {
	switch t.Dtype() {
	case tensor.Float32:
		for i := range t.Float32s() {
			t.Float32s()[i] = float32(f(i))
		}
	default:
		for i := range t.Float64s() {
			t.Float64s()[i] = f(i)
		}
	}
}
