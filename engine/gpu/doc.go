// Package gpu runs the layers and synthesizers of a decoupled network on a
// CUDA device, on the kernels of package kernels/cuda. It computes what
// package fused computes on the CPU, from the same parameters
// (graph.Affine) initialised the same way; its tests, which need a GPU,
// hold the two together within TF32 tolerances.
//
// Every module owns a stream: its kernels run in order there, and the
// modules' streams overlap one another. A call waits only for what it
// downloads (an output, δ, a loss) and the module's work queued before it:
// a layer's weight gradient and update, and a synthesizer's backward pass
// and update, are queued after the call's downloads and run while the next
// modules compute on their own streams. Parameters, gradients, batch-norm
// statistics and optimizer state live on the device; their host tensors
// (what checkpoints read and write) are a mirror that SyncHost and
// SyncDevice bring up to date. The engine hands host tensors from module
// to module: every output is downloaded to a host copy, but a module given
// another's host copy takes the output on the device instead (Handoff).
// Late calls (Dense.ForwardLate and BackwardLate, Synthesizer.LearnLate)
// return before the device has computed their results, with the function
// that waits for them; the modules handed those results wait for them on
// the device.
//
// Without the gpu build tag the package holds only the interval arithmetic
// of its timeline and the layout of a module's parameters in its buffers,
// which are tested on every machine.
package gpu
