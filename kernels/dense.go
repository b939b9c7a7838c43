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

// mustHold panics, naming the kernel fn, unless every slice in s holds at
// least n elements. The assembly loops do not check bounds, and a Go
// reslice s[:n] checks only the capacity: without it a slice too short for
// the sizes given would be read or written past its end, into whatever
// shares its array.
func mustHold[T any](fn string, n int, s ...[]T) {
	for _, x := range s {
		if len(x) < n {
			panic("kernels: " + fn + ": a slice is shorter than the sizes given")
		}
	}
}

// BiasActivate applies h = act(z + bias) row by row, in place: z is rows×cols
// row-major, bias has cols elements (nil: no bias). It is the epilogue of the
// dense forward pass, one pass over the GEMM's output. Identity and ReLU run
// eight columns at a time where the CPU has AVX; the results are those of the
// plain loop (ReLU may give +0 where it gives −0).
func BiasActivate(z []float32, rows, cols int, bias []float32, act Activation) {
	mustHold("BiasActivate", rows*cols, z)
	if bias != nil {
		mustHold("BiasActivate", cols, bias)
	}
	if (act == Identity || act == ReLU) && biasActivateVector(z, rows, cols, bias, act == ReLU) {
		return
	}
	biasActivateGo(z, rows, cols, bias, act)
}

// biasActivateGo is BiasActivate in Go: the bias is added in the same pass as
// the activation, and without a bias the whole matrix is one flat loop.
func biasActivateGo(z []float32, rows, cols int, bias []float32, act Activation) {
	if bias == nil {
		if rows > 0 {
			activate(z[:rows*cols], act)
		}
		return
	}
	bias = bias[:cols]
	for r := 0; r < rows; r++ {
		row := z[r*cols:][:cols]
		switch act {
		case ReLU:
			for j, x := range row {
				row[j] = max(x+bias[j], 0)
			}
		case Identity:
			for j, x := range row {
				row[j] = x + bias[j]
			}
		default:
			for j := range row {
				row[j] += bias[j]
			}
			activate(row, act)
		}
	}
}

