package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorgonia.org/tensor"
)

// A finisher computes only in a place of its cores: while the worker holds
// the only one, a job waits; it runs when the worker waits for it.
func TestFinisherKeepsToItsCores(t *testing.T) {
	n, err := NewNetwork(smallConfig(CDNI))
	if err != nil {
		t.Fatal(err)
	}
	c := make(cores, 1)
	c.acquire() // the worker computes
	f := startFinisher(n, c)
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
}

// failingFinish is a layer whose deferred weight gradient fails at its
// failAt-th backward pass.
type failingFinish struct {
	Layer
	calls, failAt int
}

func (l *failingFinish) BackwardDeferred(g *tensor.Dense) (*tensor.Dense, func() error, error) {
	dx, finish, err := l.Layer.(deferredBackward).BackwardDeferred(g)
	if l.calls++; l.calls == l.failAt {
		finish = func() error { return errors.New("injected fault") }
	}
	return dx, finish, err
}

// An error in a finisher's job stops the run and is reported; no
// goroutine is left behind.
func TestAsyncFinisherFailureStopsTheRun(t *testing.T) {
	before := settle()
	cfg := asyncConfig(CDNI, 4, 2)
	tr := newTrainer(t, cfg, toySet("train", 400, 1))
	tr.net.hidden[1] = &failingFinish{Layer: tr.net.hidden[1], failAt: 5}
	_, err := tr.RunEpoch(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("error %v, want the injected fault", err)
	}
	if after := settle(); after > before {
		t.Errorf("%d goroutines before the run, %d after", before, after)
	}
}
