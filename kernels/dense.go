package kernels

import "math"

// Activation selects the elementwise nonlinearity of the dense kernels. Its
// values match graph.Activation.
type Activation int

// The activations.
const (
	Identity Activation = iota
	ReLU
	Tanh
	Sigmoid
)

// BiasActivate applies h = act(z + bias) row by row, in place: z is rows×cols
// row-major, bias has cols elements (nil: no bias). It is the epilogue of the
// dense forward pass, one pass over the GEMM's output.
func BiasActivate(z []float32, rows, cols int, bias []float32, act Activation) {
	for r := 0; r < rows; r++ {
		row := z[r*cols : (r+1)*cols]
		if bias != nil {
			for j := range row {
				row[j] += bias[j]
			}
		}
		activate(row, act)
	}
}

// activate applies act to every element of v.
func activate(v []float32, act Activation) {
	switch act {
	case ReLU:
		for j, x := range v {
			if x < 0 {
				v[j] = 0
			}
		}
	case Tanh:
		for j, x := range v {
			v[j] = float32(math.Tanh(float64(x)))
		}
	case Sigmoid:
		for j, x := range v {
			v[j] = float32(1 / (1 + math.Exp(-float64(x))))
		}
	}
}

// ActivationBackward computes dz = g ⊙ act′ from the activation's output h
// (relu: h > 0; tanh: 1 − h²; sigmoid: h(1 − h)) for rows×cols matrices, and,
// when biasGrad is not nil, sets biasGrad to the column sums of dz in the
// same pass. dz may alias g.
func ActivationBackward(dz, g, h []float32, rows, cols int, act Activation, biasGrad []float32) {
	if biasGrad != nil {
		clear(biasGrad[:cols])
	}
	for r := 0; r < rows; r++ {
		o := r * cols
		gr, hr, dr := g[o:o+cols], h[o:o+cols], dz[o:o+cols]
		switch act {
		case Identity:
			copy(dr, gr)
		case ReLU:
			for j, y := range hr {
				if y > 0 {
					dr[j] = gr[j]
				} else {
					dr[j] = 0
				}
			}
		case Tanh:
			for j, y := range hr {
				dr[j] = gr[j] * (1 - y*y)
			}
		case Sigmoid:
			for j, y := range hr {
				dr[j] = gr[j] * y * (1 - y)
			}
		}
		if biasGrad != nil {
			for j, d := range dr {
				biasGrad[j] += d
			}
		}
	}
}

// ColumnSums sets sums[j] to the sum of column j of the rows×cols matrix m.
func ColumnSums(sums, m []float32, rows, cols int) {
	clear(sums[:cols])
	for r := 0; r < rows; r++ {
		for j, v := range m[r*cols : (r+1)*cols] {
			sums[j] += v
		}
	}
}

// Scale multiplies every element of v by s.
func Scale(v []float32, s float32) {
	for i := range v {
		v[i] *= s
	}
}