// activate applies act to every element of v.
func activate(v []float32, act Activation) {
	switch act {
	case ReLU:
		// max compiles to a few branch-free instructions; the test x < 0 of
		// the plain loop mispredicts on about half of the elements.
		for j, x := range v {
			v[j] = max(x, 0)
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
// same pass. dz may alias g. Identity and ReLU run eight columns at a time
// where the CPU has AVX, with the results of the plain loop.
func ActivationBackward(dz, g, h []float32, rows, cols int, act Activation, biasGrad []float32) {
	mustHold("ActivationBackward", rows*cols, dz, g, h)
	if biasGrad != nil {
		mustHold("ActivationBackward", cols, biasGrad)
		clear(biasGrad[:cols])
	}
	if (act == Identity || act == ReLU) && activationBackwardVector(dz, g, h, rows, cols, act == ReLU, biasGrad) {
		return
	}
	activationBackwardGo(dz, g, h, rows, cols, act, biasGrad)
}

// activationBackwardGo is ActivationBackward in Go after biasGrad has been
// cleared: one row at a time, with the row slices cut to the same length so
// that the compiler drops the bounds checks, and the bias gradient summed in
// the same loop.
func activationBackwardGo(dz, g, h []float32, rows, cols int, act Activation, biasGrad []float32) {
	for r := 0; r < rows; r++ {
		o := r * cols
		hr := h[o : o+cols]
		gr, dr := g[o : o+cols][:len(hr)], dz[o : o+cols][:len(hr)]
		switch act {
		case Identity:
			copy(dr, gr)
		case ReLU:
			for j, y := range hr {
				dr[j] = math.Float32frombits(math.Float32bits(gr[j]) & positiveMask(y))
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
			bg := biasGrad[:len(dr)]
			for j, d := range dr {
				bg[j] += d
			}
		}
	}
}

// positiveMask returns all ones when y > 0 and zero otherwise (NaN
// included), without a branch: y > 0 exactly when its bits, less one, are
// below those of +Inf as an unsigned number.
func positiveMask(y float32) uint32 {
	u := int64(math.Float32bits(y) - 1)
	return uint32((u - 0x7f800000) >> 63)
}

// ColumnSums sets sums[j] to the sum of column j of the rows×cols matrix m.
func ColumnSums(sums, m []float32, rows, cols int) {
	mustHold("ColumnSums", cols, sums)
	mustHold("ColumnSums", rows*cols, m)
	clear(sums[:cols])
	addColumns(sums, m, rows, cols)
}

// addColumns adds column j of the rows×cols matrix m to sums[j], row after
// row, so that each sum is rounded as in the plain loop.
func addColumns(sums, m []float32, rows, cols int) {
	if addColumnsVector(sums, m, rows, cols) {
		return
	}
	sums = sums[:cols]
	for r := 0; r < rows; r++ {
		for j, v := range m[r*cols:][:len(sums)] {
			sums[j] += v
		}
	}
}

// Add adds src to dst, element by element; it panics if src is shorter.
// It sums the parts of a gradient computed in parts of a batch.
func Add(dst, src []float32) {
	mustHold("Add", len(dst), src)
	if len(dst) > 0 {
		addColumns(dst, src[:len(dst)], 1, len(dst))
	}
}

// Prefetch asks the CPU to bring the cache lines of b into its caches and
// returns at once, without waiting for them (PREFETCHT0 on amd64; nothing
// elsewhere, or with -tags noasm). A load that misses the caches holds up
// the instructions after it; a prefetch does not, so many lines can be on
// their way at once.
func Prefetch(b []byte) { prefetchLines(b) }

// FirstNonFinite returns the index of the first NaN or infinity in v, or -1
// when every element is finite. It checks every synthetic gradient, so the
// common case, all finite, is the fast one: the elements are first summed
// as v − v (0 for a finite v, NaN otherwise), and searched one by one only
// where that sum is not 0.
func FirstNonFinite(v []float32) int {
	start := finitePrefix(v)
	for i, x := range v[start:] {
		if x-x != 0 {
			return start + i
		}
	}
	return -1
}

// finitePrefix returns len(v)&^7 when the elements before it are all
// finite, and 0 otherwise.
func finitePrefix(v []float32) int {
	if n, ok := finitePrefixVector(v); ok {
		return n
	}
	// Eight independent sums, without a branch per element.
	var s [8]float32
	n := len(v) &^ 7
	for i := 0; i < n; i += 8 {
		b := v[i : i+8 : i+8]
		s[0] += b[0] - b[0]
		s[1] += b[1] - b[1]
		s[2] += b[2] - b[2]
		s[3] += b[3] - b[3]
		s[4] += b[4] - b[4]
		s[5] += b[5] - b[5]
		s[6] += b[6] - b[6]
		s[7] += b[7] - b[7]
	}
	if (s[0]+s[1])+(s[2]+s[3])+(s[4]+s[5])+(s[6]+s[7]) != 0 {
		return 0
	}
	return n
}

// Scale multiplies every element of v by s.
func Scale(v []float32, s float32) {
	tail := v[scaleVector(v, s):]
	for i := range tail {
		tail[i] *= s
	}
}

// ScaleBytes sets dst[i] = (float32(src[i])/div − sub)·mul for every byte of
// src, each operation rounded to float32 in that order: what a table of the
// 256 values computed the same way holds, bit for bit. It standardises a
// batch of pixel bytes. It panics if dst is shorter than src.
func ScaleBytes(dst []float32, src []byte, div, sub, mul float32) {
	mustHold("ScaleBytes", len(src), dst)
	dst = dst[:len(src)]
	tail := scaleBytesVector(dst, src, div, sub, mul)
	dst, src = dst[tail:], src[tail:]
	for i, p := range src {
		dst[i] = (float32(p)/div - sub) * mul
	}
}
