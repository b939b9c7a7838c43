//go:build !race

// The race detector makes sync.Pool drop items on purpose, so that the
// allocation count of the example below means nothing under it.

package fused_test

import (
	"fmt"
	"log"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/graph"
	"github.com/dnitrain/dnitrain/optim"
)

// A hidden layer's training step on the fused kernels: the forward pass,
// the backward pass from an upstream gradient (here a stand-in for a
// synthetic gradient ĝ), and the update. The buffers are allocated on the
// first call for a batch size and kept, so later steps allocate nothing.
func ExampleDense() {
	rng := rand.New(rand.NewPCG(1, 2))
	spec := graph.Spec{In: 784, Out: 256, Act: graph.ReLU, BatchNorm: true}
	layer, err := fused.NewDense("layer0", spec, false, rng, optim.DefaultAdam(3e-4), fused.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(64, 784), tensor.Of(tensor.Float32))
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(rng.NormFloat64())
	}
	gHat := tensor.New(tensor.WithShape(64, 256), tensor.Of(tensor.Float32))
	for i := range gHat.Float32s() {
		gHat.Float32s()[i] = float32(rng.NormFloat64()) * 1e-3
	}
	step := func() {
		if _, err := layer.Forward(x, true); err != nil {
			log.Fatal(err)
		}
		if _, err := layer.Backward(gHat); err != nil {
			log.Fatal(err)
		}
		if err := layer.Update(); err != nil {
			log.Fatal(err)
		}
	}
	step()
	fmt.Println("allocations per step:", testing.AllocsPerRun(10, step))
	// Output: allocations per step: 0
}
