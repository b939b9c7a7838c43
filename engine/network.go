package engine

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// GradientModel is what a decoupled layer asks for its synthetic gradient:
// Predict gives ĝ_i for the layer's output h_i, Learn regresses onto the
// target δ_i once the layer above has pushed it back, Update applies what
// Learn computed. Each backend builds its own (fused.Synthesizer on the
// CPU, synth.Synthesizer on the reference backend, gpu.Synthesizer on a
// GPU); tests plug in exact oracles.
type GradientModel interface {
	Predict(h, labels *tensor.Dense) (*tensor.Dense, error)
	Learn(h, labels, target *tensor.Dense) (loss float64, err error)
	Update() error
}

// module is a part of the network with named parameters and its own
// optimizer: a layer or a synthesizer. Checkpoints save modules.
type module interface {
	Name() string
	Params() []*graph.Param
	Stats() []*graph.Param
	Optimizer() *optim.Optimizer
}

// Network is the layers of a model and, in decoupled modes, one gradient
// model per hidden layer. Nothing mutable is shared between layers. A
// Network is not safe for concurrent use: it trains, and is evaluated, by
// one Trainer at a time.
type Network struct {
	cfg   Config
	where string // the backend's description
	// checkpoint is the id of the Checkpoint whose Network built this one
	// (0: none), which Trainer.Resume checks.
	checkpoint uint64
	hidden     []Layer
	top        OutputLayer
	models     []GradientModel // models[i] predicts ∂L/∂h for hidden[i]
	// inputs[i] predicts the input of stage i+1 (hidden[i]'s output h_i)
	// from the network's input, when inputs are unlocked.
	inputs []Synthesizer
	lambda map[int]*lambdaBuffers
	// overlap says whether the synchronous loop with a finisher runs
	// overlappedStep; lower holds its jobs, by hidden layer below the last.
	overlap bool
	lower   []*lowerJob
	// late is what the synchronous decoupled step under way has left to
	// the device, to wait for at its end.
	late lateWork
	// cores bounds the goroutines that compute at once in a training run
	// (Config.places): the loop or workers, their finishers, and the
	// kernels' helpers.
	cores *kernels.Cores
	// fillParts, when not nil, fills the sync loop's batches on the loop's
	// goroutines (Trainer.fillInParts): the modules compute a batch in
	// parts of its rows (fused.Options.Parts). When nil, a loader goroutine
	// fills each batch while the step before it runs.
	fillParts *partFiller
	// host allocates the host tensors that the modules upload and that
	// live as long as the network: the trainer's batches. epochHost
	// allocates those of an async epoch's messages, and takes them back
	// for the next epoch.
	host, epochHost *hostArena
}

// Random-number streams: layers and synthesizers draw their initial weights
// from separate streams, so that a backprop network and a decoupled one built
// from the same seed start from the same layer weights.
const (
	layerStream = 1
	synthStream = 2
	inputStream = 3
)

// NewNetwork builds a network from a validated config.
func NewNetwork(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkMemory(cfg, availableMemory(), "memory available"); err != nil {
		return nil, err
	}
	cores := kernels.NewCores(cfg.places())
	backend, err := backendFor(cfg, cores)
	if err != nil {
		return nil, err
	}
	return newNetwork(cfg, backend, cores)
}

