package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// Layer is a hidden layer as the engine drives it: forward h_{i-1} → h_i,
// and backward from an upstream gradient g_i (true or synthetic) to the
// parameter gradients and δ_{i-1}.
type Layer interface {
	module
	LayerSpec() graph.Spec
	Forward(x *tensor.Dense, train bool) (*tensor.Dense, error)
	Backward(g *tensor.Dense) (*tensor.Dense, error)
	Update() error
}

// OutputLayer is the top layer with its loss: the only layer that sees the
// labels' loss and the true gradient.
type OutputLayer interface {
	module
	LayerSpec() graph.Spec
	Train(x, labels *tensor.Dense) (loss float64, logits, dx *tensor.Dense, err error)
	Evaluate(x, labels *tensor.Dense) (loss float64, logits *tensor.Dense, err error)
	Update() error
}

// Synthesizer is a GradientModel with parameters, as the backends build it.
type Synthesizer interface {
	GradientModel
	module
	Config() synth.Config
}

// Backend builds the layers and synthesizers of a network. All backends
// name and initialise parameters identically (graph.NewAffine), so
// checkpoints move freely between them.
type Backend interface {
	// String says where the modules run, e.g. "cpu (fused kernels, 2 threads per kernel)".
	String() string
	Layer(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config) (Layer, error)
	Output(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config) (OutputLayer, error)
	Synthesizer(name string, c synth.Config, rng *rand.Rand, opt optim.Config) (Synthesizer, error)
}

// hostMemory is a Backend whose modules read host tensors faster from
// memory it allocates: a GPU's pinned memory, which an upload copies by
// DMA, on its stream, without the driver first copying it to a staging
// buffer. The network allocates the training batches and the async
// workers' messages there.
type hostMemory interface {
	// HostFloats returns n float32s of that memory and the function that
	// frees them.
	HostFloats(n int) ([]float32, func() error, error)
}

// The backends.
const (
	// CPU runs the fused kernels of package kernels: the fast path.
	CPU = "cpu"
	// Reference runs every layer as its own Gorgonia graph on Gorgonia's tape
	// machine: slow, and the oracle the fast path is checked against.
	Reference = "reference"
)

// NewBackend returns the backend named name; threads bounds the goroutines
// the CPU backend's kernels use (0: one per available CPU).
func NewBackend(name string, threads int) (Backend, error) {
	return newBackend(name, fused.Options{Threads: threads})
}

// newBackend returns the backend named name with the CPU backend's kernels
// set by o (o.Threads ≤ 0: one per available CPU).
func newBackend(name string, o fused.Options) (Backend, error) {
	switch name {
	case CPU:
		if o.Threads <= 0 {
			o.Threads = runtime.GOMAXPROCS(0)
		}
		return cpuBackend{o}, nil
	case Reference:
		return referenceBackend{}, nil
	}
	return nil, fmt.Errorf("unknown backend %q (want %s or %s)", name, CPU, Reference)
}

// backendFor returns the backend a configuration runs on: the GPU backend
// on a CUDA device, else the named CPU backend, whose kernels take the
// places of their helper goroutines from cores.
func backendFor(cfg Config, cores *kernels.Cores) (Backend, error) {
	dev, err := ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	if dev >= 0 {
		return cudaBackend(cfg, dev)
	}
	return newBackend(cfg.Backend, fused.Options{Threads: cfg.Threads, Cores: cores})
}

// ParseDevice parses a device name: "cpu" (or "") gives -1, "cuda:N" the
// CUDA device ordinal N.
func ParseDevice(s string) (int, error) {
	if s == "" || s == "cpu" {
		return -1, nil
	}
	if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n < 1024 && rest == strconv.Itoa(n) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown --device %q (want cpu or cuda:N, N a device number)", s)
}

// CheckDevice reports why this build cannot train on device s ("cpu" or
// "cuda:N"), or nil: a malformed name, or a CUDA device in a build without
// the gpu tag. Whether the device exists is known only once it is opened.
func CheckDevice(s string) error {
	ordinal, err := ParseDevice(s)
	if err == nil && ordinal >= 0 && !gpuBuild {
		err = errNoGPU(ordinal)
	}
	return err
}

// GPUBuilt reports whether this build has the GPU backend (build tag gpu).
func GPUBuilt() bool { return gpuBuild }

// errNoGPU is the error of CUDA device ordinal in a build without the GPU
// backend.
func errNoGPU(ordinal int) error {
	return fmt.Errorf("--device cuda:%d: this dnitrain was built without GPU support (build it with -tags gpu, or use --device cpu)", ordinal)
}

type cpuBackend struct{ opts fused.Options }

// The fused modules split their backward passes for finishers, and the
// layers leave their δ products to other workers.
var (
	_ apartBackward   = (*fused.Dense)(nil)
	_ deferredLearner = (*fused.Synthesizer)(nil)
)

func (b cpuBackend) String() string {
	unit := "threads"
	if b.opts.Threads == 1 {
		unit = "thread"
	}
	return fmt.Sprintf("cpu (fused kernels, %d %s per kernel)", b.opts.Threads, unit)
}

func (b cpuBackend) Layer(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config) (Layer, error) {
	return fused.NewDense(name, s, inputGrad, rng, opt, b.opts)
}

func (b cpuBackend) Output(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config) (OutputLayer, error) {
	return fused.NewOutput(name, in, classes, inputGrad, rng, opt, b.opts)
}

func (b cpuBackend) Synthesizer(name string, c synth.Config, rng *rand.Rand, opt optim.Config) (Synthesizer, error) {
	return fused.NewSynthesizer(name, c, rng, opt, b.opts)
}

type referenceBackend struct{}

func (referenceBackend) String() string { return "cpu (reference: Gorgonia graphs)" }

func (referenceBackend) Layer(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config) (Layer, error) {
	return graph.NewDense(name, s, inputGrad, tensor.Float32, rng, opt)
}

func (referenceBackend) Output(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config) (OutputLayer, error) {
	return graph.NewOutput(name, in, classes, inputGrad, tensor.Float32, rng, opt)
}

func (referenceBackend) Synthesizer(name string, c synth.Config, rng *rand.Rand, opt optim.Config) (Synthesizer, error) {
	return synth.New(name, c, tensor.Float32, rng, opt)
}
