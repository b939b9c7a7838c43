package engine

import (
	"errors"
	"sync"
	"testing"
	"unsafe"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/kernels"
)

// countingMemory is the CPU backend with host memory of its own (see
// hostMemory): it records the floats it hands out and counts the frees,
// and refuses every allocation after the first grant ones (grant < 0: no
// limit).
type countingMemory struct {
	cpuBackend
	grant int

	mu            sync.Mutex
	allocs, frees int
	owned         map[*float32]bool
}

func (m *countingMemory) HostFloats(n int) ([]float32, func() error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grant >= 0 && m.allocs >= m.grant {
		return nil, nil, errors.New("out of host memory")
	}
	m.allocs++
	f := make([]float32, n)
	m.owned[unsafe.SliceData(f)] = true
	freed := false
	return f, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if freed {
			return errors.New("freed twice")
		}
		freed = true
		m.frees++
		return nil
	}, nil
}

// live returns the number of allocations not freed.
func (m *countingMemory) live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allocs - m.frees
}

// from reports whether the tensor's floats are the backend's.
func (m *countingMemory) from(x []float32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owned[unsafe.SliceData(x)]
}

// A backend with host memory of its own gets the batches of training,
// evaluation and the async workers' messages, once per batch size (an
// async epoch's messages are handed out again in the next), and gets them
// back at Close; training is the same bit for bit, and goes on in Go's
// heap when that memory runs out.
func TestBatchesInBackendMemory(t *testing.T) {
	train, test := toySet("train", 100, 1), toySet("test", 50, 2)
	for _, tc := range []struct {
		name  string
		cfg   Config
		grant int
	}{
		{"sync", smallConfig(CDNI), -1},
		{"sync, memory running out", smallConfig(CDNI), 3},
		{"async", asyncConfig(CDNI, 3, 2), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Epochs = 2
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cores := kernels.NewCores(cfg.places())
			b, err := newBackend(CPU, fused.Options{Threads: cfg.Threads, Cores: cores})
			if err != nil {
				t.Fatal(err)
			}
			mem := &countingMemory{cpuBackend: b.(cpuBackend), grant: tc.grant, owned: map[*float32]bool{}}
			net, err := newNetwork(cfg, mem, cores)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(net, train)
			if err != nil {
				t.Fatal(err)
			}
			stats, err := tr.RunEpoch(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			live := mem.live()
			if _, err := tr.RunEpoch(t.Context(), nil); err != nil || mem.live() != live {
				t.Errorf("a second epoch: %v; %d allocations live after it, %d after the first", err, mem.live(), live)
			}
			ev, err := tr.Evaluate(test)
			if err != nil {
				t.Fatal(err)
			}
			allocs := mem.allocs
			if _, err := tr.Evaluate(test); err != nil || mem.allocs != allocs {
				t.Errorf("a second evaluation: %v, %d allocations after %d", err, mem.allocs, allocs)
			}
			// Sets of other sizes, no larger than the evaluation batch, take
			// rows of its buffers.
			for _, n := range []int{cfg.EvalBatch - 1, 7, 3} {
				if _, err := tr.Evaluate(toySet("test", n, 3)); err != nil || mem.allocs != allocs {
					t.Errorf("evaluation of %d samples: %v, %d allocations after %d", n, err, mem.allocs, allocs)
				}
			}
			if tc.grant < 0 && cfg.Exec == ExecSync && !mem.from(tr.batches[0][cfg.Batch].x.Float32s()) {
				t.Error("the training batch is not in the backend's memory")
			}
			if tc.grant >= 0 && allocs != tc.grant {
				t.Errorf("%d allocations granted, want %d", allocs, tc.grant)
			}
			if allocs == 0 {
				t.Error("nothing allocated in the backend's memory")
			}
			if err := net.Close(); err != nil || mem.frees != mem.allocs {
				t.Errorf("close: %v; %d of %d allocations freed", err, mem.frees, mem.allocs)
			}
			if cfg.Exec != ExecSync {
				return
			}
			plain := newTrainer(t, cfg, train)
			want, err := plain.RunEpoch(t.Context(), nil)
			if err == nil {
				_, err = plain.RunEpoch(t.Context(), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantEv, err := plain.Evaluate(test)
			if err != nil {
				t.Fatal(err)
			}
			if stats.TrainLoss != want.TrainLoss || stats.SGLoss != want.SGLoss || ev != wantEv {
				t.Errorf("losses %v, %v, evaluation %+v; in Go's heap %v, %v, %+v", stats.TrainLoss, stats.SGLoss, ev, want.TrainLoss, want.SGLoss, wantEv)
			}
		})
	}
}
