package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Builder assembles one Gorgonia graph for a fixed batch size: inputs, the
// dense transforms of a layer or synthesizer, and (for training) the
// symbolic backward pass. Compile turns it into a Program.
type Builder struct {
	g      *G.ExprGraph
	dt     tensor.Dtype
	batch  int
	train  bool
	params []*Param
	nodes  []*G.Node
	stats  []batchStats
}

// NewBuilder starts a graph of element type dt for batches of the given size.
// In training mode batch norm uses batch statistics; otherwise the running
// ones.
func NewBuilder(dt tensor.Dtype, batch int, train bool) *Builder {
	return &Builder{g: G.NewGraph(), dt: dt, batch: batch, train: train}
}

// Input adds a batch×cols input matrix.
func (b *Builder) Input(name string, cols int) *G.Node {
	return G.NewMatrix(b.g, b.dt, G.WithShape(b.batch, cols), G.WithName(name))
}

// param returns the node bound to p's value tensor, creating it once.
func (b *Builder) param(p *Param) *G.Node {
	for i, q := range b.params {
		if q == p {
			return b.nodes[i]
		}
	}
	shape := p.Value.Shape()
	n := G.NewTensor(b.g, b.dt, shape.Dims(), G.WithShape(shape.Clone()...), G.WithName(p.Name), G.WithValue(p.Value))
	b.params = append(b.params, p)
	b.nodes = append(b.nodes, n)
	return n
}

// Dense adds act(BN(x·W + b)) for the parameters a.
func (b *Builder) Dense(a *Affine, x *G.Node) (*G.Node, error) {
	z, err := G.Mul(x, b.param(a.W))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.W.Name, err)
	}
	if a.BatchNorm {
		if z, err = b.batchNorm(a, z); err != nil {
			return nil, fmt.Errorf("%s: batch norm: %w", a.W.Name, err)
		}
	} else if z, err = G.BroadcastAdd(z, b.param(a.B), nil, []byte{0}); err != nil {
		return nil, fmt.Errorf("%s: %w", a.B.Name, err)
	}
	return a.Act.apply(z)
}

