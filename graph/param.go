// Package graph builds the per-layer Gorgonia subgraphs of a decoupled
// network. Every layer owns its own ExprGraph and tape machines: forward maps
// h_{i-1} to h_i, and backward takes an upstream gradient g_i (true or
// synthetic) to the layer's parameter gradients and δ_{i-1} = g_i·∂h_i/∂h_{i-1}.
// Nothing mutable is shared between layers, so each can later run on its own
// worker.
package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/optim"
)

// Param is one named tensor of a model: a trainable weight with the gradient
// of the last backward pass, or a statistic (batch norm's running mean and
// variance) that training updates without a gradient.
type Param struct {
	Name      string
	Value     *tensor.Dense
	Grad      *tensor.Dense // nil for statistics
	Trainable bool
}

func newParam(name string, dt tensor.Dtype, trainable bool, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(tensor.WithShape(shape...), tensor.Of(dt)), Trainable: trainable}
	if trainable {
		p.Grad = tensor.New(tensor.WithShape(shape...), tensor.Of(dt))
	}
	return p
}

// Size returns the number of elements of p.
func (p *Param) Size() int { return p.Value.Shape().TotalSize() }

// fill sets every element of t from f.
func fill(t *tensor.Dense, f func() float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(f())
		}
	case []float64:
		for i := range d {
			d[i] = f()
		}
	}
}

// CopyValue copies src's elements into dst; both must have the same type and
// size.
func CopyValue(dst *tensor.Dense, src G.Value) error {
	switch d := dst.Data().(type) {
	case []float32:
		s, ok := src.Data().([]float32)
		if !ok || len(s) != len(d) {
			return fmt.Errorf("copy %v %v into float32[%d]", src.Dtype(), src.Shape(), len(d))
		}
		copy(d, s)
	case []float64:
		s, ok := src.Data().([]float64)
		if !ok || len(s) != len(d) {
			return fmt.Errorf("copy %v %v into float64[%d]", src.Dtype(), src.Shape(), len(d))
		}
		copy(d, s)
	default:
		return fmt.Errorf("unsupported type %v", dst.Dtype())
	}
	return nil
}

// Scalar returns the value of a 0-d Gorgonia value as a float64.
func Scalar(v G.Value) float64 {
	switch d := v.Data().(type) {
	case float32:
		return float64(d)
	case float64:
		return d
	case []float32:
		return float64(d[0])
	case []float64:
		return d[0]
	}
	return math.NaN()
}

// Learner pairs a set of trainable parameters with the optimizer that owns
// their state.
type Learner struct {
	params []*Param
	values []*tensor.Dense
	grads  []*tensor.Dense
	opt    *optim.Optimizer
}

// NewLearner returns a learner updating params with a fresh optimizer; the
// error is optim.New's.
func NewLearner(params []*Param, cfg optim.Config) (*Learner, error) {
	l := &Learner{params: params}
	for _, p := range params {
		l.values = append(l.values, p.Value)
		l.grads = append(l.grads, p.Grad)
	}
	var err error
	if l.opt, err = optim.New(cfg, l.values); err != nil {
		return nil, err
	}
	return l, nil
}

// Update applies one optimizer step from the gradients of the last backward
// pass.
func (l *Learner) Update() error { return l.opt.Step(l.values, l.grads) }

// Optimizer returns the learner's optimizer, whose state checkpoints save.
func (l *Learner) Optimizer() *optim.Optimizer { return l.opt }

// initUniform fills t from U(-limit, limit).
func initUniform(t *tensor.Dense, rng *rand.Rand, limit float64) {
	fill(t, func() float64 { return (2*rng.Float64() - 1) * limit })
}