// newNetwork builds the modules of a validated config on backend; the
// goroutines that train them compute in the places of cores.
func newNetwork(cfg Config, backend Backend, cores *kernels.Cores) (_ *Network, err error) {
	act, _ := graph.ParseActivation(cfg.Activation)
	n := &Network{cfg: cfg.clone(), where: backend.String(), cores: cores} // the caller's slices may change
	mem, _ := backend.(hostMemory)
	n.host, n.epochHost = &hostArena{mem: mem}, &hostArena{mem: mem}
	if cpu, ok := backend.(cpuBackend); ok && cpu.opts.Parts(cfg.Batch) > 1 {
		n.fillParts = &partFiller{opts: cpu.opts, gemm: &kernels.Gemm{Threads: cpu.opts.Threads, Cores: cores}}
	}
	defer func() {
		if err != nil {
			n.Close() // what the modules built so far hold on a device
		}
	}()
	rng := rand.New(rand.NewPCG(cfg.Seed, layerStream))
	in := cfg.Inputs
	for i := 0; i < cfg.Layers-1; i++ {
		spec := graph.Spec{In: in, Out: cfg.Hidden, Act: act, BatchNorm: cfg.BatchNorm}
		d, err := backend.Layer(fmt.Sprintf("layer%d", i), spec, i > 0, rng, cfg.Optimizer)
		if err != nil {
			return nil, err
		}
		n.hidden = append(n.hidden, d)
		in = cfg.Hidden
	}
	top, err := backend.Output(fmt.Sprintf("layer%d", cfg.Layers-1), in, cfg.Classes, cfg.Layers > 1, rng, cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	n.top = top
	if !cfg.Mode.Decoupled() {
		return n, nil
	}
	rng = rand.New(rand.NewPCG(cfg.Seed, synthStream))
	for i := range n.hidden {
		sc := synth.Config{In: cfg.Hidden, Hidden: cfg.SGHidden, Width: cfg.SGWidth, BatchNorm: cfg.SGBatchNorm, Scale: cfg.SGScale}
		if cfg.Mode == CDNI {
			sc.Classes = cfg.Classes
		}
		s, err := backend.Synthesizer(fmt.Sprintf("synth%d", i), sc, rng, cfg.SGOptim)
		if err != nil {
			return nil, err
		}
		n.models = append(n.models, s)
	}
	n.overlap = n.overlaps()
	if !cfg.Unlock {
		return n, nil
	}
	rng = rand.New(rand.NewPCG(cfg.Seed, inputStream))
	for i := range n.hidden {
		ic := synth.Config{In: cfg.Inputs, Out: cfg.Hidden, Hidden: cfg.InputHidden, Width: cfg.InputWidth, BatchNorm: cfg.SGBatchNorm, Scale: 1, Input: true}
		m, err := backend.Synthesizer(fmt.Sprintf("input%d", i+1), ic, rng, cfg.SGOptim)
		if err != nil {
			return nil, err
		}
		n.inputs = append(n.inputs, m)
	}
	return n, nil
}

// deviceModule is a module whose state lives on a device (the GPU
// backend): its host tensors are a mirror, which SyncHost brings up to date
// before they are read and SyncDevice copies back after they are written.
type deviceModule interface {
	SyncHost() error
	SyncDevice() error
}

// Close releases what the network's modules hold outside Go's heap (device
// and pinned memory on a GPU); the network must not be used afterwards.
// Networks on the CPU hold nothing of the kind.
func (n *Network) Close() error {
	var first error
	for _, m := range n.modules() {
		if c, ok := m.(io.Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	// The modules have waited for their work, their uploads among it.
	for _, a := range []*hostArena{n.host, n.epochHost} {
		if err := a.release(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// hostArena allocates float32 tensors that the modules upload: in the
// backend's host memory when it has one (see hostMemory), else, or when
// that memory runs out, in Go's heap. reuse takes back what it handed out,
// to hand out again; release frees it all. Safe for concurrent use.
type hostArena struct {
	mem  hostMemory // nil: Go's heap
	mu   sync.Mutex
	free []func() error
	// lent holds the blocks of the backend's memory handed out since the
	// last reuse, spare those taken back, by length.
	lent  [][]float32
	spare map[int][][]float32
}

// matrix returns a rows×cols tensor, whose elements may hold anything,
// valid until reuse or release.
func (a *hostArena) matrix(rows, cols int) *tensor.Dense {
	n := rows * cols
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.spare[n]; len(s) > 0 {
		f := s[len(s)-1]
		a.spare[n] = s[:len(s)-1]
		a.lent = append(a.lent, f)
		return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(f))
	}
	if a.mem != nil {
		if f, free, err := a.mem.HostFloats(n); err == nil {
			a.free = append(a.free, free)
			a.lent = append(a.lent, f)
			return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(f))
		}
	}
	return tensor.New(tensor.WithShape(rows, cols), tensor.Of(tensor.Float32))
}

// reuse takes back every block matrix handed out: their tensors must not
// be used afterwards.
func (a *hostArena) reuse() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.spare == nil {
		a.spare = map[int][][]float32{}
	}
	for _, f := range a.lent {
		a.spare[len(f)] = append(a.spare[len(f)], f)
	}
	a.lent = nil
}

// release frees what a allocated, once no upload from it is pending; it
// returns the first error.
func (a *hostArena) release() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first error
	for _, free := range a.free {
		if err := free(); err != nil && first == nil {
			first = err
		}
	}
	a.free, a.lent, a.spare = nil, nil, nil
	return first
}

// syncHost brings the host tensors of every device module up to date.
func (n *Network) syncHost() error {
	for _, m := range n.modules() {
		if d, ok := m.(deviceModule); ok {
			if err := d.SyncHost(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Where says where the network's modules run: the backend and its
// device.
func (n *Network) Where() string { return n.where }

// Execution describes how a training step runs: "sync", with the parts of
// rows its modules compute a batch in (when more than one) and what the
// synchronous loop leaves to its finisher, or the async workers with the
// layers of each.
func (n *Network) Execution() string {
	switch {
	case n.cfg.Exec == ExecAsync:
		var b strings.Builder
		workers, noun := n.cfg.workers(), "workers"
		if workers == 1 {
			noun = "worker"
		}
		fmt.Fprintf(&b, "async, %d %s (layers", workers, noun)
		groups := n.partition(workers)
		for k, g := range groups {
			if k > 0 {
				b.WriteString(";")
			}
			if fmt.Fprintf(&b, " %d", g.first); g.last > g.first {
				fmt.Fprintf(&b, "–%d", g.last)
			}
		}
		b.WriteString(")")
		for k, g := range groups {
			if g.apart {
				fmt.Fprintf(&b, "; worker %d computes δ_%d", k-1, g.first-1)
			}
		}
		return b.String()
	}
	s := "sync"
	if p := n.fillParts; p != nil {
		s += fmt.Sprintf(", batches in %d parts of rows", p.opts.Parts(n.cfg.Batch))
	}
	switch {
	case !n.syncFinisher() || !n.splitsBackward():
		return s
	case n.overlapped():
		return s + ", the lower layers' steps overlapped on a finisher"
	}
	return s + ", weight gradients and updates on a finisher"
}

// syncFinisher reports whether the synchronous loop has a finisher: in
// the decoupled modes but BP(λ), with two or more places, where the step
// is overlapped or the modules compute each batch whole. Modules that
// compute in parts keep both cores busy without one, and a finisher that
// holds a core leaves their parts to one goroutine: the default cDNI
// network on two threads ran at 101,700–110,700 samples/s with the
// finisher and 115,800–122,600 without (3 interleaved pairs of --mode
// cdni --epochs 2).
func (n *Network) syncFinisher() bool {
	return n.cfg.Mode.Decoupled() && n.cfg.Lambda == 0 && n.cores.Len() >= 2 &&
		(n.fillParts == nil || n.overlapped())
}

// Config returns the network's configuration.
func (n *Network) Config() Config { return n.cfg.clone() }

// modules lists the layers bottom to top, then the synthesizers.
func (n *Network) modules() []module {
	var ms []module
	for _, d := range n.hidden {
		ms = append(ms, d)
	}
	ms = append(ms, n.top)
	for _, m := range n.models {
		if s, ok := m.(module); ok {
			ms = append(ms, s)
		}
	}
	for _, m := range n.inputs {
		ms = append(ms, m)
	}
	return ms
}

func describeModel(kind, in, out string, c synth.Config) string {
	if c.Hidden > 0 {
		return fmt.Sprintf("%s %s (%d) → %d×%d relu → %s (%d)", kind, in, c.In+c.Classes, c.Hidden, c.Width, out, c.OutWidth())
	}
	return fmt.Sprintf("%s %s (%d) → %s (%d), linear", kind, in, c.In+c.Classes, out, c.OutWidth())
}

// ParamCount returns the number of trainable parameters of the layers and of
// the synthesizers (input models included).
func (n *Network) ParamCount() (layers, synths int) {
	for i, m := range n.modules() { // layers first, then synthesizers
		if i <= len(n.hidden) {
			layers += count(m)
		} else {
			synths += count(m)
		}
	}
	return layers, synths
}

// count returns the number of trainable parameters of m.
func count(m module) (c int) {
	for _, p := range m.Params() {
		c += p.Size()
	}
	return c
}

// stepResult is what one training step reports.
type stepResult struct {
	loss   float64       // mean cross-entropy of the batch
	logits *tensor.Dense // of the batch, before the update
	sgLoss float64       // mean L2 loss of the synthesizers (0 in bprop)
}

// trainStep runs training step number step of the configured mode on batch
// x with one-hot labels.
func (n *Network) trainStep(f *finisher, x, labels *tensor.Dense, step int) (stepResult, error) {
	switch {
	case !n.cfg.Mode.Decoupled():
		return n.backpropStep(x, labels, step)
	case n.cfg.Lambda > 0:
		return n.lambdaStep(x, labels, step)
	}
	return n.decoupledStep(f, x, labels, step)
}

// backpropStep is the locked baseline: forward through every layer, then the
// true gradient flows down and each layer updates when it arrives.
func (n *Network) backpropStep(x, labels *tensor.Dense, step int) (stepResult, error) {
	h := x
	var err error
	for _, layer := range n.hidden {
		if h, err = layer.Forward(h, true); err != nil {
			return stepResult{}, err
		}
	}
	loss, logits, g, err := n.topStep(h, labels, step)
	if err != nil {
		return stepResult{}, err
	}
	for i := len(n.hidden) - 1; i >= 0; i-- {
		if g, err = n.backward(nil, i, step, g, nil, nil); err != nil {
			return stepResult{}, err
		}
	}
	return stepResult{loss: loss, logits: logits}, nil
}

// decoupledStep is one DNI/cDNI step, layer by layer from the bottom: each
// hidden layer runs layerStep, and the δ_{i-1} it pushes down trains
// M_{i-1}; the top layer's true gradient trains the last synthesizer. With
// a finisher f, the weight gradients and updates are left to f, or, when
// n.overlapped says so, the lower layers' whole steps (overlappedStep).
//
// With unlocked inputs, every stage but the first takes Î_i(x) instead of
// h_{i-1}, and I_i learns from the real h_{i-1} once it is computed.
func (n *Network) decoupledStep(f *finisher, x, labels *tensor.Dense, step int) (stepResult, error) {
	if f != nil && n.overlapped() {
		return n.overlappedStep(f, x, labels, step)
	}
	defer n.late.settle()
	in, prev := x, (*tensor.Dense)(nil) // prev: the real output of the layer below
	var err error
	for i := range n.hidden {
		if i > 0 && n.cfg.Unlock {
			if in, err = n.inputs[i-1].Predict(x, nil); err != nil {
				return stepResult{}, err
			}
		}
		h, delta, err := n.layerStep(f, i, step, in, labels, nil, &n.late)
		if err != nil {
			return stepResult{}, err
		}
		if i > 0 {
			if err := n.learnLate(f, i-1, step, prev, labels, delta); err != nil {
				return stepResult{}, err
			}
			if err := n.learnInputIfUnlocked(i-1, x, prev); err != nil {
				return stepResult{}, err
			}
		}
		prev, in = h, h
	}
	last := len(n.hidden) - 1
	if n.cfg.Unlock {
		if in, err = n.inputs[last].Predict(x, nil); err != nil {
			return stepResult{}, err
		}
	}
	loss, logits, trueGrad, err := n.topStep(in, labels, step)
	if err != nil {
		return stepResult{}, err
	}
	if err := n.learnLate(f, last, step, prev, labels, trueGrad); err != nil {
		return stepResult{}, err
	}
	if err := n.learnInputIfUnlocked(last, x, prev); err != nil {
		return stepResult{}, err
	}
	sgLoss, err := n.late.finish()
	if err != nil {
		return stepResult{}, err
	}
	return stepResult{loss: loss, logits: logits, sgLoss: sgLoss / float64(len(n.models))}, nil
}

// overlappedStep is decoupledStep for the synchronous loop with a finisher f
// and two or more hidden layers (see overlaps). The loop runs the forward
// pass up the layers and hands each hidden layer below the last to f as soon
// as its output is known, as one job (lowerStep): M_i's prediction, the
// layer's backward pass and update, and M_{i-1}'s learning from the δ_{i-1}
// it pushes down. The loop itself runs the last hidden layer (its weight
// gradient left to f), M_{last-1}'s learning from the δ that layer pushes
// down (the backward pass through M_{last-1} left to f), the top layer, and
// the last synthesizer's learning from the true gradient, all of it here:
// left to f too, it would pile M_last's work onto M_{last-1}'s. So the
// synthesizers of the lower layers predict and learn beside the upper ones;
// with two hidden layers and DNI's large synthesizers the two goroutines
// get about even shares of the work. Every computation reads what it reads
// without f, in an order that the finisher's queue and waits keep, so the
// results are the same bit for bit.
func (n *Network) overlappedStep(f *finisher, x, labels *tensor.Dense, step int) (stepResult, error) {
	last := len(n.hidden) - 1
	if n.lower == nil {
		for i := range last {
			j := &lowerJob{}
			j.run = func() error { return n.lowerStep(i, j) }
			n.lower = append(n.lower, j)
		}
	}
	// Every lower layer's job of the step before is done: the step waited
	// for them before it returned.
	in, below := x, (*tensor.Dense)(nil) // below: h_{i-1}, M_{i-1}'s input
	for i := range last {
		h, err := n.hidden[i].Forward(in, true)
		if err != nil {
			return stepResult{}, err
		}
		j := n.lower[i]
		j.h, j.below, j.labels = h, below, labels
		f.start(layerSlot(i), step, j.run)
		in, below = h, h
	}
	h, delta, err := n.layerStep(f, last, step, in, labels, nil, nil)
	if err != nil {
		return stepResult{}, err
	}
	// M_{last-1} predicted in its layer's job, the last of the lower
	// layers' jobs: they are all done now (they read this step's batch and
	// outputs), and a failure among them stops the step here.
	var sgLoss float64
	for i := range last {
		if err := f.wait(layerSlot(i)); err != nil {
			return stepResult{}, err
		}
		if i > 0 {
			sgLoss += n.lower[i].sgLoss // M_{i-1}'s, in decoupledStep's order
		}
	}
	l, err := n.learn(f, last-1, step, below, labels, delta)
	if err != nil {
		return stepResult{}, err
	}
	sgLoss += l
	loss, logits, trueGrad, err := n.topStep(h, labels, step)
	if err != nil {
		return stepResult{}, err
	}
	if l, err = n.learn(nil, last, step, h, labels, trueGrad); err != nil {
		return stepResult{}, err
	}
	sgLoss += l
	return stepResult{loss: loss, logits: logits, sgLoss: sgLoss / float64(len(n.models))}, nil
}

// overlapped reports whether the synchronous loop with a finisher runs
// overlappedStep: where it suits n, and without unlocked inputs.
func (n *Network) overlapped() bool { return n.overlap && !n.cfg.Unlock }

// overlaps reports whether overlappedStep suits n: two or more hidden
// layers whose modules can run on the finisher's goroutine (those of the CPU
// backend, which split their backward passes), and synthesizers that hold
// more parameters than the layers, so that their work, which the step
// moves, is most of a step's. With small synthesizers (cDNI's linear ones)
// the layers' work dominates, and the step that leaves only weight
// gradients to the finisher was faster: 4-layer cDNI on two places ran at
// 26,547 samples/s overlapped against 32,558 (medians of 3).
func (n *Network) overlaps() bool {
	if len(n.hidden) < 2 || !n.splitsBackward() {
		return false
	}
	layers, synths := n.ParamCount()
	return synths > layers
}

// splitsBackward reports whether n's layers can leave part of their
// backward passes to a finisher (deferredBackward): those of the CPU
// backend can.
func (n *Network) splitsBackward() bool {
	if len(n.hidden) == 0 {
		return false
	}
	_, ok := n.hidden[0].(deferredBackward)
	return ok
}

// lowerJob is the finisher's job for hidden layer i below the last in an
// overlapped step: its inputs, set by the loop before each start, M_{i-1}'s
// loss, and the function that runs it, made once so that a step does not
// allocate.
type lowerJob struct {
	h, below, labels *tensor.Dense // h_i, h_{i-1} (nil for i = 0), the one-hot labels
	sgLoss           float64       // M_{i-1}'s loss (i > 0)
	run              func() error
}

// lowerStep is hidden layer i's part of an overlapped step on the finisher,
// whose queue has run the jobs before it: M_i predicts ĝ_i, the layer takes
// its gradients (the finisher applies its update after) and, but for the
// first layer, pushes δ_{i-1} down to train M_{i-1}, which then updates.
func (n *Network) lowerStep(i int, j *lowerJob) error {
	gHat, err := n.predict(i, j.h, j.labels)
	if err != nil {
		return err
	}
	delta, err := n.hidden[i].Backward(gHat)
	if err != nil || i == 0 {
		return err
	}
	m := n.models[i-1]
	if j.sgLoss, err = m.Learn(j.below, j.labels, delta); err != nil {
		return err
	}
	return m.Update()
}

// learnInput trains I_{i+1}, the model of stage i+1's input, on the real
// output h_i of hidden layer i, and updates it.
func (n *Network) learnInput(i int, x, h *tensor.Dense) error {
	if _, err := n.inputs[i].Learn(x, nil, h); err != nil {
		return err
	}
	return n.inputs[i].Update()
}

func (n *Network) learnInputIfUnlocked(i int, x, h *tensor.Dense) error {
	if !n.cfg.Unlock {
		return nil
	}
	return n.learnInput(i, x, h)
}

// layerStep is what hidden layer i does with its input in a decoupled step:
// compute h_i, ask M_i for ĝ_i, take the gradients ĝ_i·∂h_i/∂θ_i and update
// at once (without waiting for any layer above), and return h_i with
// δ_{i-1} = ĝ_i·∂h_i/∂h_{i-1}, the target for M_{i-1}, or leave δ_{i-1} to
// apart when it is not nil. With a finisher f, the weight gradient and the
// update are left to f (see Network.backward). With late not nil, a
// lateLayer's passes return before the device has computed them, and late
// gets their waits.
func (n *Network) layerStep(f *finisher, i, step int, in, labels *tensor.Dense, apart *fused.InputGradient, late *lateWork) (h, delta *tensor.Dense, err error) {
	if err := f.wait(layerSlot(i)); err != nil {
		return nil, nil, err
	}
	if l, ok := n.hidden[i].(lateLayer); ok && late != nil {
		var wait func() error
		if h, wait, err = l.ForwardLate(in, true); err == nil {
			late.waits = append(late.waits, wait)
		}
	} else {
		h, err = n.hidden[i].Forward(in, true)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := f.wait(modelSlot(i)); err != nil {
		return nil, nil, err
	}
	gHat, err := n.predict(i, h, labels)
	if err != nil {
		return nil, nil, err
	}
	delta, err = n.backward(f, i, step, gHat, apart, late)
	return h, delta, err
}

// predict returns M_i's synthetic gradient ĝ_i for h_i, checked to be
// finite.
func (n *Network) predict(i int, h, labels *tensor.Dense) (*tensor.Dense, error) {
	gHat, err := n.models[i].Predict(h, labels)
	if err != nil {
		return nil, err
	}
	if k, v := firstNonFinite(gHat); k >= 0 {
		return nil, fmt.Errorf("the run diverged: synthetic gradient of layer%d has %v at element %d (try a smaller --lr or --sg-lr)", i, v, k)
	}
	return gHat, nil
}

// topStep runs the output layer on its input: the loss, the logits, and the
// true gradient ∂L/∂h_{N-1} it sends down; the layer updates.
func (n *Network) topStep(in, labels *tensor.Dense, step int) (loss float64, logits, grad *tensor.Dense, err error) {
	if loss, logits, grad, err = n.top.Train(in, labels); err != nil {
		return 0, nil, nil, err
	}
	if !(loss <= maxLoss) { // also NaN
		return 0, nil, nil, &divergence{loss: loss}
	}
	return loss, logits, grad, n.update(len(n.hidden), step)
}

// maxLoss is the largest mean cross-entropy taken for training rather than
// divergence: a classifier starts near ln(classes), and a loss this large
// means logits of that order, which only exploding weights produce (batch
// norm can keep such weights from ever overflowing to NaN).
const maxLoss = 1e6

// divergence is the error of a step whose training loss is out of bounds.
// Its diagnosis is filled in by Network.explain once no other goroutine
// computes (the parameters it reads may still be changing before), so the
// errors that wrap it must form their messages late, as stepError does.
type divergence struct {
	loss      float64
	diagnosis string
}

func (d *divergence) Error() string {
	return fmt.Sprintf("the run diverged: training loss is %.4g; %s (try a smaller --lr)", d.loss, d.diagnosis)
}

// stepError is the error of training step number step. Its message is
// formed when it is read, so that explain may complete a divergence inside
// it after the fact.
type stepError struct {
	step int
	err  error
}

func (e *stepError) Error() string { return fmt.Sprintf("step %d: %v", e.step, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// atStep returns err as an error of step step, unless it already names
// its step (a finisher's job reports the step it belongs to).
func atStep(step int, err error) error {
	var se *stepError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return &stepError{step, err}
}

// explain completes the diagnosis of a divergence in err, if any, and
// returns err. The goroutines of the epoch must have stopped.
func (n *Network) explain(err error) error {
	var d *divergence
	if errors.As(err, &d) && d.diagnosis == "" {
		d.diagnosis = n.diagnose()
	}
	return err
}

// diagnose names what went wrong in a diverged network: the first tensor
// holding a NaN or an infinity (layers bottom to top, then synthesizers;
// values before gradients), or else the largest weight.
func (n *Network) diagnose() string {
	var largest string
	var top float32
	if err := n.syncHost(); err != nil {
		return err.Error()
	}
	for _, m := range n.modules() {
		for _, p := range append(m.Params(), m.Stats()...) {
			if k, v := firstNonFinite(p.Value); k >= 0 {
				return fmt.Sprintf("first non-finite tensor: %s, %v at element %d", p.Name, v, k)
			}
			if p.Grad != nil {
				if k, v := firstNonFinite(p.Grad); k >= 0 {
					return fmt.Sprintf("first non-finite tensor: the gradient of %s, %v at element %d", p.Name, v, k)
				}
			}
			for k, v := range p.Value.Float32s() {
				if a := max(v, -v); a > top {
					top, largest = a, fmt.Sprintf("largest weight: %s[%d] = %.3g", p.Name, k, v)
				}
			}
		}
	}
	return largest
}

// firstNonFinite returns the index and value of the first NaN or infinity
// in t, or -1.
func firstNonFinite(t *tensor.Dense) (int, float32) {
	x := t.Float32s()
	k := kernels.FirstNonFinite(x)
	if k < 0 {
		return -1, 0
	}
	return k, x[k]
}

// learn trains M_i on the target δ_i of step step for its input h_i, and
// updates it. With a finisher f and a model that can split its learning
// (deferredLearner), the backward pass through the model and the update are
// left to f when it takes them; otherwise everything is done at once.
func (n *Network) learn(f *finisher, i, step int, h, labels, target *tensor.Dense) (float64, error) {
	if err := f.wait(modelSlot(i)); err != nil {
		return 0, err
	}
	m := n.models[i]
	if d, ok := m.(deferredLearner); ok && f.takes() {
		l, finish, err := d.LearnDeferred(h, labels, target)
		if err != nil {
			f.unreserve()
			return 0, err
		}
		f.start(modelSlot(i), step, finish)
		return l, nil
	}
	l, err := m.Learn(h, labels, target)
	if err != nil {
		return 0, err
	}
	return l, m.Update()
}

// lateLearner is a GradientModel that can queue its learning and return
// before its loss is known, with the function that waits for the loss.
// That function must be called before the model's next call, and until
// then the tensors passed must stay unchanged, as lateLayer's inputs (the
// learning may still read them). gpu.Synthesizer is one: the host need
// not wait for the device in the middle of a step.
type lateLearner interface {
	LearnLate(h, labels, target *tensor.Dense) (loss func() (float64, error), err error)
}

// lateLayer is a Layer whose passes can return before the device has
// computed them: ForwardLate and BackwardLate queue the pass and return its
// output at once, for other modules of the same backend to take on the
// device, with the function that waits until the host may read that output
// and change the pass's input (never nil when err is nil). It must be
// called before the layer's next pass of the same kind, and the input must
// stay unchanged until then: on the host, and, for another module's output
// handed over on the device, in that module's buffer. Until then the
// output may only be handed whole to modules of the same backend. gpu.Dense
// is one.
type lateLayer interface {
	ForwardLate(x *tensor.Dense, train bool) (h *tensor.Dense, wait func() error, err error)
	BackwardLate(g *tensor.Dense) (dx *tensor.Dense, wait func() error, err error)
}

// lateWork is what the synchronous decoupled step has left to the device
// and waits for at its end: its synthesizers' losses, by synthesizer, each
// known or to be waited for, and the waits of its layers' late passes.
type lateWork struct {
	losses []lateLoss
	waits  []func() error
}

// lateLoss is a synthesizer's loss in a step, or, when wait is not nil,
// the function that waits for it.
type lateLoss struct {
	value float64
	wait  func() (float64, error)
}

// finish returns the sum of the step's synthesizer losses, bottom to top,
// once every late loss and pass has been waited for, and clears them.
func (w *lateWork) finish() (float64, error) {
	var sum float64
	for i, l := range w.losses {
		w.losses[i] = lateLoss{}
		if l.wait != nil {
			var err error
			if l.value, err = l.wait(); err != nil {
				return 0, err
			}
		}
		sum += l.value
	}
	for i, wait := range w.waits {
		w.waits[i] = nil
		if err := wait(); err != nil {
			return 0, err // settle waits for the rest
		}
	}
	w.waits = w.waits[:0]
	return sum, nil
}

// settle waits for what is still late when a step has failed: its work
// may still read the step's tensors, which the next step changes and
// closing the network frees.
func (w *lateWork) settle() {
	for i, l := range w.losses {
		if l.wait != nil {
			_, _ = l.wait() // the step's own error is the one to report
		}
		w.losses[i] = lateLoss{}
	}
	for i, wait := range w.waits {
		if wait != nil {
			_ = wait()
		}
		w.waits[i] = nil
	}
	w.waits = w.waits[:0]
}

// learnLate is learn for the synchronous decoupled step, which reads the
// losses at its end (n.late: finish, or settle when the step fails): a
// lateLearner M_i queues its learning and update there and the
// step goes on; the others learn as learn does. Until the step's end its
// tensors (its batch, the modules' outputs, on the host and on the device)
// stay unchanged: each module writes its outputs once a step, which is
// what a late learner asks.
func (n *Network) learnLate(f *finisher, i, step int, h, labels, target *tensor.Dense) error {
	if n.late.losses == nil {
		n.late.losses = make([]lateLoss, len(n.models))
	}
	m, ok := n.models[i].(lateLearner)
	if !ok {
		l, err := n.learn(f, i, step, h, labels, target)
		n.late.losses[i] = lateLoss{value: l}
		return err
	}
	if err := f.wait(modelSlot(i)); err != nil {
		return err
	}
	wait, err := m.LearnLate(h, labels, target)
	if err != nil {
		return err
	}
	n.late.losses[i] = lateLoss{wait: wait}
	return n.models[i].Update()
}

// backward runs hidden layer i's backward pass from the upstream gradient g,
// applies its update (when n.update's schedule says so) and returns
// δ_{i-1}; or, with apart not nil, leaves δ_{i-1} to apart and returns nil
// (the layer must be an apartBackward). With a finisher f that takes them
// and a layer that can split its backward pass (deferredBackward), the
// weight gradient and the update are left to f. With late not nil, a
// lateLayer's pass returns before the device has computed it, and late
// gets its wait.
func (n *Network) backward(f *finisher, i, step int, g *tensor.Dense, apart *fused.InputGradient, late *lateWork) (dx *tensor.Dense, err error) {
	layer := n.hidden[i]
	a, _ := layer.(apartBackward)
	if apart != nil && a == nil {
		return nil, fmt.Errorf("%s cannot leave its input gradient apart", layer.Name())
	}
	if d, ok := layer.(deferredBackward); ok && f.takes() {
		var finish func() error
		if apart != nil {
			finish, err = a.BackwardApartDeferred(g, apart)
		} else {
			dx, finish, err = d.BackwardDeferred(g)
		}
		if err != nil {
			f.unreserve()
			return nil, err
		}
		f.start(layerSlot(i), step, finish)
		return dx, nil
	}
	l, isLate := layer.(lateLayer)
	switch {
	case apart != nil:
		err = a.BackwardApart(g, apart)
	case isLate && late != nil:
		var wait func() error
		if dx, wait, err = l.BackwardLate(g); err == nil {
			late.waits = append(late.waits, wait)
		}
	default:
		dx, err = layer.Backward(g)
	}
	if err != nil {
		return nil, err
	}
	return dx, n.update(i, step)
}

// lambdaStep is BP(λ): every layer runs forward first and M_i predicts ĝ_i;
// then, from the top down, layer i updates from the mixture
// λ·g_i + (1−λ)·ĝ_i of the gradient g_i arriving from above and the
// synthetic one, and g_i is M_i's regression target. λ = 1 is backprop;
// λ = 0 gives DNI's updates, though the layers then wait for the top.
func (n *Network) lambdaStep(x, labels *tensor.Dense, step int) (stepResult, error) {
	rows := x.Shape()[0]
	scratch := n.lambdaScratch(rows)
	in := x
	var err error
	for i, layer := range n.hidden {
		if in, err = layer.Forward(in, true); err != nil {
			return stepResult{}, err
		}
		scratch.outputs[i] = in
		if scratch.predicted[i], err = n.models[i].Predict(in, labels); err != nil {
			return stepResult{}, err
		}
	}
	loss, logits, g, err := n.topStep(in, labels, step)
	if err != nil {
		return stepResult{}, err
	}
	var sgLoss float64
	lambda := float32(n.cfg.Lambda)
	for i := len(n.hidden) - 1; i >= 0; i-- {
		mixed, gs, gHat := scratch.mixed[i].Float32s(), g.Float32s(), scratch.predicted[i].Float32s()
		for k := range mixed {
			mixed[k] = lambda*gs[k] + (1-lambda)*gHat[k]
		}
		l, err := n.learn(nil, i, step, scratch.outputs[i], labels, g)
		if err != nil {
			return stepResult{}, err
		}
		sgLoss += l
		if g, err = n.hidden[i].Backward(scratch.mixed[i]); err != nil {
			return stepResult{}, err
		}
		if err := n.update(i, step); err != nil {
			return stepResult{}, err
		}
	}
	return stepResult{loss: loss, logits: logits, sgLoss: sgLoss / float64(len(n.models))}, nil
}

// lambdaBuffers hold a BP(λ) step's per-layer tensors for one batch size.
type lambdaBuffers struct {
	outputs, predicted []*tensor.Dense // h_i and ĝ_i, owned by the layers and synthesizers
	mixed              []*tensor.Dense // λ·g_i + (1−λ)·ĝ_i
}

func (n *Network) lambdaScratch(rows int) *lambdaBuffers {
	if b, ok := n.lambda[rows]; ok {
		return b
	}
	h := len(n.hidden)
	b := &lambdaBuffers{outputs: make([]*tensor.Dense, h), predicted: make([]*tensor.Dense, h)}
	for range n.hidden {
		b.mixed = append(b.mixed, tensor.New(tensor.WithShape(rows, n.cfg.Hidden), tensor.Of(tensor.Float32)))
	}
	if n.lambda == nil {
		n.lambda = map[int]*lambdaBuffers{}
	}
	n.lambda[rows] = b
	return b
}

// update applies layer i's gradients (i = len(hidden) is the top layer)
// unless the schedule skips it at this step: hidden layers wait out the
// synthesizer warm-up, and with an update probability p < 1 each layer
// updates on a fraction p of the steps, drawn from (seed, step, layer).
func (n *Network) update(i, step int) error {
	if i < len(n.hidden) && step < n.cfg.SGWarmup && n.cfg.Mode.Decoupled() {
		return nil
	}
	if p := n.cfg.updateProb(i); p < 1 && uniform(n.cfg.Seed, uint64(step), uint64(i)) >= p {
		return nil
	}
	if i == len(n.hidden) {
		return n.top.Update()
	}
	return n.hidden[i].Update()
}

// uniform returns a number in [0, 1) that depends only on its arguments
// (SplitMix64 over their mix), so that random choices need no state.
func uniform(seed, a, b uint64) float64 {
	z := seed ^ (a+1)*0x9e3779b97f4a7c15 ^ (b+1)*0xc2b2ae3d27d4eb4f
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// evaluate returns the summed loss and the logits of a batch, without
// training (batch norm uses its running statistics).
func (n *Network) evaluate(x, labels *tensor.Dense) (float64, *tensor.Dense, error) {
	h := x
	var err error
	for _, layer := range n.hidden {
		if h, err = layer.Forward(h, false); err != nil {
			return 0, nil, err
		}
	}
	return n.top.Evaluate(h, labels)
}

// ModuleInfo describes one layer or synthesizer for people.
type ModuleInfo struct {
	Name   string // e.g. "layer0", "synth1"
	What   string // e.g. "dense 784→256 relu"
	Params int    // trainable parameters
}

// Describe lists the network's layers, bottom to top, then its
// synthesizers, then, with unlocked inputs, its input models.
func (n *Network) Describe() []ModuleInfo {
	var out []ModuleInfo
	for _, d := range n.hidden {
		s := d.LayerSpec()
		what := fmt.Sprintf("dense %d→%d %v", s.In, s.Out, s.Act)
		if s.BatchNorm {
			what += " batchnorm"
		}
		out = append(out, ModuleInfo{d.Name(), what, count(d)})
	}
	top := n.top.LayerSpec()
	out = append(out, ModuleInfo{n.top.Name(), fmt.Sprintf("output %d→%d softmax cross-entropy", top.In, top.Out), count(n.top)})
	for _, m := range n.models {
		s, ok := m.(Synthesizer)
		if !ok {
			continue
		}
		c := s.Config()
		in := "h"
		if c.Classes > 0 {
			in = "[h, label]"
		}
		out = append(out, ModuleInfo{s.Name(), describeModel("synthesizer", in, "ĝ", c), count(s)})
	}
	for _, s := range n.inputs {
		out = append(out, ModuleInfo{s.Name(), describeModel("input model", "x", "Î", s.Config()), count(s)})
	}
	return out
}
