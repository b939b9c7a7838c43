package tensortest

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

func values(t *tensor.Dense) []float64 {
	if t.Dtype() == tensor.Float64 {
		return t.Float64s()
	}
	var out []float64
	for _, v := range t.Float32s() {
		out = append(out, float64(v))
	}
	return out
}

func TestOneHot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		y := values(OneHot(rng, dt, 50, 3))
		counts := make([]int, 3)
		for r := 0; r < 50; r++ {
			row := y[r*3 : r*3+3]
			if row[0]+row[1]+row[2] != 1 {
				t.Fatalf("%v: row %d is %v", dt, r, row)
			}
			for c, v := range row {
				if v == 1 {
					counts[c]++
				}
			}
		}
		if counts[0] == 0 || counts[1] == 0 || counts[2] == 0 {
			t.Errorf("%v: classes drawn %v", dt, counts)
		}
	}
}