// batchNorm adds γ·(z−μ)/√(σ²+ε)+β, from the batch's statistics in
// training and from the running ones otherwise.
func (b *Builder) batchNorm(a *Affine, z *G.Node) (*G.Node, error) {
	mean, vr := b.param(a.RunMean), b.param(a.RunVar)
	if b.train {
		var err error
		if mean, err = G.Mean(z, 0); err != nil {
			return nil, err
		}
		centred, err := G.BroadcastSub(z, mean, nil, []byte{0})
		if err != nil {
			return nil, err
		}
		sq, err := G.Square(centred)
		if err != nil {
			return nil, err
		}
		if vr, err = G.Mean(sq, 0); err != nil {
			return nil, err
		}
		b.stats = append(b.stats, batchStats{a: a, mean: mean, vr: vr, batchSize: b.batch})
	}
	centred, err := G.BroadcastSub(z, mean, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	eps := Constant(b.dt, BatchNormEps)
	vEps, err := G.Add(vr, eps)
	if err != nil {
		return nil, err
	}
	std, err := G.Sqrt(vEps)
	if err != nil {
		return nil, err
	}
	norm, err := G.BroadcastHadamardDiv(centred, std, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	scaled, err := G.BroadcastHadamardProd(norm, b.param(a.Gamma), nil, []byte{0})
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(scaled, b.param(a.Beta), nil, []byte{0})
}

// Constant returns a scalar constant node of element type dt.
func Constant(dt tensor.Dtype, v float64) *G.Node {
	if dt == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// Program is a compiled graph: a forward machine that computes only what the
// forward pass needs, and (for training) a full machine that also runs the
// backward pass.
type Program struct {
	g         *G.ExprGraph
	fwd, full G.VM
	params    []*Param
	paramGrad []*G.Node // gradient node of params[k] (nil for statistics)
	stats     []batchStats
}

// Compile finishes the graph. inputs and outputs delimit the forward pass.
// With a backward pass, loss is either a scalar cost (upstream nil) or a
// non-scalar output whose gradient is fed through the input node upstream;
// wrt lists extra nodes (such as the layer input) whose gradients the caller
// wants, returned in order.
func (b *Builder) Compile(inputs, outputs G.Nodes, loss, upstream *G.Node, wrt G.Nodes) (*Program, G.Nodes, error) {
	p := &Program{g: b.g, params: b.params, stats: b.stats}
	var extra G.Nodes
	if loss != nil {
		targets := append(G.Nodes{}, wrt...)
		var trainable []int
		for k, q := range b.params {
			if q.Trainable {
				targets = append(targets, b.nodes[k])
				trainable = append(trainable, k)
			}
		}
		var grads G.Nodes
		var err error
		if upstream == nil {
			grads, err = G.Grad(loss, targets...)
		} else {
			grads, err = G.Backpropagate(G.Nodes{loss}, G.Nodes{upstream}, targets)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("backward: %w", err)
		}
		extra = grads[:len(wrt)]
		p.paramGrad = make([]*G.Node, len(b.params))
		for i, k := range trainable {
			p.paramGrad[k] = grads[len(wrt)+i]
		}
		p.full = G.NewTapeMachine(b.g)
	}
	prog, locs, err := G.CompileFunction(b.g, inputs, outputs)
	if err != nil {
		return nil, nil, fmt.Errorf("compile forward: %w", err)
	}
	p.fwd = G.NewTapeMachine(b.g, G.WithPrecompiled(prog, locs))
	return p, extra, nil
}

// Bind sets the value of an input node for the next run.
func Bind(n *G.Node, v *tensor.Dense) error {
	if v == nil {
		return fmt.Errorf("input %s: no tensor", n.Name())
	}
	if !v.Shape().Eq(n.Shape()) {
		return fmt.Errorf("input %s: got shape %v, want %v", n.Name(), v.Shape(), n.Shape())
	}
	if v.Dtype() != n.Dtype() {
		return fmt.Errorf("input %s: got %v, want %v", n.Name(), v.Dtype(), n.Dtype())
	}
	return G.Let(n, v)
}

// BatchRows returns the number of rows of x, a batch of samples, or an
// error when x is nil or not a matrix; what names x in the error.
func BatchRows(x *tensor.Dense, what string) (int, error) {
	if x == nil {
		return 0, fmt.Errorf("%s: no tensor", what)
	}
	if s := x.Shape(); len(s) == 2 {
		return s[0], nil
	}
	return 0, fmt.Errorf("%s: got shape %v, want a matrix, a row a sample", what, x.Shape())
}

// CheckBatch checks that x, the input called what of the module named
// name, is a float32 matrix of at least one row and the given number of
// columns, whose rows lie one after the other in its data (not a transposed
// or sliced view: Materialize one first), as the modules that read its
// data directly need, and returns its number of rows. (The two names are
// joined only on error: the check runs every step and must not allocate.)
func CheckBatch(name, what string, x *tensor.Dense, cols int) (int, error) {
	if x == nil {
		return 0, fmt.Errorf("%s: %s: no tensor", name, what)
	}
	if x.RequiresIterator() {
		return 0, fmt.Errorf("%s: %s: a view whose elements are not in row order (transposed or sliced): Materialize it first", name, what)
	}
	s := x.Shape()
	if len(s) != 2 || s[1] != cols || s[0] < 1 {
		return 0, fmt.Errorf("%s: %s: got shape %v, want rows×%d", name, what, s, cols)
	}
	if x.Dtype() != tensor.Float32 {
		return 0, fmt.Errorf("%s: %s: got %v, want float32", name, what, x.Dtype())
	}
	return s[0], nil
}

// CheckBatchOf is CheckBatch for a tensor that goes with a batch of rows
// samples: labels, or a gradient.
func CheckBatchOf(name, what string, x *tensor.Dense, rows, cols int) error {
	r, err := CheckBatch(name, what, x, cols)
	if err == nil && r != rows {
		err = fmt.Errorf("%s: %s of %d rows for a batch of %d", name, what, r, rows)
	}
	return err
}

// Forward runs the forward pass and, in training, folds the batch statistics
// into the running ones.
func (p *Program) Forward() error {
	p.fwd.Reset()
	if err := p.fwd.RunAll(); err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	for _, s := range p.stats {
		s.fold()
	}
	return nil
}

// Backward runs forward and backward together and copies each trainable
// parameter's gradient into its Grad tensor. Batch statistics are not folded
// again.
func (p *Program) Backward() error {
	if p.full == nil {
		return fmt.Errorf("backward on a forward-only program")
	}
	p.full.Reset()
	if err := p.full.RunAll(); err != nil {
		return fmt.Errorf("backward: %w", err)
	}
	for k, q := range p.params {
		if gn := p.paramGrad[k]; gn != nil {
			if err := CopyValue(q.Grad, gn.Value()); err != nil {
				return fmt.Errorf("gradient of %s: %w", q.Name, err)
			}
		}
	}
	return nil
}

// programKey identifies a cached program: one per batch size and mode.
type programKey struct {
	batch int
	train bool
}
