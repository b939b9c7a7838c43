//go:build gpu

package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/dnitrain/dnitrain/engine/gpu"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/kernels/cuda"
	"github.com/dnitrain/dnitrain/optim"
	"github.com/dnitrain/dnitrain/synth"
)

// devices holds the CUDA devices opened so far: a process keeps one
// context per device, shared by all its networks.
var devices struct {
	sync.Mutex
	open map[int]*cuda.Device
}

// OpenDevice returns CUDA device ordinal, opening it on first use.
func OpenDevice(ordinal int) (*cuda.Device, error) {
	devices.Lock()
	defer devices.Unlock()
	if d, ok := devices.open[ordinal]; ok {
		return d, nil
	}
	d, err := cuda.Open(ordinal)
	if err != nil {
		return nil, err
	}
	if devices.open == nil {
		devices.open = map[int]*cuda.Device{}
	}
	devices.open[ordinal] = d
	return d, nil
}

// NewTimedNetwork builds the network of cfg, whose Device must be a CUDA
// device, with every module recording its updates and synthesizer calls in
// tl: the benchmarks measure from it how much synthesizer work the updates
// hide.
func NewTimedNetwork(cfg Config, tl *gpu.Timeline) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ordinal, err := ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	if ordinal < 0 {
		return nil, fmt.Errorf("a timed network runs on a CUDA device, not %q", cfg.Device)
	}
	d, err := OpenDevice(ordinal)
	if err != nil {
		return nil, err
	}
	return newNetwork(cfg, gpuBackend{gpu.Options{Device: d, Timeline: tl, Handoff: gpu.NewHandoff()}}, kernels.NewCores(cfg.places()))
}

// gpuBuild says whether this build has the GPU backend.
const gpuBuild = true

// cudaBackend returns the GPU backend on CUDA device ordinal, after
// checking that the network of cfg fits in the device's free memory. Its
// modules hand their outputs to one another on the device (gpu.Handoff).
func cudaBackend(cfg Config, ordinal int) (Backend, error) {
	d, err := OpenDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("device cuda:%d: %w", ordinal, err)
	}
	free, _, err := d.MemInfo()
	if err != nil {
		return nil, err
	}
	if err := checkMemory(cfg, free, "memory free on "+d.String()); err != nil {
		return nil, err
	}
	return gpuBackend{gpu.Options{Device: d, Handoff: gpu.NewHandoff()}}, nil
}

type gpuBackend struct{ opts gpu.Options }

func (b gpuBackend) String() string { return b.opts.Device.String() }

// HostFloats returns n floats of pinned host memory (see hostMemory).
func (b gpuBackend) HostFloats(n int) ([]float32, func() error, error) {
	p, err := b.opts.Device.AllocPinned(n)
	if err != nil {
		return nil, nil, err
	}
	return p.Floats(), p.Free, nil
}

func (b gpuBackend) Layer(name string, s graph.Spec, inputGrad bool, rng *rand.Rand, opt optim.Config) (Layer, error) {
	return gpu.NewDense(name, s, inputGrad, rng, opt, b.opts)
}

func (b gpuBackend) Output(name string, in, classes int, inputGrad bool, rng *rand.Rand, opt optim.Config) (OutputLayer, error) {
	return gpu.NewOutput(name, in, classes, inputGrad, rng, opt, b.opts)
}

func (b gpuBackend) Synthesizer(name string, c synth.Config, rng *rand.Rand, opt optim.Config) (Synthesizer, error) {
	return gpu.NewSynthesizer(name, c, rng, opt, b.opts)
}
