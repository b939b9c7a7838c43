package kernels

import (
	"strings"
	"testing"
)

// A slice shorter than the sizes given says is a programming error: the
// kernels panic rather than read or write past its end, even where its
// array goes on (a short slice of a longer buffer).
func TestKernelsRefuseShortSlices(t *testing.T) {
	const rows, cols = 3, 8
	full := func(n int) []float32 { return make([]float32, n) }
	short := func(n int) []float32 { return make([]float32, n+16)[:n-1] } // capacity to spare
	m, v := full(rows*cols), full(cols)
	var bn BatchNorm
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"BiasActivate z", func() { BiasActivate(short(rows*cols), rows, cols, v, ReLU) }},
		{"BiasActivate bias, tanh", func() { BiasActivate(full(rows*cols), rows, cols, short(cols), Tanh) }},
		{"ActivationBackward g", func() { ActivationBackward(m, short(rows*cols), m, rows, cols, ReLU, nil) }},
		{"ActivationBackward biasGrad", func() { ActivationBackward(m, m, m, rows, cols, ReLU, short(cols)) }},
		{"ColumnSums", func() { ColumnSums(short(cols), m, rows, cols) }},
		{"Add", func() { Add(full(10), short(10)) }},
		{"ScaleBytes", func() { ScaleBytes(short(10), make([]byte, 10), 255, 0, 1) }},
		{"Statistics", func() { bn.Statistics(v, v, short(cols), v, rows, cols) }},
		{"SquaredDeviations", func() { SquaredDeviations(v, short(rows*cols), v, rows, cols) }},
		{"NormalizeAffine", func() { NormalizeAffine(m, m, v, v, short(cols), v, rows, cols) }},
		{"ForwardEval", func() { bn.ForwardEval(m, v, v, v, short(cols), rows, cols) }},
		{"BatchNormGradSums", func() { BatchNormGradSums(v, v, m, short(rows*cols), rows, cols) }},
		{"BatchNormInputGrad", func() { BatchNormInputGrad(short(rows*cols), m, v, v, v, v, rows, rows, cols) }},
		{"SoftmaxCrossEntropy", func() { SoftmaxCrossEntropy(nil, m, short(rows*cols), rows, cols) }},
		{"SquaredErrorLoss", func() { SquaredErrorLoss(nil, full(10), short(10), 1) }},
		{"AdamStep32", func() { AdamStep32(full(10), full(10), full(10), short(10), 1e-3, 0.9, 0.999, 1e-8, 1) }},
		{"AdamStep", func() { AdamStep(full(10), short(10), full(10), full(10), 1e-3, 0.9, 0.999, 1e-8, 1) }},
		{"MomentumStep", func() { MomentumStep(full(10), full(10), short(10), 1e-3, 0.9) }},
	} {
		func() {
			defer func() {
				if r, _ := recover().(string); !strings.Contains(r, "shorter than the sizes given") {
					t.Errorf("%s: recovered %q, want a panic about a short slice", tc.name, r)
				}
			}()
			tc.call()
		}()
	}
}
