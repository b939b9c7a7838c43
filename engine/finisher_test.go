package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/internal/moduletest"
	"github.com/dnitrain/dnitrain/internal/tensortest"
)

// A finisher computes only in a place of its cores: while the worker holds
// the only one, a job waits; it runs when the worker waits for it.
func TestFinisherKeepsToItsCores(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Threads = 1 // one place
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.cores.Acquire() // the worker computes
	f := startFinisher(n, false)
	var ran atomic.Bool
	f.start(modelSlot(0), 0, func() error { ran.Store(true); return nil })
	time.Sleep(20 * time.Millisecond)
	if ran.Load() {
		t.Fatal("the job ran while the worker held the only place")
	}
	if err := f.wait(modelSlot(0)); err != nil || !ran.Load() {
		t.Fatalf("wait: %v, ran %v", err, ran.Load())
	}
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	n.cores.Release(1)
}

// With a place free, start takes it for the finisher's job at once, and
// every place taken comes back.
func TestFinisherReservesAPlace(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Threads = 2 // two places
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.cores.Acquire() // the loop computes
	f := startFinisher(n, false)
	release := make(chan struct{})
	f.start(modelSlot(0), 0, func() error { <-release; return nil })
	if got := n.cores.TryAcquire(1); got != 0 {
		t.Fatal("the free place was not taken for the job")
	}
	var ran atomic.Bool
	f.start(layerSlot(0), 0, func() error { ran.Store(true); return nil })
	close(release)
	for _, slot := range []int{modelSlot(0), layerSlot(0)} {
		if err := f.wait(slot); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.stop(); err != nil || !ran.Load() {
		t.Fatalf("stop: %v, second job ran %v", err, ran.Load())
	}
	if got := n.cores.TryAcquire(2); got != 1 {
		t.Fatalf("%d places free after the jobs, want 1", got)
	}
}

// A spare finisher takes work only while it is idle and a place is free,
// which it holds for that work; otherwise the worker does the work itself.
func TestSpareFinisherTakesOnlyAFreePlace(t *testing.T) {
	cfg := smallConfig(CDNI)
	cfg.Threads = 2 // two places
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.cores.Acquire() // the worker computes
	f := startFinisher(n, true)
	n.cores.Acquire() // so does another worker
	if f.takes() {
		t.Fatal("took work with no place free")
	}
	n.cores.Release(1) // the other worker waits
	if !f.takes() {
		t.Fatal("took no work with a place free")
	}
	f.unreserve()
	if !f.takes() {
		t.Fatal("unreserve kept the place")
	}
	release := make(chan struct{})
	f.start(modelSlot(0), 0, func() error { <-release; return nil })
	if got := n.cores.TryAcquire(1); got != 0 {
		t.Fatal("the job's place was free while it ran")
	}
	n.cores.Release(1) // as if the worker waited, leaving its place free
	if f.takes() {
		t.Fatal("took work while busy with a job")
	}
	n.cores.Acquire()
	close(release)
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	if got := n.cores.TryAcquire(2); got != 1 {
		t.Fatalf("%d places free after the job, want 1", got)
	}
}

// failingBackward is a layer whose weight gradient fails at its failAt-th
// backward pass: the deferred one's finish (async workers, and the last
// hidden layer of the synchronous loop) or the whole pass (lower layers,
// which the synchronous loop leaves to its finisher).
type failingBackward struct {
	Layer
	calls, failAt int
}

var errInjected = errors.New("injected fault")

func (l *failingBackward) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	dx, err := l.Layer.Backward(g)
	if l.calls++; l.calls == l.failAt {
		err = errInjected
	}
	return dx, err
}

func (l *failingBackward) BackwardDeferred(g *tensor.Dense) (*tensor.Dense, func() error, error) {
	dx, finish, err := l.Layer.(deferredBackward).BackwardDeferred(g)
	if l.calls++; l.calls == l.failAt {
		finish = func() error { return errInjected }
	}
	return dx, finish, err
}

// An error in a finisher's job stops the run and is reported; no
// goroutine is left behind.
func TestFinisherFailureStopsTheRun(t *testing.T) {
	for _, tc := range []struct {
		exec    string
		overlap bool // the synchronous loop's overlapped step
	}{{ExecSync, false}, {ExecSync, true}, {ExecAsync, false}} {
		before := settle()
		cfg := asyncConfig(CDNI, 4, 2)
		cfg.Exec, cfg.Threads = tc.exec, 2
		tr := newTrainer(t, cfg, toySet("train", 400, 1))
		tr.net.overlap = tc.overlap
		tr.net.hidden[1] = &failingBackward{Layer: tr.net.hidden[1], failAt: 5}
		_, err := tr.RunEpoch(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "step 4: injected fault") {
			t.Fatalf("%s (overlapped %v): error %v, want the injected fault at step 4, the layer's fifth", tc.exec, tc.overlap, err)
		}
		if after := settle(); after > before {
			t.Errorf("%s (overlapped %v): %d goroutines before the run, %d after", tc.exec, tc.overlap, before, after)
		}
	}
}

// countingBackward is a layer that counts its whole and deferred backward
// passes.
type countingBackward struct {
	Layer
	whole, deferred int
}

func (l *countingBackward) Backward(g *tensor.Dense) (*tensor.Dense, error) {
	l.whole++
	return l.Layer.Backward(g)
}

func (l *countingBackward) BackwardDeferred(g *tensor.Dense) (*tensor.Dense, func() error, error) {
	l.deferred++
	return l.Layer.(deferredBackward).BackwardDeferred(g)
}

// The overlapped step runs the lower layers' whole backward passes (on the
// finisher) and defers the last hidden layer's weight gradient; the plain
// finisher defers every layer's.
func TestOverlappedStepTakesTheLowerLayers(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		cfg := asyncConfig(DNI, 4, 1)
		cfg.Exec, cfg.Threads = ExecSync, 2
		tr := newTrainer(t, cfg, toySet("train", 100, 1))
		tr.net.overlap = overlap
		var layers []*countingBackward
		for i, l := range tr.net.hidden {
			c := &countingBackward{Layer: l}
			tr.net.hidden[i], layers = c, append(layers, c)
		}
		stats, err := tr.RunEpoch(context.Background(), nil)
		if err != nil || stats.Steps == 0 {
			t.Fatalf("%d steps, error %v", stats.Steps, err)
		}
		last := len(layers) - 1
		for i, c := range layers {
			whole, deferred := 0, stats.Steps
			if overlap && i < last {
				whole, deferred = stats.Steps, 0
			}
			if c.whole != whole || c.deferred != deferred {
				t.Errorf("overlapped %v, layer %d: %d whole and %d deferred backward passes in %d steps, want %d and %d",
					overlap, i, c.whole, c.deferred, stats.Steps, whole, deferred)
			}
		}
	}
}

// A layer that leaves its δ product apart gives, once the product is
// computed, the δ of the layer that computes it at once, and the same
// parameters after its update: with the update done at once and with it
// left to a finisher, and with δ computed after the update. The
// synthesizers give a fixed random ĝ (a new one's last layer starts at
// zero, and so would ĝ, the updates and δ).
func TestLayerStepApart(t *testing.T) {
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprint("finisher=", finish), func(t *testing.T) {
			cfg := smallConfig(CDNI)
			cfg.Threads = 2 // a place for the finisher
			var nets [2]*Network
			var fins [2]*finisher
			for k := range nets {
				n, err := NewNetwork(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer n.Close()
				n.cores.Acquire() // the loop computes
				defer n.cores.Release(1)
				for i := range n.models { // the same random ĝ in both networks
					n.models[i] = &fixedGradient{tensortest.Normal(rand.New(rand.NewPCG(5, uint64(i))), tensor.Float32, 16, cfg.Hidden)}
				}
				if finish {
					fins[k] = startFinisher(n, false)
				}
				nets[k] = n
			}
			rng := rand.New(rand.NewPCG(3, 4))
			var apart fused.InputGradient
			for step := range 3 {
				x := tensortest.Normal(rng, tensor.Float32, 16, cfg.Inputs)
				labels := tensortest.OneHot(rng, tensor.Float32, 16, cfg.Classes)
				var want *tensor.Dense
				for k, n := range nets {
					h, _, err := n.layerStep(fins[k], 0, step, x, labels, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					into := &apart
					if k == 0 {
						into = nil
					}
					_, delta, err := n.layerStep(fins[k], 1, step, h, labels, into, nil)
					if err != nil {
						t.Fatal(err)
					}
					if k == 0 {
						want = delta.Clone().(*tensor.Dense)
					} else if delta != nil {
						t.Fatalf("step %d: a δ returned with its product left apart", step)
					}
					for _, slot := range []int{layerSlot(0), layerSlot(1)} {
						if err := fins[k].wait(slot); err != nil {
							t.Fatal(err)
						}
					}
				}
				got, err := apart.Compute()
				if err != nil {
					t.Fatal(err)
				}
				moduletest.Checker{}.Close(t, fmt.Sprint("step ", step, ": δ computed apart"), got, want) // exactly
				requireEqual(t, fmt.Sprint("step ", step, ": parameters"), state(nets[1]), state(nets[0]), 0)
			}
			for _, f := range fins {
				if f == nil {
					continue
				}
				if err := f.stop(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// fixedGradient is a gradient model that predicts the same ĝ for every
// batch and learns nothing.
type fixedGradient struct{ g *tensor.Dense }

func (f *fixedGradient) Predict(h, labels *tensor.Dense) (*tensor.Dense, error) { return f.g, nil }
func (f *fixedGradient) Learn(h, labels, target *tensor.Dense) (float64, error) { return 0, nil }
func (f *fixedGradient) Update() error                                          { return nil }
